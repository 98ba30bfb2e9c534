"""The AudioSocket server: one TCP connection per call from Asterisk.

A connection must name its call (a call id frame) within a few seconds.
Beyond ``voice_max_calls`` a caller hears "线路繁忙" and is hung up. Whatever a
peer sends, the damage stays within its connection: the error is logged, the
call ended with a hang-up frame, the server goes on serving.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from . import prompts
from .call import Call, CallDeps
from .control import NextAction
from .playback import Line, Player
from .protocol import FrameType, ProtocolError, read_frame

log = logging.getLogger(__name__)

#: How long ``stop()`` lets calls say goodbye before cutting them off.
STOP_GRACE_S = 8.0


class VoiceServer:
    def __init__(self, deps: CallDeps) -> None:
        self._deps = deps
        self._settings = deps.settings
        self._server: asyncio.Server | None = None
        self._calls: set[Call] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Listen (settings' host and port unless given; port 0: any free port); returns the port."""
        self._server = await asyncio.start_server(
            self._accept, host or self._settings.voice_bind_host,
            self._settings.voice_audiosocket_port if port is None else port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("AudioSocket server listening on port %d", self.port)
        return self.port

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop accepting, hand the calls in progress to a person, close the rest."""
        if self._server is not None:
            self._server.close()
        for call in list(self._calls):
            call.shut_down()
        if self._connections:
            _, late = await asyncio.wait(list(self._connections), timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        line = Line(writer)
        try:
            await self._serve(reader, line)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("connection failed")
        finally:
            await line.hang_up()
            self._connections.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, line: Line) -> None:
        call_id = await self._call_id(reader)
        if call_id is None:
            return
        if len(self._calls) >= self._settings.voice_max_calls:
            log.warning("call %s: %d calls in progress, line busy", str(call_id)[:8], len(self._calls))
            await self._busy(reader, line)
            await self._deps.registry.finish(call_id, NextAction.HANGUP)
            return
        call = Call(call_id, reader, line, self._deps)
        self._calls.add(call)
        try:
            await call.run()
        finally:
            self._calls.discard(call)

    async def _call_id(self, reader: asyncio.StreamReader) -> uuid.UUID | None:
        timeout = self._settings.voice_first_frame_timeout_s
        try:
            frame = await asyncio.wait_for(read_frame(reader), timeout)
        except TimeoutError:
            log.warning("connection sent no call id within %g s", timeout)
            return None
        except ProtocolError as exc:
            log.warning("connection sent a bad first frame: %s", exc)
            return None
        if frame is None:
            log.info("connection closed before it named its call")
            return None
        if frame.type is not FrameType.CALL_ID:
            log.warning("connection's first frame was %s, not the call id", frame.type.name)
            return None
        return frame.call_id

    async def _busy(self, reader: asyncio.StreamReader, line: Line) -> None:
        """Say the line is busy, unless the caller hangs up first."""
        async def until_hang_up() -> None:
            while (frame := await read_frame(reader)) is not None and frame.type not in (
                    FrameType.HANGUP, FrameType.ERROR):
                pass

        playing = asyncio.create_task(Player(line, self._deps.speaker).play([prompts.BUSY]))
        listening = asyncio.create_task(until_hang_up())
        await asyncio.wait([playing, listening], return_when=asyncio.FIRST_COMPLETED)
        for task in (playing, listening):
            task.cancel()
        await asyncio.gather(playing, listening, return_exceptions=True)
