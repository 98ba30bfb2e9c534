"""Rasa's model graph run in order in the calling thread, without dask's scheduler.

Rasa 3.6 runs its model graph (the NLU pipeline for every message, the
policies for every action it predicts: several times a turn) through
``DaskGraphRunner``: each run takes the minimal sub-graph for its targets (a
deep copy of the schema), turns it into a dask graph and hands it to dask's
synchronous scheduler, which orders it and runs each node in the calling
thread. The nodes and the order they need never change while the server runs,
so here the order is worked out once per set of targets and each run calls the
same ``GraphNode`` objects, in that order, with the same arguments dask gives
them: every need of a node is the ``(node name, output)`` pair its node
returned, an input is the pair ``(input name, value)``, and an input named like
a node takes that node's place. The result is dask's, a dict of each target's
pair. About a fifth of the CPU Rasa spends in its graph was dask's
(``benchmarks/results/rasa-turn-profile.md``).
"""
from __future__ import annotations

from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner


class OrderedGraphRunner(DaskGraphRunner):
    """``DaskGraphRunner`` whose runs call the nodes in a fixed order (see the module)."""

    def _plan(self, targets: tuple[str, ...]
              ) -> tuple[list[tuple[str, Any, tuple[str, ...]]], frozenset[str]]:
        """The nodes the targets need, each after its needs, and their names."""
        plans = self.__dict__.setdefault("_plans", {})
        plan = plans.get(targets)
        if plan is None:
            schema = self._graph_schema.minimal_graph_schema(list(targets))
            plan, seen = [], set()

            def visit(name: str, path: tuple[str, ...] = ()) -> None:
                if name in seen or name not in schema.nodes:
                    return
                if name in path:
                    raise GraphRunError(f"the graph has a cycle through '{name}'")
                needs = tuple(schema.nodes[name].needs.values())
                for need in needs:
                    visit(need, (*path, name))
                seen.add(name)
                plan.append((name, self._instantiated_nodes[name], needs))

            for target in targets:
                visit(target)
            plan = plans.setdefault(targets, (plan, frozenset(seen)))
        return plan

    def run(self, inputs: dict[str, Any] | None = None,
            targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        plan, node_names = self._plan(run_targets)
        results: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and (value in results or value in node_names):
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema.")
            results[name] = (name, value)
        try:
            for name, node, needs in plan:
                if name not in results:
                    results[name] = node(*(results.get(need, need) for need in needs))
            return dict(results.get(target, target) for target in run_targets)
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e


def install_ordered_graph_runner() -> None:
    """The message processor loads a model's graph with this runner instead of
    dask's (training keeps dask's)."""
    from rasa.core import processor

    processor.DaskGraphRunner = OrderedGraphRunner
