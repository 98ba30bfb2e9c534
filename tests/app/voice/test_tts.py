"""Speech synthesis: what is said, the 22050 → 8000 Hz resampler, real espeak-ng, the cache."""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from voice.tts import (
    DEFAULT_VOICE,
    CachedSpeaker,
    EspeakSpeaker,
    SpeechSynthesisError,
    parse_wav,
    resample,
    split_for_speech,
    spoken,
)

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (make voice-deps installs it)")

PROMPT = "您好，这里是社区服务热线。请问您要反映什么问题？"


def samples(pcm: bytes) -> np.ndarray:
    assert len(pcm) % 2 == 0
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def seconds(pcm: bytes) -> float:
    return len(pcm) / 16000


# ------------------------------------------------------------------ spoken()

@pytest.mark.parametrize(("text", "said"), [
    ("工单号 48082800", "工单号 四 八 零 八 二 八 零 零"),
    ("工单号48082811。", "工单号四 八 零 八 二 八 幺 幺。"),
    ("预计今天23:19前办结", "预计今天23点19分前办结"),
    ("明天9:05", "明天9点零5分"),
    ("明天18:00前", "明天18点前"),
    ("8:00-17:30", "8点到17点30分"),
    ("11月24日18:00", "11月24日18点"),
    ("2024年5月3日", "二零二四年5月3日"),  # a year: digit by digit, 一 not 幺
    ("1998年", "一九九八年"),
    ("2024-05-03", "二零二四年5月3日"),
    ("联系电话：13800001234。", "联系电话，幺 三 八，零 零 零 零，幺 二 三 四。"),
    ("0571-88886666", "零 五 七 幺，八 八 八 八 六 六 六 六"),
    ("302室", "三 零 二室"),
    ("15号楼", "15号楼"),  # one or two digits: a number
    ("12-3号", "12杠3号"),
    ("赔了1500元", "赔了1500元"),  # a quantity: espeak says 一千五百
    ("3.5米", "3点五米"),
    ("50%", "百分之50"),
    ("按*号键重听，按#结束", "按星号键重听，按井号结束"),
    ("比如“楼上漏水”“路灯坏了”，也可以", "比如 楼上漏水、路灯坏了，也可以"),
    ("请说“对”或“不对”，也可以按1或2。", "请说 对 或 不对，也可以按1或2。"),
    ("（测试）【注意】地点：幸福小区", "测试，注意，地点，幸福小区"),
    ("东门/西门", "东门 西门"),
    ("好的!! 再见...", "好的！再见……"),
    ("地点：幸福小区；附照片2张。对吗？", "地点，幸福小区；附照片2张。对吗？"),
    ("😀你好~", "你好"),
    ("", ""),
])
def test_spoken(text: str, said: str) -> None:
    assert spoken(text) == said


@pytest.mark.parametrize("text", [
    "已为您登记，工单号 48082800。预计明天18:00前办结。",
    "联系电话：13800001234；地点：幸福小区3号楼302室（东门/西门）",
    "“楼上漏水”“路灯坏了”，2024-05-03 9:05，50%",
])
def test_spoken_leaves_nothing_to_misread_and_is_stable(text: str) -> None:
    said = spoken(text)
    assert spoken(said) == said
    assert not set(said) & set(":：/“”（）()【】%*#")
    assert not any(len(run) >= 3 for run in "".join(c if c.isdigit() else " " for c in said).split())


def test_split_for_speech_cuts_after_sentences_then_commas() -> None:
    text = "第一句话说完了。第二句也说完了！" + "很长的一句，" * 10 + "结束。"
    parts = split_for_speech(text, 20)
    assert "".join(parts) == text
    assert all(len(p) <= 20 for p in parts)
    assert parts[0] == "第一句话说完了。第二句也说完了！"
    assert all(p[-1] in "。！，" for p in parts)
    assert split_for_speech("短句。", 20) == ["短句。"]
    assert split_for_speech("", 20) == []
    assert [len(p) for p in split_for_speech("无标点" * 20, 25)] == [25, 25, 10]


# ------------------------------------------------------------------ WAV and resampling

def test_parse_wav_reads_to_the_end_despite_placeholder_sizes() -> None:
    pcm = np.arange(-500, 500, dtype="<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 0x7FFFF024) + b"WAVE"
              + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
              + b"data" + struct.pack("<I", 0x7FFFF000))
    x, rate = parse_wav(header + pcm)
    assert rate == 22050
    assert x.tolist() == list(range(-500, 500))
    with pytest.raises(SpeechSynthesisError):
        parse_wav(b"not a wav file at all")


def tone_at(freq: float, rate: int, secs: float = 1.0, amplitude: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * secs)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    middle = x[len(x) // 10: -len(x) // 10]  # away from the edges
    power = np.abs(np.fft.rfft(middle * np.hanning(middle.size))) ** 2
    return np.fft.rfftfreq(middle.size, 1 / rate), power


def test_resampled_1khz_tone_stays_1khz_with_little_energy_elsewhere() -> None:
    out = resample(tone_at(1000, 22050), 22050, 8000)
    assert abs(out.size - 8000) <= 1
    freqs, power = spectrum(out, 8000)
    assert abs(freqs[np.argmax(power)] - 1000) < 5
    near = np.abs(freqs - 1000) <= 20
    assert power[~near].sum() < 1e-6 * power[near].sum()
    middle = out[800:-800]
    assert rms(middle) == pytest.approx(10000 / np.sqrt(2), rel=0.01)  # unity gain in the pass band


def test_resampling_attenuates_6khz_instead_of_folding_it_to_2khz() -> None:
    src = tone_at(6000, 22050)
    out = resample(src, 22050, 8000)
    freqs, power = spectrum(out, 8000)
    ref_freqs, ref_power = spectrum(resample(tone_at(2000, 22050), 22050, 8000), 8000)
    at_2k = np.abs(freqs - 2000) <= 20
    # at least 60 dB below a 2 kHz tone of the same level
    assert power[at_2k].sum() < 1e-6 * ref_power[at_2k].sum()
    assert rms(out[800:-800]) < 1e-3 * rms(src)
    # what the test guards against: dropping samples folds 6 kHz onto 2 kHz at full level
    naive = src[np.round(np.arange(8000) * 22050 / 8000).astype(int)]
    _, naive_power = spectrum(naive, 8000)
    assert naive_power[at_2k].sum() > 0.1 * ref_power[at_2k].sum()


def test_telephone_band_passes() -> None:
    for freq in (300, 3000, 3300):
        out = resample(tone_at(freq, 22050), 22050, 8000)[800:-800]
        assert rms(out) == pytest.approx(10000 / np.sqrt(2), rel=0.02), freq


# ------------------------------------------------------------------ real espeak-ng

@needs_espeak
def test_default_voice_reads_characters_in_mandarin() -> None:
    # espeak-ng 1.51's "cmn" voice reads 你好 as English-spelled pinyin ("(en)...")
    phonemes = subprocess.run([ESPEAK, "-q", "-x", "-v", DEFAULT_VOICE, "你好，工单号"],
                              capture_output=True, text=True, check=True).stdout
    assert phonemes.strip() and "(en)" not in phonemes


@needs_espeak
@pytest.mark.asyncio
async def test_mandarin_speech_is_8khz_pcm_and_not_silent() -> None:
    speaker = EspeakSpeaker(rate_wpm=130)
    started = time.perf_counter()
    pcm = await speaker.speak(PROMPT)
    elapsed = time.perf_counter() - started
    x = samples(pcm)
    assert rms(x) > 1000  # speech, not silence (measured: about 3800)
    # the same text straight from espeak-ng (22050 Hz) lasts as long: the rate really is 8 kHz
    wav = subprocess.run([ESPEAK, "-v", DEFAULT_VOICE, "-s", "130", "--stdout", spoken(PROMPT)],
                         capture_output=True, check=True).stdout
    raw, rate = parse_wav(wav)
    assert rate == 22050
    assert raw.size / rate - 0.6 <= seconds(pcm) <= raw.size / rate + 0.01
    assert seconds(pcm) > 3
    assert elapsed < seconds(pcm)  # far faster than real time (measured: under 0.1 s)


@needs_espeak
@pytest.mark.asyncio
async def test_duration_grows_with_text_and_shrinks_with_rate() -> None:
    slow, fast = EspeakSpeaker(rate_wpm=130), EspeakSpeaker(rate_wpm=200)
    short = await slow.speak("您好。")
    longer = await slow.speak(PROMPT)
    quicker = await fast.speak(PROMPT)
    assert seconds(short) < seconds(longer) / 3
    assert seconds(quicker) < seconds(longer) * 0.8
    # a work-order number read digit by digit takes longer than the number said as a number
    digits = await slow.speak("工单号 48082800")
    assert seconds(digits) > seconds(await slow.speak("工单号 四千八百"))


@needs_espeak
@pytest.mark.asyncio
async def test_long_text_is_said_in_parts_with_pauses() -> None:
    speaker = EspeakSpeaker(part_chars=30, pause_s=0.3)
    sentence = "请您告诉我发生了什么事情。"
    whole = await speaker.speak(sentence * 6)
    assert speaker.processes_started == 3  # two sentences (26 characters) per part
    one = await EspeakSpeaker().speak(sentence * 2)
    assert seconds(whole) == pytest.approx(3 * seconds(one) + 2 * 0.3, abs=0.05)
    # beyond max_chars is left out
    capped = EspeakSpeaker(part_chars=30, max_chars=60)
    assert seconds(await capped.speak(sentence * 20)) < seconds(whole) * 0.9


@needs_espeak
@pytest.mark.asyncio
async def test_unknown_voice_is_a_clear_error() -> None:
    with pytest.raises(SpeechSynthesisError, match="voice 'nosuchvoice'"):
        await EspeakSpeaker(voice="nosuchvoice").speak("你好")


@pytest.mark.asyncio
async def test_missing_program_is_a_clear_error() -> None:
    speaker = EspeakSpeaker(executable="no-such-espeak-ng-program")
    with pytest.raises(SpeechSynthesisError, match="not found: install the espeak-ng package"):
        await speaker.speak("你好")


@pytest.mark.asyncio
async def test_a_hanging_program_times_out_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    hang = tmp_path / "hang"
    hang.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 30\n")
    hang.chmod(0o755)
    speaker = EspeakSpeaker(executable=str(hang), timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(SpeechSynthesisError, match="longer than 0.5 s"):
        await speaker.speak("你好")
    assert time.monotonic() - started < 5
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped


@pytest.mark.asyncio
async def test_nothing_to_say_starts_no_process() -> None:
    speaker = EspeakSpeaker(executable="no-such-espeak-ng-program")
    assert await speaker.speak("“”（）") == b""
    assert speaker.processes_started == 0


# ------------------------------------------------------------------ cache

def counting_espeak(tmp_path: Path) -> tuple[str, Path]:
    """An espeak-ng that notes every start in a file, so tests count real processes."""
    log = tmp_path / "starts"
    log.write_text("")
    wrapper = tmp_path / "espeak-counting"
    wrapper.write_text(f'#!/bin/sh\necho start >> {log}\nexec {ESPEAK} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), log


def starts(log: Path) -> int:
    return len(log.read_text().split())


@needs_espeak
@pytest.mark.asyncio
async def test_second_request_spawns_no_process(tmp_path: Path) -> None:
    executable, log = counting_espeak(tmp_path)
    cached = CachedSpeaker(EspeakSpeaker(executable=executable))
    first = await cached.speak(PROMPT)
    assert starts(log) == 1 and rms(samples(first)) > 1000
    again = await cached.speak(PROMPT)
    assert again == first
    assert starts(log) == 1
    assert (cached.hits, cached.misses) == (1, 1)


@needs_espeak
@pytest.mark.asyncio
async def test_concurrent_requests_for_one_text_synthesise_once(tmp_path: Path) -> None:
    executable, log = counting_espeak(tmp_path)
    cached = CachedSpeaker(EspeakSpeaker(executable=executable))
    results = await asyncio.gather(*(cached.speak("请稍候，正在为您转接。") for _ in range(6)))
    assert starts(log) == 1
    assert len(set(results)) == 1 and results[0]


@needs_espeak
@pytest.mark.asyncio
async def test_warm_renders_each_prompt_once_and_keeps_them(tmp_path: Path) -> None:
    executable, log = counting_espeak(tmp_path)
    cached = CachedSpeaker(EspeakSpeaker(executable=executable), max_items=1)
    prompts = ["线路繁忙，请稍后再拨。", "正在为您转接工作人员，请稍候。", "请问您还在吗？"]
    await cached.warm(prompts + prompts[:1])
    assert starts(log) == 3
    # other sentences come and go (max_items=1) but the prompts stay
    await cached.speak("好的。")
    await cached.speak("再见。")
    assert starts(log) == 5
    for prompt in prompts:
        assert await cached.speak(prompt)
    assert starts(log) == 5


@pytest.mark.asyncio
async def test_warm_reports_a_missing_program() -> None:
    cached = CachedSpeaker(EspeakSpeaker(executable="no-such-espeak-ng-program"))
    with pytest.raises(SpeechSynthesisError, match="not found"):
        await cached.warm(["您好。", "再见。"])
    assert len(cached) == 0


class FakeSpeaker:
    """Says every text as its length in bytes; counts calls; can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failing: set[str] = set()

    async def speak(self, text: str) -> bytes:
        self.calls.append(text)
        await asyncio.sleep(0.01)
        if text in self.failing:
            raise SpeechSynthesisError("broken")
        return text.encode()


@pytest.mark.asyncio
async def test_least_recently_used_text_goes_first() -> None:
    inner = FakeSpeaker()
    cached = CachedSpeaker(inner, max_items=2)
    for text in ("a", "b", "a", "c", "a", "b"):
        await cached.speak(text)
    # "b" was the least recently used when "c" came in, so it was said twice
    assert inner.calls == ["a", "b", "c", "b"]
    assert len(cached) == 2


@pytest.mark.asyncio
async def test_failures_are_shared_but_not_cached() -> None:
    inner = FakeSpeaker()
    inner.failing.add("x")
    cached = CachedSpeaker(inner)
    results = await asyncio.gather(cached.speak("x"), cached.speak("x"), return_exceptions=True)
    assert all(isinstance(r, SpeechSynthesisError) for r in results)
    assert inner.calls == ["x"]
    inner.failing.clear()
    assert await cached.speak("x") == b"x"
    assert inner.calls == ["x", "x"]


@pytest.mark.asyncio
async def test_a_caller_hanging_up_does_not_cancel_the_others() -> None:
    inner = FakeSpeaker()
    cached = CachedSpeaker(inner)
    first = asyncio.ensure_future(cached.speak("hello"))
    second = asyncio.ensure_future(cached.speak("hello"))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == b"hello"
    assert inner.calls == ["hello"]
    assert await cached.speak("hello") == b"hello" and inner.calls == ["hello"]
