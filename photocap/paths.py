"""Where photocap keeps its data: XDG data dir, environment overrides, the shipped model file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from photocap.errors import ModelError

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_MODEL_NAME = "photocap-lite2-flickr8k.safetensors"
EVIDENCE_NAME = "photocap-lite2-evidence.safetensors"  # object detectors for the shipped encoder
NGRAMS_NAME = "flickr8k-ngrams.safetensors"  # n-gram document frequencies of Flickr8k's captions


def shipped_model_path() -> Path:
    """The model file shipped in `weights/` (installed as `photocap/weights`, or the source tree's)."""
    installed = PACKAGE_DIR / "weights" / SHIPPED_MODEL_NAME
    return installed if installed.exists() else PACKAGE_DIR.parent / "weights" / SHIPPED_MODEL_NAME


def evidence_file() -> Path:
    """The shipped object-evidence detectors (`photocap.model.evidence`), beside the model."""
    installed = PACKAGE_DIR / "weights" / EVIDENCE_NAME
    return installed if installed.exists() else PACKAGE_DIR.parent / "weights" / EVIDENCE_NAME


def ngram_frequencies_file() -> Path:
    """The shipped n-gram document frequencies (`photocap train` weighs content with them)."""
    installed = PACKAGE_DIR / "weights" / NGRAMS_NAME
    return installed if installed.exists() else PACKAGE_DIR.parent / "weights" / NGRAMS_NAME


def data_dir() -> Path:
    """photocap's data folder: `$PHOTOCAP_HOME`, else `$XDG_DATA_HOME/photocap`, else ~/.local/share."""
    if home := os.environ.get("PHOTOCAP_HOME"):
        return Path(home)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "photocap"


def default_db_url() -> str:
    """`$PHOTOCAP_DB` when set, else an SQLite file in the data folder."""
    if url := os.environ.get("PHOTOCAP_DB"):
        return url if "://" in url else f"sqlite:///{Path(url).expanduser().resolve()}"
    return f"sqlite:///{data_dir() / 'index.db'}"


def default_model_path() -> Path:
    """`$PHOTOCAP_MODEL`, else a model made default with `train --set-default`, else the shipped one."""
    if env := os.environ.get("PHOTOCAP_MODEL"):
        return Path(env).expanduser()
    user_default = data_dir() / "default-model.safetensors"
    if user_default.exists():
        return user_default
    return shipped_model_path()


def model_file(path: str | Path | None = None) -> Path:
    """The model file to load: `path`, else the default one; ModelError if it does not exist."""
    model_path = Path(path) if path else default_model_path()
    if not model_path.exists():
        raise ModelError(
            "model file not found",
            path=model_path,
            hint="reinstall photocap, or pass --model PATH / set PHOTOCAP_MODEL",
        )
    return model_path


@contextmanager
def new_file(path: Path) -> Iterator[str]:
    """A temporary name beside `path` to write to. When the block succeeds the file replaces
    `path` with an ordinary new file's permissions (mkstemp's are 0600); when it fails the file
    is removed and `path` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
