"""Random (version 4) UUID strings, built without ``uuid.UUID`` objects.

Why: ``str(uuid.uuid4())`` costs ~4 µs, and a created task needs three of them (its id,
its one-off session's id, its message's delivery tag): at 10,000 tasks/s that alone is
an eighth of a core. This builds the same 36-character form from 16 random bytes in ~1 µs.
"""

from __future__ import annotations

import os


def new_id() -> str:
    """A random UUID (RFC 4122 version 4, variant bits set) as ``xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx``."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
