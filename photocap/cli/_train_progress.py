"""`photocap train`'s progress on stderr: the epoch table, rich bars on a terminal (plain lines
elsewhere), and Ctrl-C that saves and stops."""

from __future__ import annotations

import signal
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from photocap.training.finetune import TrainEvents

TABLE_HEADER = (
    f"{'epoch':>5}  {'loss':>7}  {'val BLEU-4':>10}  {'val CIDEr':>9}  {'val loss':>8}  "
    f"{'lr':>8}  {'time':>6}"
)
PLAIN_PROGRESS_EVERY = 60.0  # seconds between progress lines when stderr is not a terminal


def _row(record, best: bool, base: bool = False) -> str:
    loss = "-" if base else f"{record.loss:.3f}"
    lr = "-" if base else f"{record.lr:.2e}"
    seconds = "-" if base else f"{record.seconds:.0f}s"
    mark = "  (base model)" if base else ("  *" if best else "")
    val_loss = "-" if record.val_loss is None else f"{record.val_loss:.3f}"
    return (
        f"{record.epoch:>5}  {loss:>7}  {record.val_bleu4:>10.4f}  {record.val_cider:>9.4f}  "
        f"{val_loss:>8}  {lr:>8}  {seconds:>6}{mark}"
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class StopOnCtrlC:
    """First Ctrl-C asks the run to save and stop after the current step; a second one aborts."""

    def __init__(self, say):
        self.requested = False
        self.say = say
        self.previous = None

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.say("Ctrl-C: saving and stopping after this step (press again to abort at once)")


class TrainProgress(TrainEvents):
    """TrainEvents drawing rich progress bars on a terminal, plain lines elsewhere (all on stderr)."""

    def __init__(self, stop: StopOnCtrlC, quiet: bool):
        self.console = Console(stderr=True, highlight=False)
        self.quiet, self.stop = quiet, stop
        live = self.console.is_terminal and not quiet
        self.progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            if live
            else None
        )
        self.task = None
        self.table_started = False
        self.loss_sum, self.loss_steps, self.captions, self.t0 = 0.0, 0, 0, 0.0
        self.epoch, self.epochs, self.steps = 0, 0, 0
        self.run_t0, self.run_steps, self.last_line = None, 0, 0.0

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, markup=False, soft_wrap=True)

    def message(self, text: str) -> None:
        self.say(text)

    def _bar(self, description: str, total: int, done: int = 0) -> None:
        if self.progress is None:
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.progress.start()
        self.task = self.progress.add_task(description, total=total, completed=done, info="")

    def features(self, done: int, total: int) -> None:
        if self.progress is None:
            return
        if self.task is None:
            self._bar("features", total)
        self.progress.update(self.task, completed=done)
        if done >= total:
            self.progress.remove_task(self.task)
            self.task = None

    def baseline(self, record) -> None:
        self.table(record, False, base=True)

    def plan(self, epochs: int, steps: int, captions: int, batch_size: int) -> None:
        passes = steps * batch_size / captions
        each = "one pass" if passes <= 1 else f"{passes:.1f} passes"
        self.say(
            f"training: up to {epochs} epochs of {steps} steps ({each} over {captions} "
            f"captions in batches of {batch_size}), validated after each"
        )

    def epoch_start(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        self.loss_sum, self.loss_steps, self.captions = 0.0, 0, 0
        self.t0 = time.monotonic()
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        if self.run_t0 is None:
            self.run_t0, self.last_line = self.t0, self.t0
        self._bar(f"epoch {epoch}/{epochs}", steps, done)

    def _run_eta(self, step: int) -> str:
        """Time left if every remaining epoch runs (early stopping may end sooner)."""
        elapsed = time.monotonic() - self.run_t0
        left = (self.epochs - self.epoch) * self.steps + self.steps - step
        return _duration(elapsed / max(self.run_steps, 1) * left)

    def step(self, step: int, steps: int, loss: float, captions: int) -> None:
        self.loss_sum += loss
        self.loss_steps += 1
        self.captions += captions
        self.run_steps += 1
        now = time.monotonic()
        rate = self.captions / max(now - self.t0, 1e-6)
        loss_text = f"loss {self.loss_sum / self.loss_steps:.3f}  {rate:.1f} captions/s"
        if self.progress is not None:
            info = f"{loss_text}  run eta {self._run_eta(step)}"
            self.progress.update(self.task, completed=step, info=info)
        elif now - self.last_line >= PLAIN_PROGRESS_EVERY and step < steps:
            self.last_line = now
            self.say(
                f"  epoch {self.epoch}/{self.epochs} step {step}/{steps}: {loss_text}, "
                f"epoch eta {_duration((now - self.t0) / self.loss_steps * (steps - step))}, "
                f"run eta at most {self._run_eta(step)}"
            )

    def epoch_end(self, record, best: bool) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.table(record, best)

    def table(self, record, best: bool, base: bool = False) -> None:
        if not self.table_started:
            self.say(TABLE_HEADER)
            self.table_started = True
        self.say(_row(record, best, base))

    def should_stop(self) -> bool:
        return self.stop.requested

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
