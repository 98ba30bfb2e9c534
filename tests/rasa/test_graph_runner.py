"""bot/graph_runner.py: the trained model's graph run in order gives what dask's run
gives, for the NLU pipeline and the policies, on messages of every style."""
from __future__ import annotations

import asyncio

import pytest
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import ExecutionContext, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner

from bot.graph_runner import OrderedGraphRunner, install_ordered_graph_runner


def ordered_copy(runner: DaskGraphRunner) -> OrderedGraphRunner:
    """An ordered runner over the same loaded nodes (the model is not loaded twice)."""
    ordered = object.__new__(OrderedGraphRunner)
    ordered.__dict__.update(runner.__dict__)
    return ordered


@pytest.fixture(scope="module")
def messages(heldout_styles):
    picked = heldout_styles[::7]
    assert len(picked) > 60
    return [example.text for example in picked] + ["", "？？？", "1", "取消"]


def test_parses_and_predictions_are_dasks(agent, messages):
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    processor = agent.processor
    dask_runner = processor.graph_runner
    assert type(dask_runner) is DaskGraphRunner

    def outcomes():
        parsed, predicted = [], []
        for n, text in enumerate(messages):
            parse = asyncio.run(agent.parse_message(text))
            tracker = DialogueStateTracker.from_events(f"runner-{n}", [
                ActionExecuted("action_listen"), UserUttered(text, parse["intent"],
                                                             parse["entities"], parse)],
                slots=agent.domain.slots)
            prediction = processor._predict_next_with_tracker(tracker)
            parsed.append(parse)
            predicted.append((prediction.policy_name, prediction.max_confidence,
                              list(prediction.probabilities)))
        return parsed, predicted

    expected = outcomes()
    try:
        processor.graph_runner = ordered_copy(dask_runner)
        got = outcomes()
    finally:
        processor.graph_runner = dask_runner
    assert got == expected
    # the comparison covers real readings: several intents, several next actions
    assert len({p["intent"]["name"] for p in expected[0]}) >= 5
    assert len({max(range(len(p[2])), key=p[2].__getitem__) for p in expected[1]}) >= 3


class Add:
    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def __call__(self, *inputs):
        self.calls.append(self.name)
        return self.name, sum(value for _, value in inputs) + 1


def small_runner(calls):
    """a -> b, a -> c, (b, c) -> d, and e that no target needs."""
    runner = object.__new__(OrderedGraphRunner)
    needs = {"a": {"x": "__x__"}, "b": {"i": "a"}, "c": {"i": "a"},
             "d": {"i": "b", "j": "c"}, "e": {"i": "a"}}
    runner._graph_schema = GraphSchema({
        name: SchemaNode(needs=n, uses=object, constructor_name="create", fn="run",
                         config={}, is_target=name == "d")
        for name, n in needs.items()})
    runner._instantiated_nodes = {name: Add(name, calls) for name in needs}
    runner._execution_context = ExecutionContext(runner._graph_schema)
    return runner


def test_each_needed_node_runs_once_after_its_needs():
    calls = []
    runner = small_runner(calls)
    assert runner.run(inputs={"__x__": 10}) == {"d": 25}  # a 11, b 12, c 12, d 25
    assert calls.index("a") < calls.index("b") < calls.index("d")
    assert calls.index("c") < calls.index("d") and sorted(calls) == ["a", "b", "c", "d"]
    calls.clear()
    assert runner.run(inputs={"__x__": 0}, targets=["b", "e"]) == {"b": 2, "e": 2}
    assert sorted(calls) == ["a", "b", "e"]


def test_an_input_named_like_a_node_takes_its_place_and_a_clash_is_refused():
    calls = []
    runner = small_runner(calls)
    assert runner.run(inputs={"__x__": 0, "b": 100}) == {"d": 103}  # c 2, d 100+2+1
    assert "b" not in calls
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        runner.run(inputs={"__x__": "a"})


def test_the_server_loads_models_with_the_ordered_runner():
    from rasa.core import processor

    original = processor.DaskGraphRunner
    try:
        install_ordered_graph_runner()
        assert processor.DaskGraphRunner is OrderedGraphRunner
    finally:
        processor.DaskGraphRunner = original
