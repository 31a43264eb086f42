"""The log line's ETA comes from the recent steps: the first step (the loader's worker
start-up) and the occasional slow one (an evaluation, a checkpoint) do not inflate it."""
from types import SimpleNamespace

import pytest
import torch

from engine.trainer.hooks import writers
from engine.trainer.hooks.writers import MetricsLogger


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_trainer(max_iter, records):
    """What MetricsLogger reads of a trainer; the event store's means are those of the
    steps since the last flush, as the real one gives them."""
    pending = []

    def flush():
        values = {"loss": 1.0, "iter_time": sum(pending) / len(pending), "data_time": 0.0}
        pending.clear()
        return values

    trainer = SimpleNamespace(iter=0, max_iter=max_iter, epoch=0, stop_request=None,
                              step_result=SimpleNamespace(skipped=False), write=records.append,
                              event_store=SimpleNamespace(flush=flush),
                              model=SimpleNamespace(log_values=dict, device=torch.device("cpu")))
    return trainer, pending


def run(monkeypatch, durations, period, max_iter):
    clock = Clock()
    monkeypatch.setattr(writers.time, "perf_counter", clock)
    records = []
    trainer, pending = fake_trainer(max_iter, records)
    hook = MetricsLogger(period)
    hook.trainer = trainer
    for i, seconds in enumerate(durations):
        trainer.iter = i
        clock.now += seconds
        pending.append(seconds)
        hook.after_step()
    return records


def test_the_first_steps_worker_start_up_is_not_in_the_eta(monkeypatch):
    # 6 s of worker start-up in the first step, then 0.25 s steps, one 3 s evaluation
    steps = [6.0] + [0.25] * 18 + [3.0] + [0.25] * 20
    records = run(monkeypatch, steps, period=10, max_iter=100)
    first = records[0]
    assert first["iter"] == 10 and first["iter_time"] == pytest.approx(0.825)  # the period's mean, as logged
    assert first["eta_seconds"] == pytest.approx(0.25 * 90)  # was iter_time x 90 = 74 s
    assert records[1]["eta_seconds"] == pytest.approx(0.25 * 80)  # the evaluation step is an outlier
    assert "eta: 0:00:22" in writers.format_log_line(first, 100, torch.device("cpu"))


def test_a_log_line_at_the_first_step_leaves_the_wait_for_data_out(monkeypatch):
    records = []
    trainer, _ = fake_trainer(50, records)
    trainer.event_store.flush = lambda: {"iter_time": 5.0, "data_time": 4.8}
    hook = MetricsLogger(1)
    hook.trainer = trainer
    hook.after_step()
    assert records[0]["eta_seconds"] == pytest.approx(0.2 * 49)
