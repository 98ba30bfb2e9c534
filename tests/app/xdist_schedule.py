"""How `make test-app` shares the application-side tests between its xdist workers.

xdist's ``--dist loadscope`` gives a worker a whole module at a time, so a
module-scoped stack or server is started once. This scheduler adds two rules:

- every module of a package in ``GROUPED`` is one unit of work, run by one
  worker: tests/app/e2e's modules share one package-scoped stack (Rasa needs
  about a minute to load), which is then started once, not once per worker;
- the units in ``HEAVY_FIRST`` (those that start whole stacks) are handed out
  before the rest, so that no worker starts a long unit while the other has
  nothing left to do.
"""
from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

#: packages whose modules run on one worker, in order (they share a package-scoped stack)
GROUPED = ("tests/app/e2e/",)
#: units handed out first, in this order: they start real stacks (a minute or more each)
HEAVY_FIRST = ("tests/app/e2e/", "tests/app/console/browser/")


class StackScheduling(LoadScopeScheduling):
    """``loadscope`` with the packages of ``GROUPED`` as one unit each, ``HEAVY_FIRST`` first."""

    def _split_scope(self, nodeid: str) -> str:
        for package in GROUPED:
            if nodeid.startswith(package):
                return package.rstrip("/")
        return super()._split_scope(nodeid)

    def schedule(self) -> None:
        if self.collection is None and self.registered_collections:
            # queue the heavy units first: the base class then fills the queue in its own
            # order (most tests first), and assigning an existing key keeps its place
            collection = next(iter(self.registered_collections.values()))
            units: dict[str, dict[str, bool]] = {}
            for nodeid in collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for prefix in HEAVY_FIRST:
                for scope, nodeids in units.items():
                    if (scope + "/").startswith(prefix) and scope not in self.workqueue:
                        self.workqueue[scope] = nodeids
        super().schedule()
