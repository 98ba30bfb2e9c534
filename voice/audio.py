"""The line's audio format and small PCM helpers.

Asterisk's AudioSocket carries 8 kHz, 16-bit little-endian, mono PCM
(signed linear, "slin"), 20 ms per frame.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterator

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes per sample
FRAME_MS = 20
FRAME_SECONDS = FRAME_MS / 1000
FRAME_BYTES = SAMPLE_RATE * SAMPLE_WIDTH * FRAME_MS // 1000  # 320


def _samples(pcm: bytes) -> array:
    """The signed 16-bit samples of ``pcm`` (a trailing odd byte is ignored)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _pcm(samples: array) -> bytes:
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def silence(seconds: float) -> bytes:
    """``seconds`` of silence, rounded down to whole samples."""
    return bytes(SAMPLE_WIDTH * max(0, int(seconds * SAMPLE_RATE)))


def tone(seconds: float, frequency: float = 440.0, amplitude: int = 8000) -> bytes:
    """A sine tone (test signals, a placeholder voice)."""
    n = max(0, int(seconds * SAMPLE_RATE))
    step = 2 * math.pi * frequency / SAMPLE_RATE
    return _pcm(array("h", (int(amplitude * math.sin(step * i)) for i in range(n))))


def rms(pcm: bytes) -> float:
    """Root mean square of the samples (0 for empty or silent audio)."""
    samples = _samples(pcm)
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def frames(pcm: bytes) -> Iterator[bytes]:
    """``pcm`` cut into ``FRAME_BYTES`` frames, the last one padded with silence."""
    for start in range(0, len(pcm), FRAME_BYTES):
        frame = pcm[start : start + FRAME_BYTES]
        if len(frame) < FRAME_BYTES:
            frame += bytes(FRAME_BYTES - len(frame))
        yield frame
