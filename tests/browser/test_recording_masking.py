"""The recorder's masking holds when its checks lag behind the pages (a loaded worker).

Each exposure check is slowed down here, so a page that shows a secret is gone before the
check of its frame runs: the check then reads the next page, which is clean. The frame must
still be withheld (the page navigated after it was painted). The pages are solid colours,
so the video is read back frame by frame.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import av
import pytest
from playwright.async_api import Browser, Page

from workers.secrets.vault import SecretVault
from workers.watch import task_recording as recording
from workers.watch.task_recording import Recorder

TOKEN = "tok-9b1d7e3c5a2f4068"
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def _url(colour: str, text: str = "") -> str:
    return f"data:text/html,<body style='margin:0;background:{colour};height:100vh'>{text or colour}</body>"


def _distance(pixel: bytes, colour: tuple[int, int, int]) -> int:
    return sum((p - c) ** 2 for p, c in zip(pixel, colour, strict=True))


def _colours(data: bytes) -> list[str]:
    names = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            pixel = bytes(frame.reformat(width=1, height=1, format="rgb24").planes[0])[:3]
            names.append(min(COLOURS, key=lambda n: _distance(pixel, COLOURS[n])))
    return names


@pytest.fixture
def slow_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = recording.page_shows_secret

    async def slow(page: Page, vault: SecretVault) -> bool:
        await asyncio.sleep(0.6)
        return await real(page, vault)

    monkeypatch.setattr(recording, "page_shows_secret", slow)
    yield


async def _record(browser: Browser, secrets: dict[str, str]) -> recording.Recording | None:
    context = await browser.new_context(viewport={"width": 640, "height": 400})
    page = await context.new_page()
    await page.goto(_url("red"))
    recorder = Recorder(SecretVault(secrets), 10_000_000, max_fps=30)
    await recorder.start(context)
    await asyncio.sleep(1.0)  # the red frame is checked and acknowledged: Chromium sends the next paint
    await page.goto(_url("green", f"API token: {TOKEN}"))
    await asyncio.sleep(0.2)
    await page.goto(_url("blue"))
    await asyncio.sleep(1.5)
    made = await recorder.finish()
    await context.close()
    return made


def test_a_secret_page_gone_before_its_check_is_not_recorded(
    loop: asyncio.AbstractEventLoop, browser: Browser, slow_checks: None
) -> None:
    made = loop.run_until_complete(_record(browser, {"token": TOKEN}))
    assert made is not None and made.withheld >= 1
    colours = _colours(made.data)
    assert "green" not in colours and colours[-1] == "blue"


def test_without_secrets_every_page_is_recorded(
    loop: asyncio.AbstractEventLoop, browser: Browser, slow_checks: None
) -> None:
    made = loop.run_until_complete(_record(browser, {}))
    assert made is not None and made.withheld == 0
    colours = _colours(made.data)
    assert {"red", "green", "blue"} <= set(colours)
