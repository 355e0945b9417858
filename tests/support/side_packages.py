"""Packages some tests run in a subprocess of their own, never in the virtual environment.

``browser-use-sdk`` 2.0.15 (the Fern-generated client, whose ``browser_use_sdk.lib.webhooks``
verifies webhook signatures) cannot share an interpreter with the 3.x client the venv holds, and
the open-source ``browser-use`` library (a CDP client of ``/browsers``) is too large to install
for every user. Each is installed, once per machine, into a directory put on a subprocess's
``PYTHONPATH``, from a committed lock with every hash checked (``requirements/side/*.lock``,
refreshed by ``make lock``), so every machine gets the same versions, as for the venv.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

LOCKS = Path(__file__).resolve().parents[2] / "requirements" / "side"


def side_package(name: str, module: str, timeout_s: float = 1200) -> Path:
    """The directory holding ``requirements/side/{name}.lock`` installed (``module`` importable there).

    The directory is named after the lock's hash: a changed lock installs afresh."""
    lock = LOCKS / f"{name}.lock"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"browserfleet-side-{name}-{digest}"
    if (target / module).is_dir():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
         "--require-hashes", "--no-deps", "--target", str(partial), "-r", str(lock)],
        capture_output=True, text=True, timeout=timeout_s,
    )
    if proc.returncode != 0:
        if "No matching distribution" in proc.stderr or "Could not find a version" in proc.stderr:
            pytest.skip(f"the package registry lacks a pin of {lock.name}: {proc.stderr.strip()[-300:]}")
        pytest.fail(f"pip could not install {lock.name}:\n{proc.stderr[-2000:]}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
