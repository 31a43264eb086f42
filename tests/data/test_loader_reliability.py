"""The loaders end a run cleanly on bad data (issues 16.1, 15.1, 15.2).

A sample whose ``__getitem__`` raises, and a DataLoader worker killed while loading one,
end the run within seconds (the runs below are under a subprocess timeout; they used to
hang forever), exit 1, with one ``error:`` line naming the dataset index and its
``describe_sample`` path, the traceback in log.txt, and no worker left behind. The
validation loader's workers survive from one evaluation to the next.
"""
import multiprocessing
import os
import signal
import time

import pytest
import torch

from engine.config import get_default_cfg
from engine.data.build import build_train_loader, build_val_loader
from engine.data.dataset import EngineDataSet
from engine.data.failures import BatchTypeError, DataLoadingError
from engine.data.loader import worker_start_method
from engine.evaluation.evaluator import batch_fields

from conftest import ROOT

CPU = torch.device("cpu")


class Tiny(EngineDataSet):
    """12 one-number samples; ``fail_at`` raises, ``kill_at`` SIGKILLs the loading worker."""

    def __init__(self, fail_at=-1, kill_at=-1, tuples=False):
        super().__init__()
        self.fail_at, self.kill_at, self.tuples = fail_at, kill_at, tuples

    def __len__(self):
        return 12

    def describe_sample(self, index):
        return f"tiny/{index}.bin"

    def __getitem__(self, index):
        if index == self.fail_at:
            raise ValueError(f"boom {index}")
        if index == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        x = torch.tensor([float(index)])
        return (x, index) if self.tuples else {"input_data": x, "index": index}


def tiny_cfg(workers=2):
    cfg = get_default_cfg()
    cfg.DATALOADER.NUM_WORKERS = workers
    cfg.DATALOADER.SHUFFLE = False
    cfg.SOLVER.TRAIN_PER_BATCH = 2
    cfg.SOLVER.TEST_PER_BATCH = 2
    return cfg


def live_children():
    return {p.pid for p in multiprocessing.active_children()}


def first_error(iterable):
    with pytest.raises((DataLoadingError, BatchTypeError)) as info:
        for _ in iterable:
            pass
    return info.value


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failing_training_sample_is_named_and_the_workers_stop(workers):
    before = live_children()
    loader, _ = build_train_loader(Tiny(fail_at=5), tiny_cfg(workers), start_iter=0, device=CPU)
    error = first_error(loader)
    assert str(error) == ("dataloader.train_data_set (Tiny): sample 5 (tiny/5.bin) failed to load: "
                          "ValueError: boom 5")
    assert isinstance(error.__cause__, (ValueError, DataLoadingError))  # the worker's traceback
    assert live_children() <= before


def test_a_failing_validation_sample_is_named_and_the_workers_stop():
    before = live_children()
    loader = build_val_loader(Tiny(fail_at=9), tiny_cfg(), device=CPU)
    assert str(first_error(loader)).startswith("dataloader.val_data_set (Tiny): sample 9 (tiny/9.bin)")
    assert live_children() <= before and loader._iterator is None  # the next evaluation starts afresh


def test_a_worker_killed_while_loading_names_its_sample():
    before = live_children()
    loader, _ = build_train_loader(Tiny(kill_at=6), tiny_cfg(), start_iter=0, device=CPU)
    message = str(first_error(loader))
    assert "DataLoader worker 1" in message and "died (killed by SIGKILL) while loading sample 6 " \
           "(tiny/6.bin)" in message and "out-of-memory" in message
    assert live_children() <= before


def test_validation_workers_persist_across_evaluations():
    loader = build_val_loader(Tiny(), tiny_cfg(), device=CPU)
    assert loader.multiprocessing_context.get_start_method() == worker_start_method() == "fork"
    first = [int(b["index"].sum()) for b in loader]
    pids = [w.pid for w in loader._iterator._workers]
    assert [int(b["index"].sum()) for b in loader] == first == [1, 5, 9, 13, 17, 21]
    assert [w.pid for w in loader._iterator._workers] == pids and all(
        w.is_alive() for w in loader._iterator._workers)
    off = build_val_loader(Tiny(), tiny_cfg(), device=CPU, persistent_workers=False)
    assert [int(b["index"].sum()) for b in off] == first and off._iterator is None


def test_a_training_batch_that_is_not_a_dict_is_refused_like_a_validation_one():
    loader, _ = build_train_loader(Tiny(tuples=True), tiny_cfg(0), start_iter=0, device=CPU)
    message = str(first_error(loader))
    assert message.startswith("the training batch from dataloader.train_data_set (Tiny) is a list of "
                              "2 item(s), not a dict: __getitem__ must return a dict")
    with pytest.raises(BatchTypeError, match=r"^the validation batch from the validation set \(read by "
                       r"ClassificationEvaluator\) is a tuple of 2 item\(s\), not a dict with 'input_data' "
                       r"and 'target_data' \(set input_key/target_key\): __getitem__ must return a dict"):
        batch_fields((1, 2), {"input_key": "input_data", "target_key": "target_data"},
                     "ClassificationEvaluator")


# ---------------------------------------------------------------------- whole runs
RUNS = {
    "train_raises": (["dataloader.train_data_set.fail_at", "7"],
                     "dataloader.train_data_set (FaultyDigits): sample 7 (digits/0007.png) failed to load: "
                     "ValueError: cannot decode sample 7"),
    "val_raises": (["dataloader.val_data_set.fail_at", "30"],
                   "dataloader.val_data_set (FaultyDigits): sample 30 (digits/0030.png) failed to load: "
                   "ValueError: cannot decode sample 30"),
    "worker_killed": (["dataloader.train_data_set.kill_at", "20"],
                      "died (killed by SIGKILL) while loading sample 20 (digits/0020.png)"),
    "tuple_batches": (["dataloader.train_data_set.tuple_out", "True"],
                      "BatchTypeError: the training batch from dataloader.train_data_set (FaultyDigits) is a "
                      "list of 2 item(s), not a dict"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The runs of RUNS, started together as children of the fault-tolerance tests'
    forkserver (torch already imported); {name: (exit status, stderr, log.txt)}. Each
    exits through multiprocessing's exit, which joins the workers, as a DDP process does:
    where such runs used to hang."""
    import fault_tolerance_helpers
    import loader_faults_project

    base = tmp_path_factory.mktemp("faults")
    started = {}
    for name, (overrides, _) in RUNS.items():
        argv = ["--config-file", os.path.join(ROOT, "codes", "configs", "digits.py"),
                "output_dir", str(base / name), "output_log_name", "run", "trainer.progress_bar", "False",
                "dataloader.num_workers", "2", "dataloader.shuffle", "False",
                "dataloader.train_data_set.name", "FaultyDigits", "dataloader.val_data_set.name", "FaultyDigits",
                "solver.max_iter", "6", "solver.eval_period", "2", "solver.checkpoint_period", "100",
                "solver.train_per_batch", "8", "solver.generator.lr_scheduler.params.warmup_iter", "1",
                *overrides]
        started[name] = fault_tolerance_helpers.context().Process(
            target=loader_faults_project.child, args=(argv, str(base / f"{name}.out")))
        started[name].start()
    deadline, results = time.monotonic() + 120, {}
    for name, proc in started.items():
        proc.join(max(1.0, deadline - time.monotonic()))  # a hang fails the test, not the suite
        if proc.exitcode is None:
            proc.kill()
            proc.join()
        log_path = base / name / "run" / "log.txt"
        results[name] = (proc.exitcode, (base / f"{name}.out").read_text(),
                         log_path.read_text() if log_path.exists() else "")
    return results


@pytest.mark.parametrize("name", list(RUNS))
def test_a_run_with_bad_data_ends_with_the_sample_named(runs, name):
    rc, err, log = runs[name]
    expected = RUNS[name][1]
    assert rc == 1, err[-2000:]  # None: it hung
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and expected in error_lines[0], err[-2000:]
    assert "Traceback (most recent call last)" in log and expected in log
    if name.endswith("raises"):  # the sample's own exception, with its line, is in the log
        assert "raise ValueError(f\"cannot decode sample {index}\")" in log


def test_a_failing_test_split_sample_names_the_test_data_set(tmp_path):
    """--eval-only / engine-test --split test evaluate dataloader.test_data_set: an error
    there names that key, not the validation set's."""
    import codes  # noqa: F401
    from engine.config import load_cfg
    from engine.trainer.build import build_trainer

    cfg = load_cfg(os.path.join(ROOT, "codes", "configs", "digits.py"), [
        "output_dir", str(tmp_path), "dataloader.num_workers", "0", "trainer.device", "cpu"])
    trainer = build_trainer(cfg)
    trainer.test_set = Tiny(fail_at=1)
    with pytest.raises(DataLoadingError) as info:
        trainer.evaluate(0, "test")
    assert str(info.value).startswith("dataloader.test_data_set (Tiny): sample 1 (tiny/1.bin) failed to load")


def test_the_data_aug_md_module_spelling_imports_transform_compose():
    from engine.transforms.pip import TransformCompose as Spelled
    from engine.transforms.pipe import TransformCompose

    assert Spelled is TransformCompose
