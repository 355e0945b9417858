"""``enableRecording``: start a task's recording with its browser context, keep it as an output file.

The recording itself is :mod:`workers.watch.task_recording`; this is the glue that puts the
finished file among the task's ``outputFiles`` (so the existing presigned download URLs
serve it), bounded by ``recording_max_bytes``. A recording that fails never fails its task.
"""

from __future__ import annotations

import asyncio
import logging

from av.error import FFmpegError
from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from shared.settings import Settings
from workers.secrets.vault import SecretVault
from workers.skills.files import TaskFiles
from workers.watch.task_recording import Recorder

log = logging.getLogger(__name__)


async def start(context: BrowserContext, vault: SecretVault, settings: Settings) -> Recorder:
    recorder = Recorder(vault, settings.recording_max_bytes, settings.recording_max_fps)
    await recorder.start(context)
    return recorder


async def keep(recorder: Recorder, files: TaskFiles) -> None:
    """Finish the recording and list it in the task's output files (best effort)."""
    try:
        made = await recorder.finish()
    except (PlaywrightError, FFmpegError, OSError) as exc:
        log.warning("task %s: recording lost: %s", files.task_id, exc)
        return
    if made is None:
        log.info("task %s: recording has no frame; nothing kept", files.task_id)
        return
    data, add = made.data, files.store.add_output_file
    await asyncio.to_thread(add, files.task_id, made.file_name, data, made.content_type, len(data))
    log.info("task %s: recording kept (%d bytes, %d frames, %d withheld%s)", files.task_id, len(made.data),
             made.frames, made.withheld, ", cut at the size limit" if made.truncated else "")
