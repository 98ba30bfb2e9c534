"""The line back to the caller: audio frames at real-time pace, cut off at once on barge-in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from . import protocol
from .audio import FRAME_SECONDS, frames
from .tts import Speaker

log = logging.getLogger(__name__)

#: A short pause between two sentences spoken one after the other.
PAUSE_S = 0.3
DRAIN_TIMEOUT_S = 2.0


class Line:
    """The writing half of an AudioSocket connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._hung_up = False

    @property
    def closed(self) -> bool:
        return self._hung_up or self._writer.is_closing()

    async def send(self, data: bytes) -> bool:
        """Write encoded frames; False once the connection is gone."""
        if self.closed:
            return False
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError):
            return False
        return True

    async def hang_up(self, *, send_frame: bool = True) -> None:
        """End the call: a hang-up frame (unless the caller is already gone), then close."""
        if self._hung_up:
            return
        if send_frame:
            try:
                await asyncio.wait_for(self.send(protocol.hangup()), DRAIN_TIMEOUT_S)
            except TimeoutError:
                pass
        self._hung_up = True
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), DRAIN_TIMEOUT_S)
        except (TimeoutError, ConnectionError, OSError):
            pass


class Player:
    """Speaks texts on a line: synthesised ahead, sent one 20 ms frame per 20 ms.

    Frames follow a schedule against the event loop's clock (frame *i* of a
    run at start + i × 20 ms), so delays in one frame never add up. ``stop()``
    cuts the sentence off at once; ``on_done`` is called when a run played to
    its end (not when it was stopped); ``on_first_frame`` when a run's first
    frame went out (the caller starts hearing the reply).
    """

    def __init__(self, line: Line, speaker: Speaker,
                 on_done: Callable[[], None] | None = None,
                 on_first_frame: Callable[[], None] | None = None) -> None:
        self._line = line
        self._speaker = speaker
        self._on_done = on_done
        self._on_first_frame = on_first_frame
        self._task: asyncio.Task[None] | None = None

    @property
    def playing(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, texts: Sequence[str]) -> asyncio.Task[None]:
        """Stop what is playing and speak ``texts``; returns the playing task."""
        self.stop()
        self._task = asyncio.create_task(self._play(list(texts)))
        return self._task

    async def play(self, texts: Sequence[str]) -> None:
        """Speak ``texts`` to the end."""
        await self.start(texts)

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def _synthesise(self, text: str) -> bytes:
        try:
            return await self._speaker.speak(text)
        except Exception:
            log.exception("speech synthesis failed for a %d-character sentence", len(text))
            return b""

    def _parts(self, texts: list[str]) -> list[str]:
        split = getattr(self._speaker, "parts", None)
        return [part for text in texts if text.strip()
                for part in (split(text) if split is not None else [text])]

    async def _play(self, texts: list[str]) -> None:
        """Synthesise part by part, the next one while this one plays: the caller
        hears the first sentence as soon as it alone is rendered."""
        loop = asyncio.get_running_loop()
        parts = self._parts(texts)
        job = asyncio.create_task(self._synthesise(parts[0])) if parts else None
        first = True
        try:
            slot = loop.time()
            for index in range(len(parts)):
                assert job is not None
                pcm = await job
                job = (asyncio.create_task(self._synthesise(parts[index + 1]))
                       if index + 1 < len(parts) else None)
                if index:
                    slot += PAUSE_S
                slot = max(slot, loop.time())
                for frame in frames(pcm):
                    delay = slot - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if not await self._line.send(protocol.audio(frame)):
                        return
                    if first and self._on_first_frame is not None:
                        self._on_first_frame()
                    first = False
                    slot += FRAME_SECONDS
            delay = slot - loop.time()  # the last frame is still being heard
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            if job is not None:
                job.cancel()
        if self._on_done is not None:
            self._on_done()
