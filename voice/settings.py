"""Typed settings of the voice gateway, read from the environment once.

Build them in the entrypoint with ``load_settings()`` and pass them down;
nothing else in the package reads the environment. Each field is read from
the environment variable of the same name in capitals (``VOSK_MODEL_PATH``,
``VOICE_AUDIOSOCKET_PORT``, ``RASA_URL``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.shared.privacy import EXAMPLE_KEY


class VoiceSettings(BaseSettings):
    """The AudioSocket gateway, its control API, speech recognition and synthesis."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    #: A Vosk model folder (``make vosk-model``). Unset or missing: the line
    #: still answers, says speech is unavailable and offers an operator on 0.
    vosk_model_path: Path | None = None
    #: Where Asterisk's ``AudioSocket()`` connects, and the dialplan's HTTP API.
    voice_audiosocket_port: int = Field(default=9092, gt=0, lt=65536)
    voice_control_port: int = Field(default=9093, gt=0, lt=65536)
    #: Both listen here: the PBX runs on the same host or a private network.
    voice_bind_host: str = "127.0.0.1"
    #: The dialplan presents it to the control API (``Authorization: Bearer``).
    #: Unset: the gateway refuses to start (``make run`` generates one).
    voice_control_secret: SecretStr | None = None
    #: The work-order service's master key (``WORKORDERS_SECRET_KEY``): a caller is
    #: ``voice:h:<keyed hash>`` and their number travels to the service encrypted
    #: under it. Unset: the public example key, accepted in development mode only
    #: (``WORKORDERS_DEVELOPMENT``, checked at start-up by ``integrations.shared.startup``).
    workorders_secret_key: SecretStr = SecretStr(EXAMPLE_KEY)
    workorders_development: bool = True
    #: Rasa's HTTP server (the REST channel is ``/webhooks/rest/webhook``).
    rasa_url: str = "http://127.0.0.1:5005"
    #: The REST channel's token for ``voice:*`` senders (``make run`` generates one).
    channel_token_voice: str | None = Field(default=None, repr=False)

    #: Trailing silence that ends an utterance: longer than usual, elderly
    #: callers pause while they think.
    voice_end_silence_s: float = Field(default=1.2, gt=0)
    #: An utterance is cut here even if the caller goes on.
    voice_max_utterance_s: float = Field(default=30.0, gt=0)
    #: Silence after the bot finished speaking before "请问您还在吗？".
    voice_no_speech_s: float = Field(default=8.0, gt=0)
    #: Keys typed without ``#`` are sent after this pause.
    voice_dtmf_timeout_s: float = Field(default=3.0, gt=0)
    #: A connection must name its call (the first frame) within this time.
    voice_first_frame_timeout_s: float = Field(default=5.0, gt=0)
    #: How long the dialplan can still ask what to do after a call ended.
    voice_next_action_ttl_s: float = Field(default=600.0, gt=0)

    #: espeak-ng words per minute: slower than its default (175) for elderly listeners.
    voice_tts_rate: int = Field(default=130, ge=80, le=450)
    #: Synthesised sentences kept in memory (fixed prompts and frequent replies).
    voice_tts_cache_items: int = Field(default=256, ge=1)

    #: Redis shared by the gateways of one PBX (``redis://host:port/db``): their
    #: call registry, so the dialplan may ask any of them. Unset: in memory.
    voice_redis_url: SecretStr | None = None
    #: A Redis command not answered within this time counts as Redis down.
    voice_redis_timeout_s: float = Field(default=1.0, gt=0)

    #: Calls served at once; one more hears "线路繁忙" and is hung up.
    voice_max_calls: int = Field(default=20, ge=1)
    #: Free-speech decoders kept warm for the next calls (about 50 MB each), warmed
    #: at start-up on the line's own prompts: a new decoder's first sentences cost
    #: it about three times the CPU. The calls one gateway keeps in real time on
    #: two cores; 0: every call builds its own.
    voice_warm_decoders: int = Field(default=6, ge=0)

    @field_validator("rasa_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("voice_control_secret", "voice_redis_url", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("vosk_model_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def load_settings(**overrides: Any) -> VoiceSettings:
    """Settings from the environment; keyword overrides win."""
    return VoiceSettings(**overrides)
