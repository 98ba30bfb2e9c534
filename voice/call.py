"""One call on the line: the caller's audio and keys in, the bot's replies spoken back.

Three tasks per call: the reader (frames from Asterisk), the listener (audio
through the call's recognizer, decoding off the event loop) and the session,
which takes their events one at a time and talks to Rasa as sender
``voice:h:<keyed hash of the number>`` (``integrations.shared.identity``),
each message carrying the number encrypted for the work-order service in its
metadata (Rasa and the actions cannot read it). The caller hanging up cancels all three and frees
the recognizer; the session ending (transfer, hang-up) tells the control API
what the dialplan does next, then sends the hang-up frame.

For elderly callers: ``*`` or "再说一遍" repeats, a closed question's options
are spoken with their keys (1 = the first), ``0`` or two failed turns in a row
bring in a person, long silences get a gentle prompt before the line closes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from integrations.rasa_rest import Button, RasaUnavailable, Reply, as_typed_text
from integrations.shared.identity import CALLER_CONTEXT, METADATA_KEY, caller_ref
from integrations.shared.privacy import Vault, mask_phone

from . import prompts
from .answers import AnswerGrammar, asks_to_repeat, chosen_option, clean_transcript
from .asr import NoSpeechModel, Recognizer, RecognizerFactory
from .audio import FRAME_SECONDS, SAMPLE_RATE
from .control import NextAction, Registry, RegistryUnavailable
from .playback import Line, Player
from .protocol import FrameType, ProtocolError, read_frame
from .settings import VoiceSettings
from .tts import Speaker

log = logging.getLogger(__name__)

GREET = "/greet"
FAILED_TURNS_FOR_TRANSFER = 2
SILENCE_PROMPTS = 2
#: Audio waiting for the recognizer (30 s); beyond, frames are dropped.
AUDIO_BACKLOG_FRAMES = 1500
#: Frames handed to the recognizer in one go when it has fallen behind.
MAX_FRAMES_PER_FEED = 50
_MENTIONS_KEYS = re.compile(r"按\s*[1-9１-９]")


class Relay(Protocol):
    """Rasa's REST channel (``integrations.rasa_rest.RasaRelay``)."""

    async def send(self, sender: str, text: str,
                   metadata: dict[str, Any] | None = None) -> list[Reply]: ...


@dataclass(frozen=True)
class CallDeps:
    """What every call shares, built once by the entry point."""

    settings: VoiceSettings
    relay: Relay
    speaker: Speaker
    registry: Registry
    #: None or ``NoSpeechModel`` without a speech model: the line then only
    #: offers an operator on 0.
    model: RecognizerFactory | None
    #: Hashes a caller's number into their sender id and encrypts it for the service.
    vault: Vault
    grammar: AnswerGrammar | None = None


@dataclass
class TurnTiming:
    """One spoken turn, for the log: when its final was taken, how far the
    recognizer was behind the line then, how long Rasa took."""

    final_at: float
    decoder_behind_s: float
    rasa_s: float | None = None


@dataclass(frozen=True)
class Dtmf:
    digit: str


class PlaybackDone:
    """The bot finished speaking."""


class Shutdown:
    """The gateway is stopping."""


class ListeningFailed:
    """The recognizer broke: the call cannot hear the caller any more."""


class EndCall(Exception):
    def __init__(self, action: NextAction) -> None:
        super().__init__(action)
        self.action = action


def sender_for(vault: Vault, call_id: uuid.UUID, caller: str | None) -> str:
    """``voice:h:<hash>``; ``voice:unknown-<call id>`` when the number was withheld or
    not registered."""
    return caller_ref(vault, caller) if caller else f"voice:unknown-{call_id}"


def caller_metadata(vault: Vault, caller: str | None) -> dict[str, Any] | None:
    """The REST message's metadata: the number, encrypted for the work-order service."""
    return {METADATA_KEY: vault.encrypt(caller, context=CALLER_CONTEXT)} if caller else None


class Call:
    def __init__(self, call_id: uuid.UUID, reader: asyncio.StreamReader, line: Line,
                 deps: CallDeps) -> None:
        self.call_id = call_id
        self.tag = str(call_id)[:8]
        self._reader = reader
        self._line = line
        self._deps = deps
        self._settings = deps.settings
        self._identify(None)
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._audio: asyncio.Queue[bytes] = asyncio.Queue(AUDIO_BACKLOG_FRAMES)
        self._player = Player(line, deps.speaker, on_done=lambda: self._events.put_nowait(PlaybackDone()),
                              on_first_frame=self._reply_heard)
        self._recognizer: Recognizer | None = None
        self._grammar_set: list[str] | None = None
        self._options: tuple[Button, ...] = ()
        self._last_turn: list[str] = []
        self._failures = 0
        self._silence_prompts = 0
        self._digits = ""
        self._digits_at = 0.0
        self._quiet_since = 0.0
        self.dropped_frames = 0
        self._frames_in = 0  # audio frames received from the line
        self._frames_decoded = 0  # of those, the ones the recognizer has been given
        self._timing: TurnTiming | None = None
        self.next_action = NextAction.HANGUP

    def _identify(self, caller: str | None) -> None:
        self._caller_masked = mask_phone(caller) if caller else "unknown"
        self.sender = sender_for(self._deps.vault, self.call_id, caller)
        self._metadata = caller_metadata(self._deps.vault, caller)

    async def _look_up_caller(self) -> None:
        """The number the dialplan registered (through this gateway or another one)."""
        try:
            caller = await self._deps.registry.caller(self.call_id)
        except RegistryUnavailable as exc:
            log.warning("call %s: caller unknown, the call registry is unavailable: %s",
                        self.tag, exc)
            return
        self._identify(caller)

    async def _finish(self, action: NextAction) -> None:
        await self._deps.registry.finish(self.call_id, action)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> NextAction:
        """Serve the call to its end; returns what the dialplan does next."""
        await self._look_up_caller()
        log.info("call %s: connected, caller %s", self.tag, self._caller_masked)
        if self._deps.model is not None and not isinstance(self._deps.model, NoSpeechModel):
            self._recognizer = self._deps.model.recognizer(
                SAMPLE_RATE, end_silence_s=self._settings.voice_end_silence_s,
                max_utterance_s=self._settings.voice_max_utterance_s)
        reader = asyncio.create_task(self._read(), name=f"call-{self.tag}-read")
        session = asyncio.create_task(self._session(), name=f"call-{self.tag}-session")
        tasks: list[asyncio.Task[object]] = [reader, session]
        if self._recognizer is not None:
            tasks.append(asyncio.create_task(self._listen(), name=f"call-{self.tag}-listen"))
        try:
            await asyncio.wait([reader, session], return_when=asyncio.FIRST_COMPLETED)
            if session.done():
                await self._ended_by_line(session)
            else:
                await self._ended_by_caller(reader)
        except asyncio.CancelledError:  # the gateway stopped before the call could end
            self.next_action = NextAction.TRANSFER
            await asyncio.shield(self._finish(self.next_action))
            await self._line.hang_up()
            raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._player.stop()
            recognizer, self._recognizer = self._recognizer, None
            if recognizer is not None:  # its warm decoder serves the next call
                await asyncio.shield(recognizer.close())
            await self._line.hang_up(send_frame=False)
        return self.next_action

    async def _ended_by_line(self, session: asyncio.Task[NextAction]) -> None:
        """The session ended the call: the dialplan learns what follows, then the hang-up frame."""
        self.next_action = self._outcome(session)
        await self._finish(self.next_action)
        await self._line.hang_up()
        log.info("call %s: ended by the line, next: %s", self.tag, self.next_action)

    async def _ended_by_caller(self, reader: asyncio.Task[str]) -> None:
        """The caller hung up, or their side broke the protocol."""
        await self._finish(NextAction.HANGUP)
        error = reader.exception()
        if error is None:
            log.info("call %s: %s", self.tag, reader.result())
            await self._line.hang_up(send_frame=False)
            return
        if isinstance(error, ProtocolError):
            log.warning("call %s: protocol error: %s", self.tag, error)
        else:
            log.error("call %s: reading failed: %r", self.tag, error)
        await self._line.hang_up()

    def _outcome(self, session: asyncio.Task[NextAction]) -> NextAction:
        if session.cancelled():
            return NextAction.HANGUP
        error = session.exception()
        if error is None:
            return session.result()
        log.error("call %s: session failed, handing over to a person", self.tag,
                  exc_info=error)
        return NextAction.TRANSFER

    def shut_down(self) -> None:
        """The gateway is stopping: the call is handed to a person."""
        self._events.put_nowait(Shutdown())

    # ------------------------------------------------------------------ reader, listener

    async def _read(self) -> str:
        while True:
            frame = await read_frame(self._reader)
            if frame is None:
                return "connection closed by the caller's side"
            if frame.type is FrameType.HANGUP:
                return "caller hung up"
            if frame.type is FrameType.ERROR:
                return f"Asterisk reported error {frame.error_code}"
            if frame.type is FrameType.AUDIO:
                self._frames_in += 1
                if self._recognizer is not None:
                    try:
                        self._audio.put_nowait(frame.payload)
                    except asyncio.QueueFull:
                        self.dropped_frames += 1
                        if self.dropped_frames % 250 == 1:
                            log.warning("call %s: recognizer behind, %d frames dropped",
                                        self.tag, self.dropped_frames)
            elif frame.type is FrameType.DTMF:
                self._events.put_nowait(Dtmf(frame.digit))
            else:
                log.warning("call %s: a second call id frame ignored", self.tag)

    async def _listen(self) -> None:
        recognizer = self._recognizer
        assert recognizer is not None
        try:
            while True:
                chunks = [await self._audio.get()]
                while not self._audio.empty() and len(chunks) < MAX_FRAMES_PER_FEED:
                    chunks.append(self._audio.get_nowait())
                events = await recognizer.feed(b"".join(chunks))
                self._frames_decoded += len(chunks)
                for event in events:
                    self._events.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: speech recognition failed", self.tag)
            self._events.put_nowait(ListeningFailed())

    # ------------------------------------------------------------------ session

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _session(self) -> NextAction:
        self._quiet_since = self._now()
        try:
            if self._recognizer is None:
                self._last_turn = [prompts.NO_MODEL]
                self._player.start(self._last_turn)
            else:
                await self._turn(GREET)
            while True:
                event = await self._next_event()
                await self._handle(event)
        except EndCall as end:
            return end.action

    def _deadline(self) -> float | None:
        deadlines = []
        if self._digits:
            deadlines.append(self._digits_at + self._settings.voice_dtmf_timeout_s)
        if not self._player.playing:
            deadlines.append(self._quiet_since + self._settings.voice_no_speech_s)
        return min(deadlines) if deadlines else None

    async def _next_event(self) -> object | None:
        """The next event, or None when a timer (keys, silence) ran out."""
        deadline = self._deadline()
        timeout = None if deadline is None else max(0.0, deadline - self._now())
        try:
            return await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None

    async def _handle(self, event: object | None) -> None:
        if event is None:
            await self._on_timer()
        elif isinstance(event, Dtmf):
            await self._on_key(event.digit)
        elif isinstance(event, PlaybackDone):
            self._quiet_since = self._now()
        elif isinstance(event, Shutdown):
            log.info("call %s: gateway stopping", self.tag)
            await self._end([prompts.TRANSFER], NextAction.TRANSFER)
        elif isinstance(event, ListeningFailed):
            await self._end([prompts.TRANSFER], NextAction.TRANSFER)
        elif getattr(event, "kind", None) == "partial":
            self._on_partial(event.text)  # type: ignore[attr-defined]
        elif getattr(event, "kind", None) == "final":
            await self._on_final(event.text)  # type: ignore[attr-defined]

    async def _on_timer(self) -> None:
        now = self._now()
        if self._digits and now >= self._digits_at + self._settings.voice_dtmf_timeout_s:
            await self._send_digits()
        elif not self._player.playing and now >= self._quiet_since + self._settings.voice_no_speech_s:
            await self._on_silence()

    def _on_partial(self, text: str) -> None:
        if not clean_transcript(text):
            return
        self._quiet_since = self._now()
        if self._player.playing:
            log.debug("call %s: barge-in", self.tag)
            self._player.stop()

    async def _on_final(self, text: str) -> None:
        text = clean_transcript(text)
        self._quiet_since = self._now()
        if not text:
            if not self._player.playing:  # noise over the bot's voice is not a turn
                await self._failed_turn(prompts.NOT_HEARD)
            return
        self._player.stop()
        self._silence_prompts = 0
        self._timing = TurnTiming(self._now(),
                                  (self._frames_in - self._frames_decoded - self.dropped_frames)
                                  * FRAME_SECONDS)
        if asks_to_repeat(text):
            self._repeat()
            return
        choice = chosen_option(text, [b.title for b in self._options])
        if choice:
            await self._turn(self._options[choice - 1].payload)
            return
        await self._turn(as_typed_text(text))

    async def _on_key(self, digit: str) -> None:
        self._timing = None  # a keyed turn: no final to time it from
        self._quiet_since = self._now()
        self._silence_prompts = 0
        if digit == "0" and not self._digits:
            await self._end([prompts.TRANSFER], NextAction.TRANSFER)
        if digit == "*":
            self._digits = ""
            self._repeat()
            return
        if self._recognizer is None:  # no speech model: only an operator or the message again
            return
        if self._digits:
            if digit.isdigit():
                self._digits += digit
                self._digits_at = self._now()
            elif digit == "#":
                await self._send_digits()
            return
        if digit in "123456789":
            self._player.stop()
            index = int(digit)
            if index <= min(len(self._options), prompts.MAX_KEYED_OPTIONS):
                await self._turn(self._options[index - 1].payload)
            else:  # a phone or order number being typed
                self._digits, self._digits_at = digit, self._now()

    async def _send_digits(self) -> None:
        digits, self._digits = self._digits, ""
        await self._turn(digits)

    async def _on_silence(self) -> None:
        if self._silence_prompts >= SILENCE_PROMPTS:
            log.info("call %s: no answer, closing", self.tag)
            await self._end([prompts.GOODBYE_SILENCE], NextAction.HANGUP)
        self._silence_prompts += 1
        reminder = prompts.STILL_THERE if self._recognizer is not None else prompts.NO_MODEL_REMINDER
        self._player.start([reminder])

    def _repeat(self) -> None:
        if self._last_turn:
            self._player.start(self._last_turn)

    async def _failed_turn(self, prompt: str) -> None:
        self._failures += 1
        if self._failures >= FAILED_TURNS_FOR_TRANSFER:
            log.info("call %s: %d failed turns, handing over to a person", self.tag, self._failures)
            await self._end([prompts.TRANSFER], NextAction.TRANSFER)
        texts = [prompt]
        if self._options:  # a closed question is still open: its answers again
            texts.append(prompts.options([b.title for b in self._options]))
        self._player.start(texts)

    async def _end(self, texts: list[str], action: NextAction) -> None:
        """Say ``texts`` to the end, then end the call with ``action``."""
        self._player.stop()
        if texts:
            await self._player.play(texts)
        raise EndCall(action)

    # ------------------------------------------------------------------ Rasa

    async def _turn(self, text: str) -> None:
        if not text:
            return
        try:
            replies = await self._deps.relay.send(self.sender, text, self._metadata)
            if self._timing is not None and self._timing.rasa_s is None:
                self._timing.rasa_s = self._now() - self._timing.final_at
        except RasaUnavailable as exc:
            log.warning("call %s: Rasa unavailable (%s), handing over to a person", self.tag, exc)
            await self._end([prompts.RASA_DOWN], NextAction.TRANSFER)
        self._quiet_since = self._now()
        if any(r.text in prompts.BOT_NOT_UNDERSTOOD for r in replies):
            self._failures += 1
            if self._failures >= FAILED_TURNS_FOR_TRANSFER:
                log.info("call %s: the bot did not understand twice, handing over", self.tag)
                await self._end([prompts.TRANSFER], NextAction.TRANSFER)
        elif text != GREET:
            self._failures = 0
        await self._speak(replies)

    async def _speak(self, replies: list[Reply]) -> None:
        texts: list[str] = []
        for reply in replies:
            if reply.text:
                texts.append(reply.text)
            voice = (reply.custom or {}).get("voice")
            if voice == "transfer":
                await self._end(texts, NextAction.TRANSFER)
            if voice == "hangup":
                await self._end(texts, NextAction.HANGUP)
        question = next((r for r in reversed(replies) if r.buttons), None)
        self._ask(question.buttons if question else ())
        if question and not _MENTIONS_KEYS.search(question.text):
            texts.append(prompts.options([b.title for b in question.buttons]))
        if texts:
            self._last_turn = texts
            self._player.start(texts)
        else:
            self._timing = None  # nothing to hear: the turn is not timed

    def _reply_heard(self) -> None:
        """The first frame of a reply went out: how long the caller waited, and for what."""
        timing, self._timing = self._timing, None
        if timing is None:
            return
        waited = self._now() - timing.final_at
        rasa = timing.rasa_s if timing.rasa_s is not None else 0.0
        log.info("call %s: turn timing: decoder behind %.2f s at the final, rasa %.2f s, "
                 "speech %.2f s, final -> first reply audio %.2f s",
                 self.tag, timing.decoder_behind_s, rasa, max(0.0, waited - rasa), waited)

    def _ask(self, buttons: tuple[Button, ...]) -> None:
        """Listen for a closed question's answers while it is open, for free speech otherwise."""
        self._options = buttons
        grammar = None
        if buttons and self._deps.grammar is not None:
            grammar = self._deps.grammar.for_options([b.title for b in buttons]) or None
        if grammar != self._grammar_set and self._recognizer is not None:
            self._recognizer.set_grammar(grammar)
            self._grammar_set = grammar
