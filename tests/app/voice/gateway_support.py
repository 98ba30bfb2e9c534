"""A whole voice gateway on 127.0.0.1 for tests: the AudioSocket server and the control API
on free ports, talking over HTTP to a Rasa REST-channel double, with test doubles for
speech recognition and synthesis unless real ones are given.

    async with Gateway() as gw:
        async with gw.client(caller="13800000000") as client:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from integrations.rasa_rest import RasaRelay
from integrations.shared.identity import caller_ref
from integrations.shared.privacy import EXAMPLE_KEY, Vault
from tests.app.voice.doubles import RasaDouble, ScriptedModel, ToneSpeaker
from tests.audiosocket_client import AudioSocketClient
from voice.answers import AnswerGrammar
from voice.call import CallDeps
from voice.control import CallRegistry, bound_port, control_app, start_control
from voice.server import VoiceServer
from voice.settings import VoiceSettings

#: Short timers so a test takes seconds, not minutes.
FAST = dict(voice_end_silence_s=0.3, voice_no_speech_s=3.0, voice_dtmf_timeout_s=0.5,
            voice_first_frame_timeout_s=0.5, voice_max_calls=20)



class Gateway:
    def __init__(self, model: Any = None, speaker: Any = None, *, no_model: bool = False,
                 rasa_up: bool = True, rasa_url: str | None = None,
                 rasa_token: str | None = None, registry: Any = None, **settings: Any) -> None:
        self.settings = VoiceSettings(**{**FAST, **settings})
        self.model = None if no_model else (model if model is not None else ScriptedModel())
        self.speaker = speaker if speaker is not None else ToneSpeaker()
        self.rasa = RasaDouble()
        self.rasa_up = rasa_up
        #: a real Rasa server (the end-to-end tests) instead of the double
        self.rasa_url = rasa_url
        #: the REST channel's voice token (the real Rasa server requires it)
        self.rasa_token = rasa_token
        #: in memory unless given (a RedisCallRegistry shared with another Gateway)
        self.registry = registry if registry is not None else CallRegistry()
        self.host = "127.0.0.1"
        #: the dialplan's shared secret, and the work-order service's key
        self.secret = "test-control-secret-0123456789"
        self.vault = Vault(EXAMPLE_KEY)

    def sender(self, caller: str) -> str:
        """The sender id Rasa hears for ``caller``: ``voice:h:<hash>``."""
        return caller_ref(self.vault, caller)

    async def __aenter__(self) -> Gateway:
        if self.rasa_url is not None:
            rasa_url = self.rasa_url
        elif self.rasa_up:
            rasa_url = await self.rasa.start()
        else:  # a port nothing listens on
            rasa_url = "http://127.0.0.1:9"
        self._http = httpx.AsyncClient()
        relay = RasaRelay(rasa_url, self._http, token=self.rasa_token, attempts=2, backoff=0.0,
                          timeout=20.0)
        grammar = AnswerGrammar(self.model) if self.model is not None else None
        self.deps = CallDeps(self.settings, relay, self.speaker, self.registry, self.model,
                             self.vault, grammar)
        self.server = VoiceServer(self.deps)
        self.port = await self.server.start(self.host, 0)
        self._control = await start_control(
            control_app(self.registry, self.secret, lambda: {"calls": self.server.active_calls}),
            self.host, 0)
        self.control_url = f"http://{self.host}:{bound_port(self._control)}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(AssertionError):  # calls the clients hung up: let them end
            await self.wait_idle(1.0)
        await self.server.stop(grace_s=1.0)
        await self._control.cleanup()
        await self._http.aclose()
        if self.rasa_url is None:
            await self.rasa.stop()

    async def wait_idle(self, timeout: float = 3.0) -> None:
        """Wait until no call is in progress (the last one cleaned up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.server.active_calls:
            if loop.time() > deadline:
                raise AssertionError(f"{self.server.active_calls} calls still in progress")
            await asyncio.sleep(0.02)

    def client(self, caller: str | None = "13800000000", **kwargs: Any) -> AudioSocketClient:
        kwargs.setdefault("control_secret", self.secret)
        return AudioSocketClient(self.host, self.port, caller=caller,
                                 control_url=self.control_url, **kwargs)
