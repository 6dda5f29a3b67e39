"""How `photocap` exits: a command that loaded PyTorch skips the interpreter's teardown of it,
unless something is still at work; its output and exit code are whole either way.

Each case runs the real entry point (`photocap.cli.main`) in a subprocess with an atexit hook that
leaves a marker file: the ordinary exit runs it, the fast one does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ENTRY = """
import atexit, sys, threading, time
from pathlib import Path

marker = Path(sys.argv[1])
atexit.register(marker.write_text, "ordinary exit")
if sys.argv[2] == "busy":  # a thread still writing a second after the command's output
    printed, stdout = threading.Event(), sys.stdout

    class Tee:
        def write(self, text):
            printed.set()
            return stdout.write(text)

        def __getattr__(self, name):
            return getattr(stdout, name)

    def write_late():
        printed.wait()
        time.sleep(1.0)
        marker.with_name("thread-done").write_text("written")

    sys.stdout = Tee()
    threading.Thread(target=write_late).start()
sys.argv = ["photocap", *sys.argv[3:]]
from photocap.cli import main
main()
"""


def run_entry(tmp_path: Path, mode: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, str(tmp_path / "atexit-ran"), mode, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )


def test_a_captioning_command_exits_fast_with_all_its_output(tmp_path, tiny_model, real_photos):
    photos = sorted(real_photos.values())
    done = run_entry(tmp_path, "idle", "caption", "--model", tiny_model, "--json", *photos)

    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert [r["path"] for r in results] == [str(p) for p in photos]
    assert all(r["caption"] for r in results)
    assert not (tmp_path / "atexit-ran").exists()  # the teardown was skipped


def test_its_exit_code_survives_the_fast_exit(tmp_path, tiny_model, real_photos):
    missing = tmp_path / "gone.jpg"
    done = run_entry(
        tmp_path, "idle", "caption", "--model", tiny_model, real_photos["coffee"], missing
    )
    assert done.returncode == 1
    assert str(missing) in done.stderr
    assert done.stdout.count("\n") == 1  # the photo that exists is captioned all the same


def test_a_thread_still_writing_gets_the_ordinary_exit(tmp_path, tiny_model, real_photos):
    done = run_entry(tmp_path, "busy", "caption", "--model", tiny_model, real_photos["coffee"])

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "thread-done").read_text() == "written"
    assert (tmp_path / "atexit-ran").read_text() == "ordinary exit"


def test_a_command_without_torch_exits_the_ordinary_way(tmp_path):
    done = run_entry(tmp_path, "idle", "--version")
    assert done.returncode == 0 and "photocap" in done.stdout
    assert (tmp_path / "atexit-ran").read_text() == "ordinary exit"
