"""Upload checks (pure): file names, content sniffing, the streaming multipart reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from producer.api.multipart import Chunk, MultipartError, Part, boundary_of, parts
from shared.upload_store import content_problem, name_problem


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "../x", "a\x00b", "a\nb", "x" * 256, " "])
def test_bad_names(name: str) -> None:
    assert name_problem(name)


@pytest.mark.parametrize("name", ["report.pdf", "Übersicht 2026.xlsx", ".hidden", "a..b", "x" * 255])
def test_good_names(name: str) -> None:
    assert name_problem(name) is None


def test_content_sniffing() -> None:
    assert content_problem("application/pdf", b"%PDF-1.7\n...") is None
    assert content_problem("application/pdf", b"\x89PNG\r\n\x1a\n") is not None
    assert content_problem("image/png", b"\x89PNG\r\n\x1a\n....") is None
    assert content_problem("image/webp", b"RIFF\x00\x00\x00\x00WAVE") is not None
    assert content_problem("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ") is None
    assert content_problem("text/csv", b"a,b\n1,2\n") is None
    assert content_problem("text/csv", b"a,b\x00") is not None
    assert content_problem("application/x-msdownload", b"MZ") == "Unsupported content type"


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(data: bytes, size: int) -> list[tuple[str, bytes]]:
    async def run() -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        async for item in parts(chunks(data, size), b"XyZ"):
            if isinstance(item, Part):
                out.append((item.name, b""))
            else:
                assert isinstance(item, Chunk)
                out[-1] = (out[-1][0], out[-1][1] + item.data)
        return out

    return asyncio.run(run())


FORM = (
    b'preamble\r\n--XyZ\r\nContent-Disposition: form-data; name="key"\r\n\r\nvalue\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    b"Content-Type: application/pdf\r\n\r\n%PDF-\r\n--Xy not the end\r\n\r\n--XyZ--\r\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_multipart_in_any_chunking(size: int) -> None:
    assert read(FORM, size) == [("key", b"value"), ("file", b"%PDF-\r\n--Xy not the end\r\n")]


def test_multipart_errors() -> None:
    with pytest.raises(MultipartError):
        read(b"no boundary at all" * 2000, 100)
    with pytest.raises(MultipartError):
        read(FORM[:-12], 5)  # cut inside the last part
    with pytest.raises(MultipartError):
        boundary_of("multipart/form-data")
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"
