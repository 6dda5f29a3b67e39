"""Load a model and caption batches of photos on a device; captions come out as alt text."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from photocap.errors import ModelError
from photocap.model.beam import DecodeOptions, beam_search
from photocap.model.checkpoint import LoadedModel, ModelInfo, load_model
from photocap.model.confidence import Calibration, calibration_for, confidence
from photocap.model.evidence import Evidence, head_fingerprint, load_evidence
from photocap.model.inference import Precision, fold_batchnorm, use_bf16
from photocap.model.labels import (
    Label,
    LabelOptions,
    class_logits,
    imagenet_head,
    top_class_probabilities,
    top_labels,
)
from photocap.model.objects import object_table
from photocap.model.transforms import to_tensor
from photocap.model.vocab import to_alt_text
from photocap.model.words import imagenet_classes
from photocap.paths import evidence_file, model_file


@dataclass(frozen=True)
class Caption:
    """A caption for one photo."""

    text: str  # alt-text sentence
    words: list[str]
    score: float  # mean log-probability per word (higher is more confident; ≤ 0)
    attention: torch.Tensor | None = None  # (num_words, grid_h, grid_w) when asked for
    confidence: float | None = None  # 0–1, calibrated from the score (photocap.model.confidence)
    objects: dict[str, float] | None = None  # evidence per object group (photocap.model.evidence)


@dataclass(frozen=True)
class Description:
    """A photo's caption and what the classifier sees in it, from one encoder pass."""

    caption: Caption
    labels: tuple[Label, ...]  # most probable first; empty for a model without an ImageNet head


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` → cuda, then mps, then cpu; an unavailable explicit choice raises ModelError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            "--device cuda asked for, but no CUDA GPU is available", hint="use --device cpu"
        )
    if name == "mps" and not (torch.backends.mps.is_available()):
        raise ModelError(
            "--device mps asked for, but MPS is not available", hint="use --device cpu"
        )
    if name not in ("cpu", "cuda", "mps"):
        raise ModelError(f"unknown device {name!r}", hint="use auto, cpu, cuda or mps")
    return torch.device(name)


CPU_ENCODE_BATCH = 4  # photos per encoder call on a CPU: small batches stay in the CPU's caches


class Captioner:
    """A loaded model on a device: photos in, alt-text captions out.

    The encoder runs under bf16 autocast where `precision` says so (`auto`: on CUDA and on CPUs
    with AMX); captions are decoded in float32 either way.
    """

    def __init__(self, model: LoadedModel, device: torch.device, precision: Precision = "auto"):
        self.info: ModelInfo = model.info
        self.model_id = model.model_id
        self.device = device
        self.spec = model.encoder.spec
        self.encoder = model.encoder.to(device).eval()
        self.decoder = model.decoder.to(device).eval()
        if device.type != "mps":
            self.encoder = self.encoder.to(memory_format=torch.channels_last)
        self.bf16 = use_bf16(device, precision)
        vocab = self.info.vocabulary
        self._banned = (vocab.pad, vocab.start, vocab.unk)
        self.head = imagenet_head(self.encoder, self.info)  # None: this model gives no labels
        self.calibration = calibration_for(self.info.metrics)  # score → confidence
        self.evidence = _evidence_for(self.head, device)  # None: no detectors for this encoder
        steered = self.evidence.confidence.get(self.model_id) if self.evidence else None
        self.steered_calibration = calibration_for({"confidence": steered}) if steered else None
        self._word_groups = (
            self.evidence.word_groups(vocab.words).to(device) if self.evidence else None
        )
        self._nouns = noun_mask(vocab.words).to(device)  # where a required word may go

    @property
    def min_side(self) -> int:
        """Smallest side a photo may be decoded at (draft mode) without losing model detail."""
        return self.info.data_square or self.spec.input_size

    @property
    def prepare(self) -> Callable[[Image.Image], torch.Tensor]:
        """Picklable photo → (3, S, S) tensor function, for DataLoader workers."""
        return functools.partial(to_tensor, spec=self.spec, via=self.info.data_square)

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(batch, 3, S, S) → (batch, num_pixels, encoder_dim) float32 features.

        On a CPU the batch goes through in slices of CPU_ENCODE_BATCH, which run faster per photo
        than one photo or sixteen at a time.
        """
        step = CPU_ENCODE_BATCH if self.device.type == "cpu" else len(images)
        parts = [self._encode(images[i : i + step]) for i in range(0, len(images), step)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)  # (batch, num_pixels, dim)

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        if self.device.type != "mps":
            images = images.contiguous(memory_format=torch.channels_last)
        if self.bf16:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return self.encoder(images).float()  # (batch, num_pixels, dim)
        return self.encoder(images)  # (batch, num_pixels, dim)

    @torch.inference_mode()
    def caption_features(
        self, features: torch.Tensor, options: DecodeOptions, attention: bool = False
    ) -> list[Caption]:
        """Decode encoder features (batch, num_pixels, encoder_dim) into captions."""
        vocab = self.info.vocabulary
        features = features.to(self.device)
        evidence = self.object_evidence(features)  # (batch, groups) or None
        bias = nouns = None
        if options.evidence:
            nouns = self._nouns
            if evidence is not None:
                assert self.evidence is not None and self._word_groups is not None
                bias = self.evidence.word_bias(evidence, self._word_groups)  # (batch, vocab)
        decoded = beam_search(
            self.decoder, features, options, self._banned, vocab.start, vocab.end, bias, nouns
        )
        side = int(features.shape[1] ** 0.5)
        calibration = self._calibration(steered=bias is not None)
        tops = self._top_label_probabilities(features, calibration)
        captions = []
        for i, (tokens, log_prob, alphas, top) in enumerate(
            zip(decoded.tokens, decoded.log_probs, decoded.alphas, tops, strict=True)
        ):
            words = vocab.decode(tokens)
            grid = alphas.view(len(tokens), side, side) if attention else None
            score = log_prob / (len(tokens) + 1)  # per emitted token, `<end>` included
            text = to_alt_text(words)
            sure = confidence(score, calibration, top)
            objects = self._objects(evidence[i]) if evidence is not None else None
            captions.append(Caption(text, words, score, grid, sure, objects))
        return captions

    def _calibration(self, steered: bool) -> Calibration:
        """The confidence curve for these captions: the one fitted on this model's steered
        captions when they are steered and the evidence file has one, else the model's own."""
        return (
            self.steered_calibration if steered and self.steered_calibration else self.calibration
        )

    def object_evidence(self, features: torch.Tensor) -> torch.Tensor | None:
        """(batch, groups) evidence of each object group from features (batch, num_pixels, dim);
        None for a model without detectors."""
        if self.evidence is None or self.head is None:
            return None
        with torch.inference_mode():
            probs = class_logits(self.head, features).float().softmax(dim=-1)  # (batch, 1000)
            return self.evidence.probabilities(features, probs)

    def _objects(self, evidence: torch.Tensor) -> dict[str, float]:
        """A photo's evidence (groups,) as {group: p} for the groups at least 5% likely."""
        assert self.evidence is not None
        return {
            g: round(p, 3)
            for g, p in zip(self.evidence.groups, evidence.tolist(), strict=True)
            if p >= 0.05
        }

    def _top_label_probabilities(
        self, features: torch.Tensor, calibration: Calibration
    ) -> list[float | None]:
        """Per photo, its top ImageNet class's probability where the confidence curve weighs it."""
        if self.head is None or not calibration.label_slope:
            return [None] * len(features)
        return top_class_probabilities(self.head, features.to(self.device)).tolist()

    @torch.inference_mode()
    def label_features(
        self, features: torch.Tensor, options: LabelOptions | None = None
    ) -> list[tuple[Label, ...]]:
        """Labels from encoder features (batch, num_pixels, encoder_dim): the encoder's ImageNet head
        on their mean, no second encoder pass. A model without that head gives none."""
        if self.head is None:
            return [() for _ in range(len(features))]
        logits = class_logits(self.head, features.to(self.device))  # (batch, 1000)
        return top_labels(logits, options or LabelOptions())

    def describe_tensors(
        self,
        images: torch.Tensor,
        options: DecodeOptions | None = None,
        labels: LabelOptions | None = None,
        attention: bool = False,
    ) -> list[Description]:
        """Caption and label a batch of prepared photos (batch, 3, S, S) with one encoder pass."""
        features = self.encode(images)  # (batch, num_pixels, dim)
        captions = self.caption_features(features, options or DecodeOptions(), attention)
        found = self.label_features(features, labels)
        return [Description(c, ls) for c, ls in zip(captions, found, strict=True)]

    def describe_images(
        self,
        images: Sequence[Image.Image],
        options: DecodeOptions | None = None,
        labels: LabelOptions | None = None,
        attention: bool = False,
    ) -> list[Description]:
        """Caption and label decoded photos (PIL images, orientation already applied)."""
        if not images:
            return []
        batch = torch.stack([self.prepare(image) for image in images])  # (batch, 3, S, S)
        return self.describe_tensors(batch, options, labels, attention)

    def caption_tensors(
        self, images: torch.Tensor, options: DecodeOptions | None = None, attention: bool = False
    ) -> list[Caption]:
        """Caption a batch of prepared photos (batch, 3, S, S)."""
        return self.caption_features(self.encode(images), options or DecodeOptions(), attention)

    def caption_images(
        self,
        images: Sequence[Image.Image],
        options: DecodeOptions | None = None,
        attention: bool = False,
    ) -> list[Caption]:
        """Caption decoded photos (PIL images, orientation already applied)."""
        if not images:
            return []
        batch = torch.stack([self.prepare(image) for image in images])  # (batch, 3, S, S)
        return self.caption_tensors(batch, options, attention)


# words of the tables that captions mostly use as adjectives ("an orange shirt", "a grassy field")
NOT_NOUNS = frozenset(
    [
        "orange",
        "grassy",
        "snowy",
        "sandy",
        "rocky",
        "wooded",
        "colored",
        "swimming",
        "tennis",
        "soccer",
    ]
)


def noun_mask(words: tuple[str, ...]) -> torch.Tensor:
    """(vocab,) True for the nouns of things: the object groups' words and the single words of
    the ImageNet word table ("dog", "grass", "shirt", "toaster")."""
    nouns = set(object_table().word_groups(words))
    nouns |= {w.lower() for c in imagenet_classes() for w in c.words if w.isalpha()}
    return torch.tensor([w in nouns - NOT_NOUNS for w in words])


def _evidence_for(head, device: torch.device) -> Evidence | None:
    """The shipped object detectors when they fit this encoder's head, else None."""
    path = evidence_file()
    if head is None or not path.exists():
        return None
    try:
        return load_evidence(path, head_fingerprint(head)).to(device)
    except ModelError:
        return None  # made for another encoder: this model decodes unsteered


def load_captioner(
    path: str | Path | None = None, device: str = "auto", precision: Precision = "auto"
) -> Captioner:
    """Load a model file (default: $PHOTOCAP_MODEL, the user's default, or the shipped model),
    ready for inference only (batch norm folded into the encoder's convolutions)."""
    model = load_model(model_file(path))
    fold_batchnorm(model.encoder.eval())
    return Captioner(model, resolve_device(device), precision)
