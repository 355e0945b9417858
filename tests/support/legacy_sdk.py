"""``browser-use-sdk`` 2.0.x in a directory of its own (see :mod:`tests.support.side_packages`).

The current 3.x client is installed in the virtual environment; 2.0.15 (the Fern-generated
client, and the one whose ``browser_use_sdk.lib.webhooks`` verifies webhook signatures) is
put on a subprocess's ``PYTHONPATH`` instead, so the two versions never meet in one interpreter.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.side_packages import side_package

LEGACY_SDK_VERSION = "2.0.15"  # the pin of requirements/side/browser-use-sdk-2.lock


def legacy_sdk() -> Path:
    """The directory holding ``browser_use_sdk`` 2.0.15 (installed there from its lock on first use)."""
    return side_package("browser-use-sdk-2", "browser_use_sdk", timeout_s=600)
