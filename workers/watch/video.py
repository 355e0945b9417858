"""JPEG frames in, one WebM (VP8) file out: the encoder behind session recordings.

Frames come from Chromium's screencast only when the page changes, at irregular
times, so each frame keeps its own timestamp (millisecond time base) instead of a
fixed rate. Frames are encoded as they come (VP8 in real-time mode, no look-ahead),
so memory holds the compressed file only, and a frame whose packets would take the
file past ``max_bytes`` is not written: the recording is cut there, never the task. PyAV ships its own FFmpeg.
"""

from __future__ import annotations

import io
import logging
from fractions import Fraction

import av
import av.error
from av.video.frame import VideoFrame

log = logging.getLogger(__name__)

CONTENT_TYPE = "video/webm"
_TIME_BASE = Fraction(1, 1000)
# The muxer buffers whole clusters, so the bytes written so far say little: the limit is kept
# on the packets' own sizes plus the container's overhead (block and cluster headers, cues).
_HEADROOM = 0.95
_PER_PACKET = 32
_FIXED = 4096


class WebmEncoder:
    """Encodes timestamped JPEG frames to WebM in memory; not thread-safe (one caller at a time)."""

    def __init__(self, max_bytes: int, bit_rate: int = 1_000_000) -> None:
        self.max_bytes = max_bytes
        self.bit_rate = bit_rate
        self.frames = 0
        self.full = False
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, mode="w", format="webm")
        self._decoder = av.CodecContext.create("mjpeg", "r")
        self._stream: av.VideoStream | None = None
        self._start: float | None = None
        self._last: VideoFrame | None = None
        self._last_pts = -1
        self._payload = 0

    def add(self, jpeg: bytes, timestamp: float) -> bool:
        """Encode one frame shown from ``timestamp`` (seconds); False once the file is full."""
        if self.full:
            return False
        try:
            decoded = self._decoder.decode(av.Packet(jpeg))
        except av.error.FFmpegError as exc:
            log.debug("recording: undecodable frame skipped: %s", exc)
            return True
        if not decoded:
            return True
        self._encode(decoded[-1], timestamp)
        return not self.full

    def finish(self, timestamp: float) -> bytes | None:
        """Close the file, the last frame held until ``timestamp``; None if no frame was kept."""
        if self._stream is None or not self.frames:
            self._container.close()
            return None
        if self._last is not None and not self.full:
            self._encode(self._last, timestamp, count=False)
        self._mux(self._stream.encode(None))
        self._container.close()
        data = self._buffer.getvalue()
        if len(data) > self.max_bytes:
            log.warning("recording: %d bytes, over the %d-byte limit; dropped", len(data), self.max_bytes)
            return None
        return data

    def _encode(self, frame: VideoFrame, timestamp: float, count: bool = True) -> None:
        stream = self._stream or self._open(frame)
        if self._start is None:
            self._start = timestamp
        pts = max(int((timestamp - self._start) * 1000), self._last_pts + 1)
        out = frame.reformat(width=stream.codec_context.width, height=stream.codec_context.height,
                             format="yuv420p")
        out.pts, out.time_base = pts, _TIME_BASE
        if self._mux(stream.encode(out)):
            self._last, self._last_pts = frame, pts
            self.frames += count

    def _mux(self, packets: list[av.Packet]) -> bool:
        """Write the packets unless they would pass the limit (then the file is full)."""
        size = sum(p.size for p in packets) + _PER_PACKET * len(packets)
        if self.full or self._payload + size > self.max_bytes * _HEADROOM - _FIXED:
            self.full = True
            return False
        for packet in packets:
            self._container.mux(packet)
        self._payload += size
        return True

    def _open(self, first: VideoFrame) -> av.VideoStream:
        stream = self._container.add_stream("libvpx", rate=25, options={
            "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
        })
        stream.codec_context.width = first.width - first.width % 2
        stream.codec_context.height = first.height - first.height % 2
        stream.codec_context.pix_fmt = "yuv420p"
        stream.codec_context.bit_rate = self.bit_rate
        stream.codec_context.time_base = _TIME_BASE
        stream.time_base = _TIME_BASE
        self._stream = stream
        return stream
