"""The player speaks a reply part by part: the first sentence is heard while the rest
is still being synthesised (the second-turn latency of six callers at once)."""

from __future__ import annotations

import asyncio

import pytest

from voice.playback import Player
from voice.tts import speech_parts

REPLY = "情况紧急！请先确保自身安全，立即拨打110、120电话。我同时通知社区马上派人。"


def test_speech_parts_put_the_first_sentence_alone() -> None:
    assert speech_parts(REPLY) == [
        "情况紧急！", "请先确保自身安全，立即拨打110、120电话。我同时通知社区马上派人。"]
    assert speech_parts("好的") == ["好的"] and speech_parts("  ") == []
    long_first = "您反映的小区门口路灯不亮的问题，我们已经记下了，工作人员今天下午会去现场查看。谢谢。"
    parts = speech_parts(long_first)
    assert "".join(parts) == long_first and len(parts[0]) <= 24 and parts[-1] == "谢谢。"


class Recorder:
    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []

    async def send(self, data: bytes) -> bool:
        self.frames.append((asyncio.get_running_loop().time(), data))
        return True


class SlowSpeaker:
    """1.5 s to render anything but a first sentence."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def parts(self, text: str) -> list[str]:
        return speech_parts(text)

    async def speak(self, text: str) -> bytes:
        self.asked.append(text)
        if text != "情况紧急！":
            await asyncio.sleep(1.5)
        return bytes(320 * 5)


@pytest.mark.asyncio
async def test_the_first_sentence_plays_while_the_rest_is_synthesised() -> None:
    line, speaker = Recorder(), SlowSpeaker()
    started = asyncio.get_running_loop().time()
    await Player(line, speaker).play([REPLY])  # type: ignore[arg-type]
    assert speaker.asked == speech_parts(REPLY)
    assert len(line.frames) == 10
    assert line.frames[0][0] - started < 0.5  # not after the slow part
    assert line.frames[5][0] - started >= 1.5


@pytest.mark.asyncio
async def test_first_frame_is_signalled_once_per_reply() -> None:
    line, speaker = Recorder(), SlowSpeaker()
    heard: list[int] = []
    player = Player(line, speaker, on_first_frame=lambda: heard.append(len(line.frames)))  # type: ignore[arg-type]
    await player.play(["情况紧急！"])
    await player.play(["情况紧急！", "情况紧急！"])
    assert heard == [1, 6]  # after each run's first frame, not its later parts

