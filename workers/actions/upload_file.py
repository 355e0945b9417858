"""``upload_file{index,file_name}``: put a file uploaded to the task's session into an ``<input type=file>``.

Files reach a session through ``POST /files/sessions/{id}/presigned-url``; the agent sees
their names in its prompt and may hand one to a file input, by name. The bytes go from
Redis to the page directly (Playwright's in-memory file payload): nothing on the worker's
disk is ever read, so no name the model writes can reach another file.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import FilePayload

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params


class SessionFiles(Protocol):
    """The files uploaded to the running task's session."""

    def names(self) -> list[str]: ...

    async def read(self, name: str) -> tuple[bytes, str] | None:
        """The file's bytes and content type, or ``None`` when no file has that name."""


# Set by the task's assembly for the run (each task runs in its own asyncio context).
SESSION_FILES: ContextVar[SessionFiles | None] = ContextVar("session_files", default=None)


class UploadParams(Params):
    index: int
    file_name: str


async def upload_file(ctx: ActionContext, params: UploadParams) -> ActionResult:
    files = SESSION_FILES.get()
    names = files.names() if files is not None else []
    if files is None or not names:
        raise ActionError("no files were uploaded to this session")
    found = await files.read(params.file_name)
    if found is None:
        raise ActionError(f"no uploaded file named {params.file_name!r}; uploaded: {', '.join(names)}")
    data, content_type = found
    handle = await ctx.element(params.index)
    if not await handle.evaluate("el => el.localName === 'input' && el.type === 'file'"):
        raise ActionError(f"[{params.index}] is not a file input (<input type=file>)")
    try:
        payload: FilePayload = {"name": params.file_name, "mimeType": content_type, "buffer": data}
        await handle.set_input_files(files=[payload])
    except PlaywrightError as exc:
        raise ActionError(
            f"could not put {params.file_name!r} into [{params.index}]: {exc.message.splitlines()[0]}"
        ) from None
    return ActionResult(text=f"put {params.file_name} ({len(data)} bytes) into [{params.index}]")


ACTION = Action(
    "upload_file",
    UploadParams,
    "put a file uploaded to this session (see <uploaded_files>) into the file input [index], by its name",
    upload_file,
)
