"""The train loop's checkpoints: the state a resume restores besides tensors (TrainState and its
EpochRecord history), `last.safetensors` (weights, optimizer, RNG, the unfinished epoch's batch
order: an exact resume) and `best.safetensors` (the best epoch's weights: decoder tensors under
their own names, a trained encoder's under `encoder.`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    val_bleu4: float
    val_cider: float
    lr: float
    seconds: float
    val_loss: float | None = None  # teacher-forced cross-entropy on the validation captions


@dataclass
class TrainState:
    """What `resume` restores besides tensors."""

    epoch: int = 0  # epochs finished
    best_cider: float = -1.0
    best_epoch: int = 0
    since_best: int = 0
    best_val_loss: float = 1e9
    history: list[EpochRecord] = field(default_factory=list)
    step: int = 0  # steps done in the unfinished epoch (an interrupted run), else 0
    epoch_loss: float = 0.0  # summed loss of those steps
    epoch_seconds: float = 0.0  # time spent on them


def model_tensors(decoder: nn.Module, encoder: nn.Module | None) -> dict[str, torch.Tensor]:
    """Decoder tensors under their own names, the encoder's (when trained) under `encoder.`."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in decoder.state_dict().items()}
    if encoder is not None:
        tensors |= {
            f"encoder.{k}": v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()
        }
    return tensors


def load_model_tensors(
    tensors: dict[str, torch.Tensor], decoder: nn.Module, encoder: nn.Module | None
) -> None:
    """Puts tensors as `model_tensors` names them back into `decoder` (and `encoder`)."""
    decoder.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("encoder.")})
    if encoder is not None:
        encoder.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("encoder.")})


def save_resume(
    path: Path,
    decoder,
    optimizer,
    generator,
    state: TrainState,
    config,
    encoder: nn.Module | None = None,
    order: list[int] | None = None,
) -> None:
    """Writes everything an exact resume needs to `path` (atomically); `order`: the unfinished
    epoch's caption order, when the run stops inside an epoch."""
    tensors = {f"decoder.{k}": v for k, v in model_tensors(decoder, encoder).items()}
    for idx, s in optimizer.state_dict()["state"].items():
        for name, value in s.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    if order is not None:
        tensors["order"] = torch.tensor(order, dtype=torch.long)  # the unfinished epoch's batches
    meta = {
        "state": json.dumps({**asdict(state), "history": [asdict(h) for h in state.history]}),
        "config": json.dumps(asdict(config)),
        "param_groups": json.dumps(optimizer.state_dict()["param_groups"]),
    }
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def load_resume(
    path: Path, decoder, optimizer, generator, encoder: nn.Module | None = None
) -> tuple[TrainState, list[int] | None]:
    """Restores what `save_resume` wrote into the models, optimizer and RNGs; returns the state
    and the unfinished epoch's caption order (None: the run stopped between epochs)."""
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    weights = {k[8:]: v for k, v in tensors.items() if k.startswith("decoder.")}
    load_model_tensors(weights, decoder, encoder)
    device = next(decoder.parameters()).device
    optim_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            optim_state.setdefault(int(idx), {})[name] = (
                value if name == "step" else value.to(device)
            )
    optimizer.load_state_dict(
        {"state": optim_state, "param_groups": json.loads(meta["param_groups"])}
    )
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.shuffle"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    raw = json.loads(meta["state"])
    raw["history"] = [EpochRecord(**h) for h in raw["history"]]
    order = tensors["order"].tolist() if "order" in tensors else None
    return TrainState(**raw), order


def read_resume_state(work_dir: Path) -> TrainState | None:
    """The state saved in `work_dir/last.safetensors` (header only), or None when there is none."""
    from safetensors import safe_open

    last = work_dir / "last.safetensors"
    if not last.exists():
        return None
    with safe_open(str(last), "pt") as f:
        raw = json.loads(f.metadata()["state"])
    raw["history"] = [EpochRecord(**h) for h in raw["history"]]
    return TrainState(**raw)


def save_best(path: Path, decoder: nn.Module, encoder: nn.Module | None) -> None:
    """Writes the weights of the best epoch so far."""
    save_file(model_tensors(decoder, encoder), str(path))


def load_best(path: Path, decoder: nn.Module, encoder: nn.Module | None) -> None:
    """Puts the best epoch's weights back into `decoder` (and `encoder`), on the decoder's device."""
    device = next(decoder.parameters()).device
    load_model_tensors(load_file(str(path), device=str(device)), decoder, encoder)
