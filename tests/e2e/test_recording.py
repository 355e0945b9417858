"""``enableRecording``: a playable WebM among the task's output files, frames with a secret withheld.

The pages are solid colours, so what the video shows can be read back frame by frame
(Debian's ffmpeg decodes it): red and blue pages are in it, the green page that shows a
secret is not. Driven through the official ``browser-use-sdk``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_use_sdk import BrowserUse
from browser_use_sdk.generated.v2.models import SessionSettings

from shared.settings import Settings
from tests.e2e.helpers import script_id
from tests.e2e.test_api import wait_done
from tests.support.api import FULL_KEY, ApiServer, headers
from tests.support.fake_llm import FakeLLM, step
from tests.support.site import Site

TOKEN = "tok-5f3a9c1e7b2d4e6f"
PAGE = "<title>{title}</title><body style='margin:0;background:{colour};height:100vh'>{text}</body>"
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


@pytest.fixture
def sdk(api: ApiServer) -> Iterator[BrowserUse]:
    with BrowserUse(api_key=FULL_KEY, base_url=api.base) as client:
        yield client


def _pages(site: Site, tag: str) -> dict[str, str]:
    urls = {}
    for colour in COLOURS:
        path = f"/rec-{tag}-{colour}"
        text = f"API token: {TOKEN}" if colour == "green" else colour
        site.pages[path] = PAGE.format(title=colour, colour=colour, text=text)
        urls[colour] = site.url + path
    return urls


def _distance(a: tuple[int, ...], b: list[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))


def _frame_colours(video: Path) -> list[str]:
    """The nearest named colour of every decoded frame (each scaled to 4x4 pixels)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), "-fps_mode", "passthrough",
         "-vf", "scale=4:4", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout
    names = []
    for start in range(0, len(raw), 48):
        pixels = raw[start : start + 48]
        mean = [sum(pixels[i::3]) / 16 for i in range(3)]
        names.append(min(COLOURS, key=lambda n: _distance(COLOURS[n], mean)))
    return names


def test_a_recorded_task_lists_a_playable_video_without_the_secret_page(
    sdk: BrowserUse, api: ApiServer, fake_llm: FakeLLM, site: Site, settings: Settings, tmp_path: Path
) -> None:
    urls = _pages(site, script_id("r"))
    marker = fake_llm.script(script_id("record"), [
        step({"wait": {"seconds": 1}}),
        step({"navigate": {"url": urls["green"]}}),
        step({"wait": {"seconds": 1}}),
        step({"navigate": {"url": urls["blue"]}}),
        step({"wait": {"seconds": 1}}),
        step({"done": {"text": "seen", "success": True}}),
    ])
    created = sdk.tasks.create(
        f"Look at three pages. {marker}", start_url=urls["red"], secrets={"token": TOKEN},
        session_settings=SessionSettings(enableRecording=True),
    )
    with httpx.Client(base_url=api.base, headers=headers(), timeout=30) as client:
        view = wait_done(client, str(created.id), timeout=120)
        assert view["status"] == "finished", view
        [listed] = view["outputFiles"]
        assert listed["fileName"] == "recording.webm"
        link = sdk.files.task_output(str(created.id), str(listed["id"]))
        download = httpx.get(link.download_url, timeout=30)
    assert download.status_code == 200
    video = tmp_path / "recording.webm"
    video.write_bytes(download.content)

    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-of", "json", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames:format=format_name,duration", str(video)],
        capture_output=True, check=True, text=True,
    ).stdout)
    stream = probe["streams"][0]
    size = (settings.viewport_width, settings.viewport_height)
    assert stream["codec_name"] == "vp8" and (stream["width"], stream["height"]) == size
    assert "webm" in probe["format"]["format_name"] and float(probe["format"]["duration"]) > 2
    colours = _frame_colours(video)
    assert len(colours) == int(stream["nb_read_frames"]) >= 2
    assert colours[0] == "red" and colours[-1] == "blue"
    assert "green" not in colours  # the page that shows the secret was never recorded


def test_without_the_flag_nothing_is_recorded(
    sdk: BrowserUse, api: ApiServer, fake_llm: FakeLLM, site: Site
) -> None:
    urls = _pages(site, script_id("n"))
    marker = fake_llm.script(script_id("norecord"), [
        step({"navigate": {"url": urls["blue"]}}), step({"done": {"text": "seen", "success": True}}),
    ])
    created = sdk.tasks.create(f"Look. {marker}", start_url=urls["red"])
    with httpx.Client(base_url=api.base, headers=headers(), timeout=30) as client:
        view = wait_done(client, str(created.id), timeout=90)
    assert view["status"] == "finished" and view["outputFiles"] == []
