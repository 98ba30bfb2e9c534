"""``python -m voice``: the phone line's gateway (AudioSocket server and the dialplan's API).

Configuration from the environment (see ``settings.py``): ``VOSK_MODEL_PATH``,
``VOICE_AUDIOSOCKET_PORT``, ``VOICE_CONTROL_PORT``, ``VOICE_BIND_HOST``,
``VOICE_CONTROL_SECRET`` (required: the dialplan presents it),
``WORKORDERS_SECRET_KEY`` and ``WORKORDERS_DEVELOPMENT`` (callers' ids and
numbers: the example key is refused outside development), ``RASA_URL``, ``CHANNEL_TOKEN_VOICE``,
``VOICE_TTS_RATE``, ``VOICE_MAX_CALLS``, ``VOICE_WARM_DECODERS`` and the timers; ``VOICE_REDIS_URL``
(gateways sharing their call registry in Redis; unset: in memory). Without a speech
model the line still answers: it says speech is unavailable and offers an
operator on 0. Prints "voice gateway ready" once listening; on
SIGTERM/SIGINT stops accepting calls, hands the calls in progress to a
person, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Sequence

import httpx
from pydantic import ValidationError

from integrations.rasa_rest import RasaRelay
from integrations.shared.privacy import (
    PrivacyKeyError,
    Vault,
    install_log_redaction,
    redact,
)
from integrations.shared.startup import StartupRefused, check_start

from . import prompts
from .answers import AnswerGrammar
from .asr import ModelMissing, NoSpeechModel, SpeechModel
from .call import CallDeps
from .control import MIN_SECRET_CHARS, CallRegistry, Registry, control_app, start_control
from .redis_registry import RedisCallRegistry
from .server import VoiceServer
from .settings import VoiceSettings, load_settings
from .tts import CachedSpeaker, EspeakSpeaker, Speaker, SpeechSynthesisError

log = logging.getLogger("voice")


class StartupError(Exception):
    """The gateway cannot serve calls (it could not speak, or not listen)."""


async def load_model(settings: VoiceSettings) -> SpeechModel | NoSpeechModel:
    """The speech model, loaded once (off the event loop); ``NoSpeechModel`` if there is none."""
    try:
        return await asyncio.to_thread(SpeechModel.load, settings.vosk_model_path)
    except ModelMissing as exc:
        log.warning("speech recognition is off, callers are offered an operator on 0: %s", exc)
        return NoSpeechModel()


async def load_speaker(settings: VoiceSettings) -> CachedSpeaker:
    """espeak-ng behind a cache, the fixed prompts rendered now."""
    speaker = CachedSpeaker(EspeakSpeaker(settings.voice_tts_rate),
                            max_items=settings.voice_tts_cache_items)
    try:
        await speaker.warm([part for text in prompts.ALL for part in speaker.parts(text)])
    except SpeechSynthesisError as exc:
        raise StartupError(f"the line cannot speak: {exc}") from exc
    return speaker


#: The prompts whose speech warms the decoders (about 13 s at the default rate).
WARM_PROMPTS = (prompts.STILL_THERE, prompts.NOT_HEARD)


async def warm_decoders(model: SpeechModel | NoSpeechModel, speaker: Speaker,
                        count: int) -> threading.Thread | None:
    """Warm ``count`` free-speech decoders on the line's own prompts, in the background
    (the thread doing it, if any)."""
    if not isinstance(model, SpeechModel) or count <= 0:
        return None
    audio = b"".join([await speaker.speak(text) for text in WARM_PROMPTS])
    return model.warm(audio, count)


def load_vault(settings: VoiceSettings) -> Vault:
    """The vault of the work-order service's key (``main``'s start-up check refused a bad one)."""
    try:
        return Vault(settings.workorders_secret_key.get_secret_value())
    except PrivacyKeyError as exc:
        raise StartupError(f"WORKORDERS_SECRET_KEY: {exc}") from None


def control_secret(settings: VoiceSettings) -> str:
    """The dialplan's shared secret; the gateway does not start without one."""
    secret = settings.voice_control_secret
    if secret is None or len(secret.get_secret_value().strip()) < MIN_SECRET_CHARS:
        raise StartupError(
            f"VOICE_CONTROL_SECRET must be set (at least {MIN_SECRET_CHARS} characters): the "
            "dialplan presents it to the control API (`make run` writes one to "
            "var/run/voice-control-secret)")
    return secret.get_secret_value()


async def serve(settings: VoiceSettings, stop: asyncio.Event) -> None:
    """Serve calls until ``stop`` is set."""
    secret, vault = control_secret(settings), load_vault(settings)
    model = await load_model(settings)
    try:
        await _serve(settings, stop, model, secret, vault)
    finally:
        model.close()


async def _serve(settings: VoiceSettings, stop: asyncio.Event,
                 model: SpeechModel | NoSpeechModel, secret: str, vault: Vault) -> None:
    speaker = await load_speaker(settings)
    await warm_decoders(model, speaker, settings.voice_warm_decoders)
    registry = make_registry(settings, vault)
    try:
        await _serve_calls(settings, stop, model, secret, vault, speaker, registry)
    finally:
        if isinstance(registry, RedisCallRegistry):
            await registry.close()


def make_registry(settings: VoiceSettings, vault: Vault) -> Registry:
    """In Redis with ``VOICE_REDIS_URL`` (shared with the other gateways), else in memory."""
    if settings.voice_redis_url is None:
        return CallRegistry(ttl_s=settings.voice_next_action_ttl_s)
    log.info("call registry in Redis (VOICE_REDIS_URL), shared with the other gateways")
    return RedisCallRegistry(settings.voice_redis_url.get_secret_value(), vault,
                             ttl_s=settings.voice_next_action_ttl_s,
                             timeout_s=settings.voice_redis_timeout_s)


async def _serve_calls(settings: VoiceSettings, stop: asyncio.Event,
                       model: SpeechModel | NoSpeechModel, secret: str, vault: Vault,
                       speaker: CachedSpeaker, registry: Registry) -> None:
    hears = isinstance(model, SpeechModel)
    async with httpx.AsyncClient() as http:
        deps = CallDeps(settings,
                        RasaRelay(settings.rasa_url, http, token=settings.channel_token_voice),
                        speaker, registry, model, vault, AnswerGrammar(model) if hears else None)
        server = VoiceServer(deps)
        health = lambda: {"calls": server.active_calls, "speech": hears,  # noqa: E731
                          "warm_decoders": model.idle_decoders if isinstance(model, SpeechModel) else 0,
                          **registry.health()}
        try:
            control = await start_control(control_app(registry, secret, health), settings.voice_bind_host,
                                          settings.voice_control_port)
        except OSError as exc:
            raise StartupError(f"control API port {settings.voice_control_port}: {exc}") from exc
        try:
            try:
                await server.start()
            except OSError as exc:
                raise StartupError(
                    f"AudioSocket port {settings.voice_audiosocket_port}: {exc}") from exc
            log.info("AudioSocket on %s:%d, control API on port %d, Rasa at %s",
                     settings.voice_bind_host, server.port, settings.voice_control_port,
                     settings.rasa_url)
            print("voice gateway ready", flush=True)
            await stop.wait()
            log.info("stopping: no new calls, calls in progress handed to a person")
            await server.stop()
        finally:
            await control.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voice",
                                     description="Phone line gateway: Asterisk AudioSocket ↔ Rasa.")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"invalid settings: {redact(str(exc))}", file=sys.stderr)
        return 2
    try:
        check_start("phone line gateway", development=settings.workorders_development,
                    secret_key=settings.workorders_secret_key.get_secret_value(),
                    bind_hosts=[settings.voice_bind_host], log=log)
    except StartupRefused as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(run())
    except StartupError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
