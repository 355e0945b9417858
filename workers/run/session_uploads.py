"""The files uploaded to a task's session, as the agent's ``upload_file`` action reads them.

Names and types are read once when the task starts (they go into the prompt); bytes are
read from the store only when the action asks for a file, off the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from shared.upload_store import UploadStore


@dataclass
class SessionUploads:
    store: UploadStore
    session_id: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, store: UploadStore, session_id: str) -> SessionUploads:
        names = store.names("session", session_id)
        metas = {name: store.meta("session", session_id, name) or {} for name in names}
        return cls(store, session_id, metas)

    def names(self) -> list[str]:
        return sorted(self.files)

    async def read(self, name: str) -> tuple[bytes, str] | None:
        if name not in self.files:
            return None
        data = await asyncio.to_thread(self.store.read, "session", self.session_id, name)
        return (
            None
            if data is None
            else (data, str(self.files[name].get("contentType", "application/octet-stream")))
        )

    def prompt(self) -> str:
        """What the model is told: the files it may put into file inputs (``upload_file``)."""
        if not self.files:
            return ""
        lines = [
            f"{name} ({meta.get('contentType', '?')}, {meta.get('size', '?')} bytes)"
            for name, meta in sorted(self.files.items())
        ]
        return "\n<uploaded_files>\n" + "\n".join(lines) + "\n</uploaded_files>"
