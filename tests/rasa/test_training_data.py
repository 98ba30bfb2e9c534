"""The NLU data honours the contract of taxonomy.yml and the data rules."""
from __future__ import annotations

import collections
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from actions.conversation import MEDIA_INTENTS
from bot.components.report_labels import REPORT_INTENTS
from tests.rasa.near_copies import near_pairs

ROOT = Path(__file__).resolve().parents[2]
TAXONOMY = yaml.safe_load((ROOT / "taxonomy.yml").read_text(encoding="utf-8"))
DOMAIN = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
MIN_EXAMPLES = 30
# intents only the chat adapter sends, as payloads (/share_photo{...}) that
# bypass the NLU: they have no examples, so typed text never gets them
PAYLOAD_INTENTS = frozenset(MEDIA_INTENTS)


def _category(message):
    return ((message.get("metadata") or {}).get("intent") or {}).get("category")


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def _grams(text: str) -> set:
    t = _normal(text)
    return {t[i:i + 2] for i in range(max(1, len(t) - 1))}


def test_taxonomy_copy_matches_the_shared_contract():
    shared = ROOT.parent / "shared" / "taxonomy.yml"
    if not shared.exists():
        pytest.skip("../shared/taxonomy.yml is not beside this checkout")
    assert (ROOT / "taxonomy.yml").read_text() == shared.read_text()


def test_domain_has_every_taxonomy_intent_by_its_exact_name():
    assert set(TAXONOMY["intents"]) <= set(DOMAIN["intents"])


def test_every_intent_and_category_has_enough_distinct_examples(training_data):
    per_intent = collections.Counter(m.get("intent") for m in training_data.intent_examples)
    per_category = collections.Counter(_category(m) for m in training_data.intent_examples)
    assert PAYLOAD_INTENTS <= set(DOMAIN["intents"])
    for intent in DOMAIN["intents"]:
        if intent in PAYLOAD_INTENTS:
            assert per_intent[intent] == 0, intent
        else:
            assert per_intent[intent] >= MIN_EXAMPLES, intent
    for code in TAXONOMY["categories"]:
        assert per_category[code] >= MIN_EXAMPLES, code


def test_report_categories_are_taxonomy_codes_of_the_right_kind(training_data):
    for message in training_data.intent_examples:
        code = _category(message)
        if message.get("intent") in REPORT_INTENTS:
            assert code in TAXONOMY["categories"], message.get("text")
            assert code.split(".")[0] == REPORT_INTENTS[message.get("intent")], message.get("text")
        else:
            assert code is None, message.get("text")


def test_no_duplicate_training_examples(training_data):
    seen = collections.Counter(_normal(m.get("text")) for m in training_data.intent_examples)
    assert [t for t, n in seen.items() if n > 1] == []


def test_no_near_duplicate_training_examples(training_data):
    examples = [(m.get("text"), _grams(m.get("text"))) for m in training_data.intent_examples]
    examples = [e for e in examples if len(e[1]) >= 6]
    near = [(examples[i][0], examples[j][0])
            for i, j in near_pairs([grams for _, grams in examples])]
    assert near == []


def _near_copies_of_training(examples, training_data):
    """Held-out examples that are an exact or near copy (character-bigram
    Jaccard >= 0.8, compared as the model sees them: normalised) of a
    training example."""
    from bot.components.normalization import normalize

    def seen(text):
        return normalize(text).text

    trained = [(_normal(seen(m.get("text"))), _grams(seen(m.get("text"))))
               for m in training_data.intent_examples]
    trained_texts = {t for t, _ in trained}
    near = []
    compared = []
    for example in examples:
        text = seen(example.text)
        grams = _grams(text)
        if len(grams) < 6:  # "你好", "转人工": short answers are bound to recur
            continue
        if _normal(text) in trained_texts:
            near.append((example.text, "(exact)"))
            continue
        compared.append((example.text, grams))
    for i, j in near_pairs([grams for _, grams in compared], [grams for _, grams in trained]):
        near.append((compared[i][0], trained[j][0]))
    return near


def test_the_styles_heldout_set_is_never_trained_on(heldout_styles, training_data):
    assert len(heldout_styles) >= 400
    assert _near_copies_of_training(heldout_styles, training_data) == []


def test_the_blind_set_is_never_trained_on(training_data):
    from bot.nlu_eval import BLIND, load_examples

    blind = load_examples(BLIND)
    assert len(blind) >= 250
    assert _near_copies_of_training(blind, training_data) == []


def test_the_near_copy_check_catches_copies(heldout_styles, training_data):
    """The check above can fail: a training example, a traditional-character
    version of it and one with a word changed are all caught."""
    from bot.nlu_eval import Example

    text = next(m.get("text") for m in training_data.intent_examples if len(m.get("text")) > 20)
    import opencc

    from bot.components.normalization import to_simplified  # noqa: F401 (OpenCC present)

    traditional = opencc.OpenCC("s2t").convert(text)
    changed = text[:-1] + ("啊" if text[-1] != "啊" else "呀")
    copies = [Example(t, "report_incident", None, False) for t in (text, traditional, changed)]
    assert len(_near_copies_of_training(copies, training_data)) == 3


def test_heldout_set_covers_everything_and_is_never_trained_on(heldout, training_data):
    assert len(heldout) >= 200
    assert {e.intent for e in heldout} >= set(TAXONOMY["intents"]) - {"other_request"}
    assert {e.category for e in heldout if e.category} >= {
        c for c in TAXONOMY["categories"] if not c.startswith("request.")}
    assert sum(e.emergency for e in heldout) >= 20
    trained = [(_normal(m.get("text")), _grams(m.get("text"))) for m in training_data.intent_examples]
    trained_texts = {t for t, _ in trained}
    compared = []
    for example in heldout:
        assert _normal(example.text) not in trained_texts, example.text
        grams = _grams(example.text)
        if len(grams) < 6:  # "你好", "是的": short answers are bound to recur
            continue
        compared.append((example.text, grams))
    near = [(compared[i][0], trained[j][0])
            for i, j in near_pairs([g for _, g in compared], [g for _, g in trained])]
    assert near == []


def test_entity_annotations_fall_on_jieba_token_boundaries(training_data, heldout):
    """Rasa warns about (and drops) entities that cut through a token. The
    tokenizer sees the text as the TextNormalizer leaves it."""
    import jieba
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.components.text_normalizer import TextNormalizer

    for path in sorted((ROOT / "nlu_data" / "jieba").iterdir()):
        jieba.load_userdict(str(path))

    messages = list(training_data.intent_examples) + list(
        load_data(str(ROOT / "tests" / "nlu" / "heldout.yml")).intent_examples)
    messages = [m for m in messages if m.get("entities")]
    TextNormalizer().process_training_data(TrainingData(messages))
    misaligned = []
    for message in messages:
        text = message.get("text")
        tokens = list(jieba.tokenize(text))
        starts = {s for _, s, _ in tokens}
        ends = {e for _, _, e in tokens}
        for entity in message.get("entities") or []:
            if entity["start"] not in starts or entity["end"] not in ends:
                misaligned.append((text, entity["value"]))
    assert misaligned == []


def test_rasa_data_validate_passes_without_warnings():
    """The one warning allowed is Rasa's note that a payload-only intent has no
    NLU examples (by design, see PAYLOAD_INTENTS); so it runs without
    --fail-on-warnings, and every other warning fails the test."""
    result = subprocess.run(
        [str(ROOT / ".venv-rasa" / "bin" / "rasa"), "data", "validate",
         "--domain", "bot/domain.yml", "--data", "nlu_data", "bot/data",
         "--config", "config.yml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    expected = [f"The intent '{intent}' is listed in the domain file, but is not found in "
                "the NLU training data." for intent in sorted(PAYLOAD_INTENTS)]
    for note in expected:
        assert note in output, output[-3000:]
    lowered = "\n".join(line for line in output.splitlines()
                        if not any(note in line for note in expected)).lower()
    for marker in ("misaligned", "found conflicts", "conflicting", "userwarning"):
        assert marker not in lowered, output[-3000:]
    assert "No story structure conflicts found" in output
