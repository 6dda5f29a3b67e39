"""Evidence for the objects a caption may name: how likely each object group is in the photo.

Two sources, both on the captioner's own encoder features (no second pass):
- **detectors**: one logistic regression per group (`photocap.model.objects`) on the mean of the
  feature grid, trained by `training/recipes/evidence.py` on Flickr8k `train` (a photo holds an
  object when ≥ 2 of its 5 references name it) plus the 1000 ImageNet sample photos (each holds
  its class's groups and, as far as one class tells, nothing else: the person-free photos
  Flickr8k lacks), then calibrated per group on Flickr8k `dev` (Platt scaling);
- **the ImageNet head**: a group's probability summed over the classes whose words name it (the
  120 dog breeds → dog), which knows everyday objects Flickr8k rarely shows.

A group's evidence is the larger of the two. Captions use it three ways: decoding steers away from
object words without evidence (`word_bias`), whose penalty lowers the caption's confidence, and a
photo whose sentence is held back may get a label line of the sure objects (`photocap.alt_text`).
The detectors ship in `weights/photocap-lite2-evidence.safetensors`, tied to the encoder's head.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from photocap.errors import ModelError
from photocap.model.objects import SCENE, object_table
from photocap.model.words import imagenet_classes

EVIDENCE_FORMAT = "photocap-evidence/1"


@dataclass(frozen=True)
class Steering:
    """How evidence shapes decoding: an object word whose group's evidence p is below `floor`
    costs `weight` · log(p / floor) in the beam's log-probability (0 at or above the floor); a
    scene word (water, grass, snow) `scene_weight` · log(p / floor)."""

    weight: float = 1.0
    floor: float = 0.3
    scene_weight: float = 0.0


def head_fingerprint(head: nn.Linear) -> str:
    """A short hash of an ImageNet head's weights: detectors fit the encoder that head belongs to."""
    digest = hashlib.sha256(head.weight.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


@functools.cache
def class_groups(groups: tuple[str, ...]) -> torch.Tensor:
    """(1000,) the index in `groups` of the group each ImageNet class's words name, -1 for none
    (the first of its words that names one whole: "tabby, tabby cat, cat, pet" → cat)."""
    table = object_table()
    position = {g: i for i, g in enumerate(groups)}
    out = []
    for cls in imagenet_classes():
        named = (table.named_by(word) for word in cls.words)
        out.append(next((position[g] for g in named if g in position), -1))
    return torch.tensor(out)


@functools.cache
def scene_groups(groups: tuple[str, ...]) -> torch.Tensor:
    """(groups,) whether each group is a scene (water, grass) rather than an object."""
    table = object_table()
    return torch.tensor([table.kind(g) == SCENE for g in groups])


class EvidenceDetectors(nn.Module):
    """Per-group logistic detectors on the mean encoder feature, with per-group calibration."""

    def __init__(self, groups: tuple[str, ...], dim: int):
        super().__init__()
        self.groups = groups
        g = len(groups)
        self.register_buffer("mean", torch.zeros(dim))  # feature standardisation
        self.register_buffer("scale", torch.ones(dim))
        self.linear = nn.Linear(dim, g)
        self.register_buffer("platt_a", torch.ones(g))  # calibrated logit = a · logit + b
        self.register_buffer("platt_b", torch.zeros(g))
        self.register_buffer("trained", torch.ones(g, dtype=torch.bool))  # False: too few photos

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """(batch, dim) mean features → (batch, groups) uncalibrated logits."""
        return self.linear((pooled.float() - self.mean) / self.scale)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """(batch, dim) mean features → (batch, groups) calibrated probabilities; 0 where a group
        has no detector."""
        calibrated = self.platt_a * self.logits(pooled) + self.platt_b  # (batch, groups)
        return torch.sigmoid(calibrated) * self.trained


@dataclass
class Evidence:
    """Loaded detectors plus the head's class → group map, ready to score photos."""

    detectors: EvidenceDetectors
    steering: Steering
    record: dict  # how the detectors were trained and measured
    # per model id, the confidence curve fitted on that model's steered captions (the score then
    # carries the steering's penalties, so the curve of unsteered captions does not fit it)
    confidence: dict[str, dict] = field(default_factory=dict)
    head: str = ""  # fingerprint of the encoder head the detectors were trained for

    @property
    def groups(self) -> tuple[str, ...]:
        return self.detectors.groups

    def to(self, device: torch.device) -> Evidence:
        self.detectors.to(device)
        return self

    @torch.inference_mode()
    def probabilities(self, features: torch.Tensor, class_probs: torch.Tensor) -> torch.Tensor:
        """(batch, groups): each group's evidence from features (batch, num_pixels, dim) and the
        ImageNet class probabilities (batch, 1000): the larger of detector and head."""
        detected = self.detectors(features.float().mean(dim=1))  # (batch, groups)
        mapping = class_groups(self.groups).to(class_probs.device)  # (1000,)
        named = mapping >= 0
        from_head = torch.zeros_like(detected)  # (batch, groups)
        from_head.index_add_(1, mapping[named], class_probs[:, named].float())
        return torch.maximum(detected, from_head.clamp(max=1.0))

    def checkable(self) -> torch.Tensor:
        """(groups,) whether anything can give evidence of a group: a trained detector or
        ImageNet classes that name it. Words of other groups are never steered."""
        covered = torch.zeros(len(self.groups), dtype=torch.bool)
        mapping = class_groups(self.groups)
        covered[mapping[mapping >= 0]] = True
        return covered | self.detectors.trained.cpu()

    def word_groups(self, words: tuple[str, ...]) -> torch.Tensor:
        """(vocab,) the group index each vocabulary word names, -1 for none or for a group
        nothing can give evidence of."""
        position = {g: i for i, g in enumerate(self.groups)}
        checkable = self.checkable().tolist()
        named = object_table().word_groups(words)
        ids = [position.get(named.get(w, ""), -1) for w in words]
        return torch.tensor([i if i >= 0 and checkable[i] else -1 for i in ids])

    def word_bias(self, evidence: torch.Tensor, word_groups: torch.Tensor) -> torch.Tensor:
        """(batch, vocab) additive log-probability bias: weight · log(p / floor) for object words
        whose group's evidence p (batch, groups) is under the floor, else 0."""
        s = self.steering
        ratio = (evidence / s.floor).clamp(min=1e-4, max=1.0)  # (batch, groups)
        scenes = scene_groups(self.groups).to(evidence.device)  # (groups,)
        weights = torch.where(scenes, s.scene_weight, s.weight)  # (groups,)
        penalty = weights * ratio.log()  # (batch, groups), ≤ 0
        named = word_groups >= 0  # (vocab,)
        bias = penalty.new_zeros(len(evidence), len(word_groups))  # (batch, vocab)
        bias[:, named] = penalty[:, word_groups[named]]
        return bias


def save_evidence(path: Path, evidence: Evidence) -> None:
    """Write detectors and settings as safetensors + JSON metadata (no pickle)."""
    meta = {
        "format": EVIDENCE_FORMAT,
        "groups": list(evidence.groups),
        "head": evidence.head,
        "steering": asdict(evidence.steering),
        "record": evidence.record,
        "confidence": evidence.confidence,
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in evidence.detectors.state_dict().items()}
    save_file(tensors, str(path), metadata={"photocap": json.dumps(meta)})


def load_evidence(path: Path, fingerprint: str | None = None) -> Evidence:
    """Read an evidence file; with `fingerprint`, refuse one made for another encoder head."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("photocap", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read the evidence file: {exc}", path=path) from exc
    if meta.get("format") != EVIDENCE_FORMAT:
        raise ModelError("not a photocap evidence file", path=path)
    if fingerprint is not None and meta.get("head") != fingerprint:
        raise ModelError("the evidence file was made for another encoder", path=path)
    groups = tuple(meta["groups"])
    detectors = EvidenceDetectors(groups, tensors["mean"].shape[0])
    detectors.load_state_dict(tensors)
    steering = Steering(**meta.get("steering", {}))
    record, curves, head = meta.get("record", {}), meta.get("confidence", {}), meta.get("head", "")
    return Evidence(detectors.eval(), steering, record, curves, head)
