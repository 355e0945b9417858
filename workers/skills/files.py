"""A task's output files, as skills write them (kept in the task store, listed in ``outputFiles``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared.models import FileView
from shared.task_store import OutputFileTooLargeError, TaskStore
from workers.actions.base import ActionError


@dataclass
class TaskFiles:
    """Where one task's output files go; bounded by ``output_file_max_bytes``."""

    store: TaskStore
    task_id: str
    max_bytes: int

    async def save(self, file_name: str, data: bytes, content_type: str) -> FileView:
        try:
            return await asyncio.to_thread(
                self.store.add_output_file, self.task_id, file_name, data, content_type, self.max_bytes
            )
        except OutputFileTooLargeError as exc:
            raise ActionError(str(exc)) from None
