"""A real PostgreSQL server for the tests: Debian's initdb and pg_ctl in a temporary folder.

The server listens on a Unix socket only (no TCP port to collide with), trusts local connections
and is stopped and removed when the test session ends. initdb and pg_ctl refuse to run as root, so
as root they run as the `postgres` user (in a folder that user owns). Tests that need the server
skip with the reason when the binaries are absent.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

_BIN_DIRS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/local/bin", "/usr/bin")


def find_bin_dir() -> Path | None:
    """The newest folder holding initdb, pg_ctl and postgres, or None."""
    candidates: list[str] = []
    for pattern in _BIN_DIRS:
        candidates += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    for folder in candidates:
        if all(
            os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")
        ):
            return Path(folder)
    return None


def _version_key(folder: str) -> tuple[int, ...]:
    parts = [p for p in Path(folder).parts if p.isdigit()]
    return tuple(int(p) for p in parts) or (0,)


class PostgresServer:
    """One running server; `new_database()` hands out a fresh, empty database's URL."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.as_user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="photocap-pg-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder
        self.log = self.folder / "server.log"
        self._counter = itertools.count(1)
        if self.as_user is not None:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        os.chmod(self.folder, 0o700)

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_user is not None:
            command = ["runuser", "-u", self.as_user, "--", *command]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if completed.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr}\n{log}")

    def start(self, settings: dict[str, str] | None = None) -> None:
        """initdb and start; `settings` are server settings beyond the defaults (shared_buffers=1GB)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c max_connections=60"
        options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def new_database(self) -> str:
        """Creates an empty database and returns its SQLAlchemy URL."""
        import psycopg

        name = f"photocap_test_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(host=str(self.socket_dir), user="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
