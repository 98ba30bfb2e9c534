"""Fixtures for the Rasa side. The model is the one `make model` trained for
the current inputs; `make test` builds it before running these tests."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")


@pytest.fixture(scope="session")
def agent():
    from bot.model_store import model_path
    from bot.nlu_runtime import load_agent

    path = model_path()
    if not path.exists():
        pytest.fail(f"{path.name} is missing: run `make model` (make test does it first)")
    logging.getLogger("rasa").setLevel(logging.WARNING)
    return load_agent(path)


@pytest.fixture(scope="session")
def training_data():
    """All NLU training data (the YAML files under nlu_data/, as `rasa train` reads them)."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.model_store import ROOT

    files = sorted((ROOT / "nlu_data").rglob("*.yml"))
    return TrainingData().merge(*[load_data(str(f)) for f in files])


@pytest.fixture(scope="session")
def heldout():
    from bot.nlu_eval import load_examples

    return load_examples()


@pytest.fixture(scope="session")
def heldout_styles():
    from bot.nlu_eval import HELDOUT_STYLES, load_examples

    return load_examples(HELDOUT_STYLES)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A real work-order API with the demo data, one per test module, and a
    supervisor's token (``service.supervisor``)."""
    from tests.rasa.workorder_service import running_service

    with running_service(tmp_path_factory.mktemp("workorders")) as running:
        running.supervisor = running.staff_token("actions-test-sup", "supervisor")
        yield running
