"""The recording encoder: timestamps kept, the size limit holds, the file is a real WebM."""

from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.video.frame import VideoFrame

from workers.watch.video import WebmEncoder


def _jpeg(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A noisy (hard to compress) JPEG, so the size limit is reached in a few frames."""
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    frame = VideoFrame(width, height, "rgb24")
    frame.planes[0].update(os.urandom(width * height * 3))
    packets = encoder.encode(frame.reformat(format="yuvj420p")) + encoder.encode(None)
    return b"".join(bytes(p) for p in packets)


def test_frames_keep_their_times_and_the_file_decodes(tmp_path: Path) -> None:
    encoder = WebmEncoder(max_bytes=10_000_000)
    for n, at in enumerate((100.0, 100.5, 102.0)):
        assert encoder.add(_jpeg(n), at)
    data = encoder.finish(104.0)
    assert data is not None
    path = tmp_path / "v.webm"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.time) for f in container.decode(stream) if f.time is not None]
    assert stream.codec_context.name == "vp8" and (stream.width, stream.height) == (320, 240)
    assert times == [0.0, 0.5, 2.0, 4.0]  # the last frame is held until finish


@pytest.mark.parametrize("limit", [150_000, 400_000, 900_000])
def test_the_size_limit_cuts_the_recording_not_the_caller(limit: int) -> None:
    encoder = WebmEncoder(max_bytes=limit, bit_rate=8_000_000)
    accepted = [encoder.add(_jpeg(n), float(n)) for n in range(60)]
    assert False in accepted and encoder.full
    assert accepted.index(False) > 0 and not any(accepted[accepted.index(False):])
    data = encoder.finish(50.0)
    assert data is not None and len(data) <= limit
    assert encoder.frames == accepted.index(False)  # the frame that did not fit is not in the file
    with av.open(io.BytesIO(data)) as container:
        assert sum(1 for _ in container.decode(video=0)) == encoder.frames
