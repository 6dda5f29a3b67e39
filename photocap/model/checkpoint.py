"""Model files: safetensors tensors + JSON metadata (config, vocabulary, encoder, data, metrics). No pickle."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from photocap import __version__
from photocap.errors import ModelError
from photocap.model.decoder import AttentionDecoder, DecoderConfig
from photocap.model.encoders import Encoder, get_spec
from photocap.model.grounded import GROUNDED, build_decoder
from photocap.model.vocab import Vocabulary
from photocap.paths import new_file

FORMAT = "photocap-model"
FORMAT_VERSION = 2  # 2: a grounded decoder (plain models are still written as version 1)
IMAGENET_1K = "imagenet-1k"  # the encoder's classifier head is ImageNet-1k's: it can label photos


@dataclass
class ModelInfo:
    """Everything about a model that is not a tensor; stored as JSON in the file header."""

    name: str
    encoder: str
    decoder: DecoderConfig
    vocabulary: Vocabulary
    data_square: int | None = 224  # side photos are squashed to before the encoder's own size
    training: dict = field(default_factory=dict)  # recipe, data, epochs, …
    metrics: dict = field(default_factory=dict)  # e.g. {"flickr8k_test": {"BLEU-4": …}}
    classifier: str | None = IMAGENET_1K  # what the encoder's head classifies; None: no labels

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "encoder": self.encoder,
                "decoder": self.decoder.to_dict(),
                "vocabulary": list(self.vocabulary.words),
                "data_square": self.data_square,
                "training": self.training,
                "metrics": self.metrics,
                "classifier": self.classifier,
                "photocap_version": __version__,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        raw = json.loads(text)
        return cls(
            name=raw["name"],
            encoder=raw["encoder"],
            decoder=DecoderConfig(**raw["decoder"]),
            vocabulary=Vocabulary(tuple(raw["vocabulary"])),
            data_square=raw.get("data_square"),
            training=raw.get("training", {}),
            metrics=raw.get("metrics", {}),
            classifier=raw["classifier"] if "classifier" in raw else _older_classifier(raw),
        )


def _older_classifier(raw: dict) -> str | None:
    """Files from before `classifier` was recorded: photocap's recipes and `photocap train` always
    start from an ImageNet encoder and keep its head; a file without a recipe may not have one."""
    training = raw.get("training")
    return IMAGENET_1K if isinstance(training, dict) and training.get("recipe") else None


@dataclass
class LoadedModel:
    info: ModelInfo
    encoder: Encoder
    decoder: AttentionDecoder
    model_id: str  # name + short content hash: tells two files of the same name apart


def save_model(
    path: str | Path,
    info: ModelInfo,
    encoder: Encoder,
    decoder: AttentionDecoder,
    half: bool = True,
) -> Path:
    """Write a model file atomically; floating tensors stored as float16 when `half`."""
    tensors = {}
    for prefix, module in (("encoder.", encoder.backbone), ("decoder.", decoder)):
        for name, tensor in module.state_dict().items():
            t = tensor.detach().cpu()
            if half and t.is_floating_point():
                t = t.half()
            tensors[prefix + name] = t.contiguous()
    version = FORMAT_VERSION if info.decoder.kind == GROUNDED else 1  # older photocaps read 1
    metadata = {"format": FORMAT, "format_version": str(version), "info": info.to_json()}
    path = Path(path)
    with new_file(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path


def _read_header(path: Path) -> dict[str, str]:
    with open(path, "rb") as f:
        head = f.read(9)  # safetensors: the header's length (8 bytes), then its JSON, "{" first
        safetensors = len(head) == 9 and head[8:] == b"{"
        if not safetensors and (head[:2] == b"PK" or head[:1] == b"\x80"):  # zip or pickle
            raise ModelError(
                "this is a pickle-based PyTorch file; photocap only loads .safetensors model files",
                path=path,
                hint="pickle files can run code when loaded; convert it with the tool that made it",
            )
        if len(head) < 9:
            raise ModelError("not a photocap model file (too short)", path=path)
        size = int.from_bytes(head[:8], "little")
        if not 2 <= size <= 100_000_000:
            raise ModelError("not a photocap model file (bad header)", path=path)
        try:
            header = json.loads(head[8:] + f.read(size - 1))
        except (ValueError, UnicodeDecodeError):
            raise ModelError("not a photocap model file (unreadable header)", path=path) from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not metadata or metadata.get("format") != FORMAT:
        raise ModelError("not a photocap model file (no photocap metadata)", path=path)
    if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError("model file made by a newer photocap", path=path, hint="upgrade photocap")
    return metadata


def read_info(path: str | Path) -> ModelInfo:
    """The metadata of a model file, without loading its tensors."""
    path = Path(path)
    try:
        return ModelInfo.from_json(_read_header(path)["info"])
    except FileNotFoundError:
        raise ModelError("model file not found", path=path) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model file has broken metadata ({exc})", path=path) from None


_HEAD_TENSORS = {"classifier.weight", "classifier.bias", "fc.weight", "fc.bias"}


def load_model(path: str | Path) -> LoadedModel:
    """Load a model file on the CPU in float32. Raises ModelError for any bad file."""
    path = Path(path)
    info = read_info(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"model file is corrupt ({exc})", path=path) from None
    encoder = Encoder(get_spec(info.encoder))
    try:
        decoder = build_decoder(info.decoder)
    except ValueError as exc:
        raise ModelError(f"model file has broken metadata ({exc})", path=path) from None
    for prefix, module in (("encoder.", encoder.backbone), ("decoder.", decoder)):
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        expected = module.state_dict()
        for name, want in expected.items():
            got = state.get(name)
            if got is None and prefix == "encoder." and name in _HEAD_TENSORS:
                state[name], info.classifier = want, None  # a file without the head: no labels
                continue
            if got is None or got.shape != want.shape:
                raise ModelError(f"model file is corrupt (tensor {prefix}{name})", path=path)
            state[name] = got.to(want.dtype)
        module.load_state_dict(state, strict=True)
    return LoadedModel(info, encoder.eval(), decoder.eval(), model_id_of(info, path.read_bytes()))


def model_id_of(info: ModelInfo, data: bytes) -> str:
    """A model's id: its name and a short hash of its file's bytes `data`."""
    return f"{info.name}@{hashlib.sha256(data).hexdigest()[:10]}"
