"""Every log line of a worker process passes masking with every running task's secrets.

Errors that end up in logs carry what the browser or a library put in them (a URL with a
password in its query, an exception's arguments); no code path can be trusted to mask
each one. So the vaults of the tasks running in this process are registered here, and a
filter on the root logger's handlers masks every record (message and traceback) with all
of them before it is written.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from workers.secrets.vault import SecretVault

_vaults: weakref.WeakSet[SecretVault] = weakref.WeakSet()
_lock = threading.Lock()


@contextmanager
def registered(vault: SecretVault) -> Iterator[SecretVault]:
    """Mask log lines with ``vault`` while its task runs."""
    with _lock:
        _vaults.add(vault)
    try:
        yield vault
    finally:
        with _lock:
            _vaults.discard(vault)


def mask_all(text: str) -> str:
    """``text`` masked with the secrets of every task running in this process."""
    with _lock:
        vaults = list(_vaults)
    for vault in vaults:
        text = vault.mask(text)
    return text


class MaskingFilter(logging.Filter):
    """Rewrites a record whose text shows a running task's secret; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _vaults:
            return True
        message = record.getMessage()
        masked = mask_all(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = mask_all(text), None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (default: root) that lacks it."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
