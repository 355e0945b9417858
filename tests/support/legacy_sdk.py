"""``browser-use-sdk`` 2.0.x in a directory of its own (installed once per machine).

The current 3.x client is installed in the virtual environment; 2.0.15 (the Fern-generated
client, and the one whose ``browser_use_sdk.lib.webhooks`` verifies webhook signatures) is
put on a subprocess's ``PYTHONPATH`` instead, so the two versions never meet in one interpreter.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

LEGACY_SDK_VERSION = "2.0.15"
LEGACY_SDK_DIR = Path(tempfile.gettempdir()) / f"browserfleet-browser-use-sdk-{LEGACY_SDK_VERSION}"


def legacy_sdk() -> Path:
    """The directory holding ``browser_use_sdk`` 2.0.15 (pip-installed there on first use)."""
    if (LEGACY_SDK_DIR / "browser_use_sdk").is_dir():
        return LEGACY_SDK_DIR
    partial = LEGACY_SDK_DIR.with_name(LEGACY_SDK_DIR.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    spec = f"browser-use-sdk=={LEGACY_SDK_VERSION}"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
         "--target", str(partial), spec],
        capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        if "No matching distribution" in proc.stderr or "Could not find a version" in proc.stderr:
            pytest.skip(f"the package registry has no {spec}: {proc.stderr.strip()[-300:]}")
        pytest.fail(f"pip could not install {spec}:\n{proc.stderr[-2000:]}")
    partial.rename(LEGACY_SDK_DIR)
    return LEGACY_SDK_DIR
