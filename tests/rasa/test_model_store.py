"""bot/model_store.py: two processes asking for a model that is not there train it once."""
from __future__ import annotations

import threading
import time

from bot import model_store


def test_a_second_caller_waits_for_the_training_under_way_and_takes_its_model(
        tmp_path, monkeypatch, capsys):
    target = tmp_path / "models" / "zh-0123456789abcdef.tar.gz"
    trainings: list[float] = []

    def train(root=None):
        trainings.append(time.monotonic())
        time.sleep(0.5)  # while the other caller asks
        target.write_bytes(b"model")
        return target

    monkeypatch.setattr(model_store, "model_path", lambda root=None: target)
    monkeypatch.setattr(model_store, "train", train)
    got: list = []
    callers = [threading.Thread(target=lambda: got.append(model_store.ensure())) for _ in range(2)]
    for caller in callers:
        caller.start()
        time.sleep(0.1)
    for caller in callers:
        caller.join(10)
    assert got == [target, target]
    assert len(trainings) == 1
    assert "another process is training a model here; waiting" in capsys.readouterr().err
    assert model_store.ensure() == target and len(trainings) == 1  # there: no lock, no training
