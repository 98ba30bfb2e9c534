"""``python -m voice`` as the PBX sees it: a separate process with real espeak-ng speech and
no speech model, driven over TCP and HTTP by the Asterisk-like client, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests.app.voice.doubles import RasaDouble
from tests.audiosocket_client import AudioSocketClient

REPO = Path(__file__).resolve().parents[3]
SECRET = "process-test-control-secret-42"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(process: asyncio.subprocess.Process, timeout: float = 90) -> None:
    assert process.stdout is not None
    async def ready() -> None:
        while line := await process.stdout.readline():
            if b"voice gateway ready" in line:
                return
        raise AssertionError("python -m voice exited before it was ready")
    await asyncio.wait_for(ready(), timeout)


@pytest.mark.asyncio
async def test_the_gateway_process_answers_without_a_model_and_stops_on_sigterm() -> None:
    rasa = RasaDouble()
    rasa_url = await rasa.start()
    audiosocket, control = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "VOSK_MODEL_PATH"}
    env.update(VOICE_AUDIOSOCKET_PORT=str(audiosocket), VOICE_CONTROL_PORT=str(control),
               VOICE_CONTROL_SECRET=SECRET, RASA_URL=rasa_url, VOICE_NO_SPEECH_S="30", PYTHONPATH=str(REPO))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voice", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_ready(process)
        url = f"http://127.0.0.1:{control}"
        async with httpx.AsyncClient(base_url=url) as http:  # the dialplan's API: secret only
            body = {"call_id": "0b9d1c1e-0000-4000-8000-000000000000", "caller": "13800000000"}
            assert (await http.post("/calls", data=body)).status_code == 401
            wrong = {"Authorization": "Bearer not-the-secret-at-all"}
            assert (await http.post("/calls", data=body, headers=wrong)).status_code == 401
            assert (await http.get("/health")).status_code == 200
        async with AudioSocketClient("127.0.0.1", audiosocket, caller="13800000000",
                                     control_url=url, control_secret=SECRET) as client:
            await client.wait_audio(timeout=10)  # the no-model greeting, spoken by espeak-ng
            await client.press("0")
            await client.wait_closed(timeout=20)
            assert client.hung_up_by_gateway
            assert len(client.audio) > 100  # seconds of speech
            assert await client.next_action() == "transfer"

        staying = AudioSocketClient("127.0.0.1", audiosocket, caller="13800000001", control_url=url,
                                    control_secret=SECRET)
        await staying.connect()
        await staying.wait_audio(timeout=10)
        process.send_signal(signal.SIGTERM)
        await staying.wait_closed(timeout=20)  # handed to a person, then hung up
        assert staying.hung_up_by_gateway
        await staying.close()
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await rasa.stop()
    stderr = (await process.stderr.read()).decode()
    assert stderr.count("speech recognition is off") == 1
    assert "VOSK_MODEL_PATH" in stderr
    assert "13800000000" not in stderr and "13800000001" not in stderr
    assert rasa.messages == []


@pytest.mark.asyncio
@pytest.mark.parametrize("settings, complaint, code", [
    ({}, "VOICE_CONTROL_SECRET must be set", 1),
    ({"VOICE_CONTROL_SECRET": "short"}, "VOICE_CONTROL_SECRET must be set", 1),
    # callers' ids and numbers under the public example key: only in development
    # (refused by the start-up check every process runs first)
    ({"VOICE_CONTROL_SECRET": SECRET, "WORKORDERS_DEVELOPMENT": "false"},
     "WORKORDERS_SECRET_KEY", 2),
])
async def test_the_gateway_process_refuses_to_start_without_its_secrets(
        settings, complaint, code) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VOSK_MODEL_PATH", "VOICE_CONTROL_SECRET", "WORKORDERS_SECRET_KEY",
                        "WORKORDERS_DEVELOPMENT")}
    env.update(VOICE_AUDIOSOCKET_PORT=str(free_port()), VOICE_CONTROL_PORT=str(free_port()),
               RASA_URL="http://127.0.0.1:9", PYTHONPATH=str(REPO), **settings)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voice", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == code
    assert b"voice gateway ready" not in out
    assert complaint in err.decode()
