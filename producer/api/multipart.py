"""A small streaming ``multipart/form-data`` reader for presigned uploads (S3-style POST forms).

Only what an upload needs: parts in order, each with its name, file name and content type,
its body streamed in chunks, so the caller can enforce size and type *while* the bytes
arrive and stop reading at the first violation. Headers of a part are bounded, and so is
the space before the first boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message

MAX_PART_HEAD = 16 * 1024
MAX_PREAMBLE = 16 * 1024


class MultipartError(ValueError):
    """The body is not the multipart form it says it is."""


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str


@dataclass
class Chunk:
    """A piece of the current part's body (``end``: the part is complete)."""

    data: bytes
    end: bool = False


def boundary_of(content_type: str) -> bytes:
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 70:
        raise MultipartError("multipart/form-data needs a boundary")
    return boundary.encode("latin-1")


def _part(head: bytes) -> Part:
    message = Message()
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            message[name.strip()] = value.strip()
    if message.get_content_disposition() != "form-data":
        raise MultipartError("every part needs Content-Disposition: form-data")
    param = message.get_param("name", header="content-disposition")
    field = param if isinstance(param, str) else ""
    return Part(field, message.get_filename(), str(message.get("content-type", "application/octet-stream")))


async def parts(body: AsyncIterator[bytes], boundary: bytes) -> AsyncIterator[Part | Chunk]:
    """Yield each part's :class:`Part`, then its body as :class:`Chunk`s (the last with ``end``)."""
    first, delimiter = b"--" + boundary, b"\r\n--" + boundary
    buffer = bytearray()
    stream = body.__aiter__()

    async def more() -> bool:
        try:
            buffer.extend(await stream.__anext__())
            return True
        except StopAsyncIteration:
            return False

    while (at := buffer.find(first)) < 0:
        if len(buffer) > MAX_PREAMBLE or not await more():
            raise MultipartError("no multipart boundary found")
    del buffer[: at + len(first)]
    while True:
        while len(buffer) < 2:
            if not await more():
                raise MultipartError("the form ends without its closing boundary")
        if buffer[:2] == b"--":
            return
        if buffer[:2] != b"\r\n":
            raise MultipartError("malformed boundary line")
        del buffer[:2]
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_PART_HEAD or not await more():
                raise MultipartError("a part's headers are too long or cut off")
        yield _part(bytes(buffer[:end]))
        del buffer[: end + 4]
        while (at := buffer.find(delimiter)) < 0:
            keep = len(delimiter)
            if len(buffer) > keep:
                yield Chunk(bytes(buffer[:-keep]))
                del buffer[:-keep]
            if not await more():
                raise MultipartError("the form ends inside a part")
        yield Chunk(bytes(buffer[:at]), end=True)
        del buffer[: at + len(delimiter)]
