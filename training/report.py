"""What a training run leaves next to its model: `<model>.metrics.json` (a `TrainReport`) and a PNG
plot per epoch."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from photocap.training.checkpoints import EpochRecord

from photocap.paths import new_file


def metrics_paths(model_path: Path) -> tuple[Path, Path]:
    """`plants.safetensors` → `plants.metrics.json`, `plants.metrics.png`."""
    return model_path.with_suffix(".metrics.json"), model_path.with_suffix(".metrics.png")


def write_json(path: Path, payload: dict) -> Path:
    """Write JSON atomically (temp file in the same folder, then rename)."""
    with new_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False, indent=2)
    return path


def plot_history(
    path: Path, history: Sequence[EpochRecord], base: EpochRecord | None, best_epoch: int
) -> Path:
    """Training loss and validation BLEU-4 / CIDEr per epoch (epoch 0: the base model) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [r.epoch for r in history]
    scored = ([base] if base else []) + list(history)
    figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    loss_ax, score_ax = figure.subplots(1, 2)
    loss_ax.plot(epochs, [r.loss for r in history], marker="o", color="tab:red")
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="cross-entropy + attention reg.")
    for name, values, colour in (
        ("val CIDEr", [r.val_cider for r in scored], "tab:blue"),
        ("val BLEU-4", [r.val_bleu4 for r in scored], "tab:green"),
    ):
        score_ax.plot([r.epoch for r in scored], values, marker="o", label=name, color=colour)
    if best_epoch:
        score_ax.axvline(
            best_epoch, color="grey", linestyle="--", label=f"best (epoch {best_epoch})"
        )
    score_ax.set(title="validation", xlabel="epoch (0 = base model)", ylabel="score")
    score_ax.legend(loc="best", fontsize="small")
    for ax in (loss_ax, score_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def history_rows(history: Sequence[EpochRecord], base: EpochRecord | None) -> list[dict]:
    """Per-epoch rows for metrics.json; epoch 0 (the base model, not trained) has no loss."""
    rows = [asdict(r) for r in history]
    if base:
        rows.insert(0, {**asdict(base), "loss": None, "lr": None})
    return rows


@dataclass
class TrainReport:
    """Everything a run measured: `metrics.json` is its `to_dict()`, the CLI's `--json` and the
    model file's metadata are made from the same record."""

    model: str | None  # the file written, None when none was
    improved: bool  # better than the base by the judgement (always, from scratch)
    name: str
    base: str | None
    mode: str
    data: str
    train_images: int
    val_images: int
    train_captions: int
    skipped: list[dict]
    vocabulary: int
    words_added: list[str]
    config: dict
    epochs: list[dict]
    best_epoch: int
    best: dict  # the best epoch's validation BLEU-4 / CIDEr (quick, validation references only)
    base_best: dict | None  # the base's, epoch 0
    steps: int
    new_words_started_from: dict
    judgement: dict | None  # photocap.training.judge.Judgement.to_dict(); None from scratch
    confidence: dict  # the curve the model carries, `own` when fitted on its validation photos
    seconds: float

    @classmethod
    def of(cls, run, state, info, judgement, confidence, model, improved: bool, started: float):
        """The record of a finished run (`photocap.training.finetune_steps.Run`)."""
        return cls(
            model=str(model) if model else None,
            improved=improved,
            name=info.name,
            base=run.base_id,
            mode="scratch" if run.options.scratch else "fine-tune",
            data=str(run.options.data),
            train_images=len(run.train_set.keys),
            val_images=len(run.val_set.keys),
            train_captions=len(run.captions),
            skipped=[asdict(p) for p in run.skipped],
            vocabulary=len(run.vocab),
            words_added=run.words_added,
            config=run.config_dict(),
            epochs=history_rows(state.history, run.base_record),
            best_epoch=state.best_epoch,
            best=info.metrics["val_quick"],
            base_best=info.metrics.get("base_val_quick"),
            steps=state.epoch * run.steps,
            new_words_started_from=run.started_from,
            judgement=judgement.to_dict() if judgement else None,
            confidence={
                **confidence.curve.to_dict(),
                "own": confidence.own,
                "photos": confidence.photos,
            },
            seconds=round(time.monotonic() - started, 1),
        )

    def to_dict(self) -> dict:
        return asdict(self)
