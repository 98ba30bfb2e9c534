"""An Asterisk-like AudioSocket client for tests and demos of the voice line.

It does what the dialplan and ``AudioSocket()`` do: registers the caller
through the control API (``POST /calls``), connects, sends the call id,
streams the caller's audio (raw PCM, silence, tones, or WAV files resampled
to 8 kHz mono), keys DTMF digits, hangs up, and asks the control API what
comes next (``next_action()``). Everything the gateway sends back is kept
with its arrival time (``loop.time()``), so a test can tell when reply audio
started and stopped (``bursts()``) and how much of it came.

    async with AudioSocketClient("127.0.0.1", port, caller="13800000000",
                                 control_url="http://127.0.0.1:9093") as client:
        await client.wait_quiet()          # the greeting played to its end
        await client.say(1.0)              # one second of "speech" + trailing silence
        await client.press("1")
        await client.wait_closed()
        assert await client.next_action() == "transfer"
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from voice import protocol
from voice.audio import FRAME_BYTES, FRAME_SECONDS, SAMPLE_RATE, silence, tone
from voice.protocol import Frame, FrameType


@dataclass(frozen=True)
class Received:
    at: float
    frame: Frame


@dataclass(frozen=True)
class Burst:
    """Audio frames that came without a pause between them."""

    start: float
    end: float
    frames: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


def read_wav(path: str | Path) -> bytes:
    """A WAV file as 8 kHz, 16-bit mono PCM (channels averaged, linearly resampled)."""
    with wave.open(str(path), "rb") as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}.get(width)
    if dtype is None:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported")
    samples = np.frombuffer(raw, dtype=dtype).astype(np.float64)
    if width == 1:
        samples = (samples - 128) * 256
    elif width == 4:
        samples /= 65536
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and samples.size:
        n = int(samples.size * SAMPLE_RATE / rate)
        samples = np.interp(np.arange(n) * rate / SAMPLE_RATE, np.arange(samples.size), samples)
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


class AudioSocketClient:
    def __init__(self, host: str, port: int, call_id: uuid.UUID | None = None,
                 caller: str | None = None, control_url: str | None = None, *,
                 send_call_id: bool = True, realtime: bool = True,
                 control_secret: str | None = None) -> None:
        self.host, self.port = host, port
        #: sent as ``Authorization: Bearer``, as the dialplan's ``CURLOPT(httpheader)`` does
        self.control_secret = control_secret
        self.call_id = call_id or uuid.uuid4()
        self.caller = caller
        self.control_url = control_url.rstrip("/") if control_url else None
        self.send_call_id = send_call_id
        #: pace the caller's audio at real time (as Asterisk does) or send it at once
        self.realtime = realtime
        self.received: list[Received] = []
        self.closed = asyncio.Event()
        self._got_frame = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.read_error: Exception | None = None

    # ------------------------------------------------------------------ connection

    async def __aenter__(self) -> AudioSocketClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def register(self) -> httpx.Response:
        """``POST /calls`` as the dialplan does before ``AudioSocket()``."""
        assert self.control_url, "no control_url"
        async with httpx.AsyncClient(headers=self._auth()) as http:
            return await http.post(f"{self.control_url}/calls",
                                   data={"call_id": str(self.call_id), "caller": self.caller})

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.control_secret}"} if self.control_secret else {}

    async def connect(self) -> None:
        if self.control_url and self.caller is not None:
            (await self.register()).raise_for_status()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._task = asyncio.create_task(self._collect())
        if self.send_call_id:
            await self.send_raw(protocol.call_id(self.call_id))

    async def _collect(self) -> None:
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        try:
            while (frame := await protocol.read_frame(self._reader, 0xFFFF)) is not None:
                self.received.append(Received(loop.time(), frame))
                self._got_frame.set()
                if frame.type is FrameType.HANGUP:
                    break
        except (protocol.ProtocolError, ConnectionError) as exc:
            self.read_error = exc
        finally:
            self.closed.set()
            self._got_frame.set()

    async def send_raw(self, data: bytes) -> bool:
        """Bytes as they are (also malformed ones); False once the gateway closed."""
        assert self._writer is not None
        if self._writer.is_closing():
            return False
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError):
            return False
        return True

    async def hangup(self) -> None:
        """The caller hangs up: a hang-up frame, then the connection closes."""
        await self.send_raw(protocol.hangup())
        await self.close()

    async def close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
            self._task.cancel()

    # ------------------------------------------------------------------ the caller's side

    async def send_audio(self, pcm: bytes, realtime: bool | None = None) -> None:
        """``pcm`` as 20 ms audio frames, one per 20 ms when real time."""
        pace = self.realtime if realtime is None else realtime
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
            frame = pcm[offset:offset + FRAME_BYTES]
            frame += bytes(FRAME_BYTES - len(frame))
            if pace:
                delay = start + index * FRAME_SECONDS - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if not await self.send_raw(protocol.audio(frame)):
                return

    async def send_silence(self, seconds: float, realtime: bool | None = None) -> None:
        await self.send_audio(silence(seconds), realtime)

    async def send_wav(self, path: str | Path, realtime: bool | None = None) -> None:
        await self.send_audio(read_wav(path), realtime)

    async def say(self, seconds: float = 0.8, trailing_silence: float = 1.5,
                  realtime: bool | None = None) -> None:
        """A stand-in for speech (a tone) followed by the silence that ends an utterance."""
        await self.send_audio(tone(seconds, 300.0) + silence(trailing_silence), realtime)

    async def press(self, digits: str, gap: float = 0.15) -> None:
        """Key DTMF digits, ``gap`` seconds apart."""
        for index, digit in enumerate(digits):
            if index:
                await asyncio.sleep(gap)
            await self.send_raw(protocol.dtmf(digit))

    # ------------------------------------------------------------------ what came back

    @property
    def audio(self) -> list[Received]:
        return [r for r in self.received if r.frame.type is FrameType.AUDIO]

    @property
    def hung_up_by_gateway(self) -> bool:
        return any(r.frame.type is FrameType.HANGUP for r in self.received)

    def audio_bytes(self, since: float = 0.0) -> bytes:
        return b"".join(r.frame.payload for r in self.audio if r.at >= since)

    def bursts(self, gap: float = 0.1, since: float = 0.0) -> list[Burst]:
        """Reply audio grouped into runs of frames less than ``gap`` seconds apart."""
        result: list[Burst] = []
        for r in (r for r in self.audio if r.at >= since):
            if result and r.at - result[-1].end < gap:
                last = result[-1]
                result[-1] = Burst(last.start, r.at, last.frames + 1)
            else:
                result.append(Burst(r.at, r.at, 1))
        return result

    async def wait_audio(self, timeout: float = 5.0, since: float | None = None) -> float:
        """Wait for an audio frame (after ``since``); returns its arrival time."""
        loop = asyncio.get_running_loop()
        since = loop.time() if since is None else since
        deadline = loop.time() + timeout
        while True:
            for r in self.audio:
                if r.at >= since:
                    return r.at
            if self.closed.is_set():
                raise AssertionError("the gateway closed the call before sending audio")
            self._got_frame.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no audio within {timeout} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._got_frame.wait(), remaining)

    async def wait_quiet(self, quiet: float = 0.25, timeout: float = 10.0) -> float:
        """Wait until audio has come and then paused ``quiet`` seconds; returns the last frame's time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            last = self.audio[-1].at if self.audio else None
            if self.closed.is_set() and last is not None:
                return last
            if last is not None and loop.time() - last >= quiet:
                return last
            await asyncio.sleep(0.02)
        raise AssertionError(f"audio did not stop within {timeout} s")

    async def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait for the gateway to end the call (hang-up frame or close)."""
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the gateway did not end the call within {timeout} s") from None

    async def next_action(self) -> str:
        """What the dialplan does after the call (``GET /calls/{id}/next``)."""
        assert self.control_url, "no control_url"
        async with httpx.AsyncClient(headers=self._auth()) as http:
            response = await http.get(f"{self.control_url}/calls/{self.call_id}/next")
        return response.text
