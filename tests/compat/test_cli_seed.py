"""The seed's command line and scheduler API (issue 11), fail-before-spawn, and what the
console and log.txt show (issue 15.2/15.3/15.5/15.8)."""
import os

import pytest
import torch
from torch import nn

import codes  # noqa: F401  (registers the digits example)
from codes.digits.dataset import DigitsDataset
from engine.config import load_cfg
from engine.data.build import BUILD_DATASET_REGISTRY
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.schedule import launch as launch_module
from engine.schedule.argparser import default_argument_parser, parse_command_line
from engine.schedule.determinism import CUBLAS_SETTING, enable_determinism
from engine.schedule.paradigm import paradigm_of_this_process
from engine.schedule.scheduler import BaseScheduler
from engine.schedule.summary import cpu_fallback_warning
from engine.trainer.build import build_trainer
from engine.utils import comm

from conftest import DIGITS_PY

TINY = ["dataloader.num_workers", "0", "trainer.progress_bar", "False", "solver.max_iter", "4",
        "solver.checkpoint_period", "4", "trainer.log_period", "2",
        "solver.generator.lr_scheduler.params.warmup_iter", "1", "solver.test_per_batch", "512"]


def schedule(scheduler, tmp_path, *extra, name="run"):
    argv = ["--config-file", DIGITS_PY, "output_dir", str(tmp_path), "output_log_name", name, *TINY, *extra]
    try:
        return 0, scheduler.schedule(argv)
    except SystemExit as e:
        return e.code, None


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error: ")]


# ------------------------------------------------------------------ flags
def parse(*argv):
    return parse_command_line(default_argument_parser(), ["--config-file", DIGITS_PY, *argv])


def test_opts_only_marks_where_overrides_start():
    args = parse("--opts", "solver.max_iter", "5", "DATALOADER.NUM_WORKERS", "2", "--resume")
    assert args.opts == ["solver.max_iter", "5", "DATALOADER.NUM_WORKERS", "2"] and args.resume
    assert parse("solver.max_iter", "5").opts == args.opts[:2]


def test_seed_flag_is_applied_after_the_overrides():
    args = parse("--seed", "7", "seed", "3")
    assert args.opts == ["seed", "3", "seed", "7"]
    assert load_cfg(DIGITS_PY, args.opts).SEED == 7


def test_seed_flag_out_of_range_is_refused(tmp_path, capsys):
    code, _ = schedule(BaseScheduler(), tmp_path, "--seed", str(2**64))
    assert code == 2 and "seed must be in [0, " in error_lines(capsys.readouterr().err)[0]


def test_distribute_and_dataparallel_are_refused_together(tmp_path, capsys):
    code, _ = schedule(BaseScheduler(), tmp_path, "--distribute", "trainer.parallel", "dp")
    assert code == 2
    assert "--distribute asks for DistributedDataParallel" in error_lines(capsys.readouterr().err)[0]


def test_distribute_is_accepted_for_one_process(tmp_path):
    assert parse("--distribute").distribute


@pytest.fixture
def restore_determinism(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1], before[2]


def test_deterministic_sets_torch_cudnn_and_cublas(restore_determinism):
    assert parse("--deterministic").deterministic
    enable_determinism()
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_SETTING


# ------------------------------------------------------------------ lunch_func, paradigm
class SeedStyleScheduler(BaseScheduler):
    """The seed's custom scheduler: its own lunch_func."""

    def lunch_func(self, cfg, args):
        self.seen = (dict(cfg.TRAINER.PARADIGM),
                     os.path.exists(os.path.join(cfg.OUTPUT_DIR, cfg.OUTPUT_LOG_NAME, "config.yaml")),
                     torch.are_deterministic_algorithms_enabled())
        trainer = build_trainer(cfg)
        trainer.resume_or_load(args.resume)
        trainer.loop()
        return trainer


def test_an_overriding_lunch_func_trains_through_schedule(tmp_path, capsys, restore_determinism):
    scheduler = SeedStyleScheduler()
    code, trainer = schedule(scheduler, tmp_path, "trainer.print_config", "True", "--deterministic")
    assert code == 0 and trainer.iter == 4
    assert "train_per_batch: 32" in capsys.readouterr().out  # trainer.print_config
    paradigm, config_written_before, deterministic = scheduler.seen
    assert deterministic  # --deterministic is applied in the process before lunch_func
    assert paradigm == {"TYPE": "NORMAL", "GPU_ID": None, "GLOBAL_RANK": 0, "WORLD_SIZE": 1, "NUM_PER_GPUS": 1}
    assert config_written_before  # the seed writes config.yaml before its lunch_func
    assert os.path.exists(tmp_path / "run" / "checkpoints" / "model_final.pth")


def test_paradigm_describes_the_process(monkeypatch):
    assert paradigm_of_this_process()["TYPE"] == "NORMAL"
    comm.set_local_info(0, 1, gpus_per_process=4)
    try:
        assert paradigm_of_this_process() == {"TYPE": "DP", "GPU_ID": None, "GLOBAL_RANK": 0,
                                              "WORLD_SIZE": 1, "NUM_PER_GPUS": 4}
    finally:
        comm.set_local_info(0, 1)
    monkeypatch.setattr(comm, "get_world_size", lambda: 4)
    monkeypatch.setattr(comm, "get_rank", lambda: 3)
    monkeypatch.setattr(comm, "get_local_rank", lambda: 1)
    monkeypatch.setattr(comm, "get_local_size", lambda: 2)
    assert paradigm_of_this_process() == {"TYPE": "DDP", "GPU_ID": 1, "GLOBAL_RANK": 3,
                                          "WORLD_SIZE": 4, "NUM_PER_GPUS": 2}


# ------------------------------------------------------------------ console and log.txt
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny digits run; its console output and run directory."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("summary")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code, _ = schedule(BaseScheduler(), root)
    assert code == 0, err.getvalue()
    return root / "run", out.getvalue()


def test_console_shows_a_short_summary_and_log_txt_the_config(trained_run):
    run_dir, console = trained_run
    assert "resolved config" not in console and "solver:" not in console
    for part in ("run: ", "model: DigitsClassifier (network DigitsNet)", "data: train 1438 samples, val 359 samples",
                 "steps: 4 x batch 32", "device: cpu, processes: 1"):
        assert part in console, console
    log = (run_dir / "log.txt").read_text()
    assert "resolved config" in log and "command line:" in log and "train_per_batch: 32" in log


@BUILD_DATASET_REGISTRY.register()
class RecordedDigits(DigitsDataset):
    """DigitsDataset that records the indices it served (to see which split was evaluated)."""

    served = []

    def __getitem__(self, index):
        RecordedDigits.served.append(index)
        return super().__getitem__(index)


def test_eval_only_evaluates_the_test_split_when_set(trained_run):
    run_dir, _ = trained_run
    RecordedDigits.served.clear()
    test_set = "{'name': 'RecordedDigits', 'split': 'val', 'classes': [3], " \
               "'transformer': [{'name': 'Resize', 'target_size': 16}, {'name': 'ToTensor'}]}"
    code, results = schedule(BaseScheduler(), run_dir.parent, "--eval-only", "dataloader.test_data_set", test_set)
    assert code == 0
    n = len(RecordedDigits(split="val", classes=[3]))
    assert sorted(RecordedDigits.served) == list(range(n)) and n < 359  # the test split, not val
    assert "accuracy" in results


@BUILD_NETWORK_REGISTRY.register()
class CrashingNet(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def forward(self, x):
        raise RuntimeError("boom in user code")


def test_an_exception_is_in_log_txt_with_its_traceback_and_one_error_line(tmp_path, capsys):
    code, _ = schedule(BaseScheduler(), tmp_path, "trainer.model.generator", "{'name': 'CrashingNet'}")
    err = capsys.readouterr().err
    assert code == 1
    assert error_lines(err) == ["error: the run stopped on an exception: RuntimeError: boom in user code "
                                "(traceback above, also in the run's log file)"]
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "Traceback (most recent call last)" in log and "boom in user code" in log


def test_a_gan_discriminator_is_checked_before_any_worker_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(launch_module.mp, "start_processes", None)  # calling it would fail
    gan = os.path.join(os.path.dirname(DIGITS_PY), "digits_gan.py")
    with pytest.raises(SystemExit) as info:
        BaseScheduler().schedule(["--config-file", gan, "--num-gpus", "2", "trainer.device", "cpu",
                                  "output_dir", str(tmp_path), "trainer.model.discriminator.hiden", "8"])
    lines = error_lines(capsys.readouterr().err)
    assert info.value.code == 2 and "trainer.model.discriminator: the parameters given do not fit" in lines[0]
    assert "(did you mean 'hidden' for 'hiden'?)" in lines[0] and os.listdir(tmp_path) == []


def test_cpu_fallback_warning(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "training 2 CPU processes" in cpu_fallback_warning("auto", 2)
    assert cpu_fallback_warning("cpu", 2) is None and cpu_fallback_warning("auto", 1) is None


# ------------------------------------------------------------------ fail before spawning
@pytest.mark.parametrize("overrides, expected", [
    (["solver.generator.lr_scheduler.params.warmup_iter", "50"], "warmup_iter=50 is longer than max_iter=4"),
    (["trainer.model.loss", "{'cls': [{'name': 'CrossEntropyLoss', 'parm': {}}]}"], "trainer.model.loss.cls[0]"),
    (["trainer.model.generator.name", "DigitNet"],
     "'DigitNet' is not registered in the BUILD_NETWORK registry. Did you mean 'DigitsNet'"),
    (["trainer.model.generator.widht", "8"], "(did you mean 'width' for 'widht'?)"),
    (["dataloader.train_data_set.name", "DigitSet"], "dataloader.train_data_set.name: 'DigitSet' is not registered"),
    (["dataloader.val_data_set.transformer", "[{'name': 'Resise'}]"], "dataloader.val_data_set.transformer[0]"),
    (["trainer.model.loss", "{'cls': [{'name': 'CrossEntropyLos'}]}"], "CrossEntropyLos"),
    (["trainer.evaluator.name", "Classification"], "trainer.evaluator.name: 'Classification' is not registered"),
    (["trainer.model.name", "Nope"], "trainer.model.name: 'Nope' is not registered"),
])
def test_a_config_that_cannot_work_fails_before_any_worker_starts(tmp_path, capsys, monkeypatch, overrides, expected):
    def no_spawn(*args, **kwargs):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(launch_module.mp, "start_processes", no_spawn)
    code, _ = schedule(BaseScheduler(), tmp_path, "--num-gpus", "2", "trainer.device", "cpu", *overrides)
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1 and expected in lines[0], lines
    assert not (tmp_path / "run").exists()

