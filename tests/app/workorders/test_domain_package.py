"""The domain package: standard library only, no clock."""

import ast
import sys
from pathlib import Path

import pytest

import integrations.workorders.domain as domain

PACKAGE = Path(domain.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


# numerical libraries, no I/O: the surge test's negative-binomial tail (issue 14)
ALSO_ALLOWED = {"surges.py": {"numpy", "scipy"}}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_imports_only_the_standard_library(path):
    for name in imports(path):
        top = name.split(".")[0]
        assert (top == "__future__" or top in sys.stdlib_module_names
                or top in ALSO_ALLOWED.get(path.name, ())), (path.name, name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_never_reads_the_clock(path):
    source = path.read_text(encoding="utf-8")
    for call in ("now(", "utcnow(", "today(", "time.time(", "os.environ", "getenv("):
        assert call not in source, (path.name, call)


def test_public_names_are_exported():
    for name in domain.__all__:
        assert hasattr(domain, name), name

