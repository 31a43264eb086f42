"""Bad input through the real entry point: one readable message, exit status 2, and
nothing good overwritten (DESIGN invariant 6)."""
import errno
import os

import pytest
import torch
from torch import nn

import codes  # noqa: F401  (registers the digits example)
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.schedule.scheduler import BaseScheduler

from conftest import DIGITS_PY


@BUILD_NETWORK_REGISTRY.register()
class NaNAfterNet(nn.Module):
    """DigitsNet whose training outputs turn NaN from the ``nan_after``-th forward on."""

    def __init__(self, nan_after: int = 5, **digits_net_kwargs):
        super().__init__()
        self.net = BUILD_NETWORK_REGISTRY.get("DigitsNet")(**digits_net_kwargs)
        self.nan_after, self.calls = nan_after, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.nan_after:
                out = out * float("nan")
        return out


def schedule(tmp_path, *extra):
    """Run the scheduler in-process; returns its exit status (0 when it returns)."""
    argv = ["--config-file", DIGITS_PY, "output_dir", str(tmp_path), "dataloader.num_workers", "0",
            "trainer.progress_bar", "False", "solver.max_iter", "8",
            "solver.generator.lr_scheduler.params.warmup_iter", "2", *extra]
    try:
        BaseScheduler().schedule(argv)
    except SystemExit as e:
        return e.code
    return 0


def error_line(capsys):
    return error_line_of(capsys.readouterr().err)


def test_missing_config_file(tmp_path, capsys):
    assert BaseScheduler_exit(["--config-file", str(tmp_path / "missing.py")]) == 2
    assert "config file not found" in error_line(capsys)


def BaseScheduler_exit(argv):
    with pytest.raises(SystemExit) as info:
        BaseScheduler().schedule(argv)
    return info.value.code


def test_unregistered_model_lists_registered_names_and_import_hint(tmp_path, capsys):
    assert schedule(tmp_path, "trainer.model.name", "DigitClassifier") == 2
    line = error_line(capsys)
    assert "trainer.model.name" in line and "'DigitClassifier' is not registered" in line
    assert "Did you mean 'DigitsClassifier'" in line and "imported" in line


def test_unregistered_dataset_is_named_with_its_config_path(tmp_path, capsys):
    assert schedule(tmp_path, "dataloader.train_data_set.name", "Nope") == 2
    line = error_line(capsys)
    assert "dataloader.train_data_set.name" in line and "BUILD_DATASET" in line


def test_dataset_parameters_that_do_not_fit_are_named(tmp_path, capsys):
    assert schedule(tmp_path, "dataloader.train_data_set.splt", "'train'") == 2
    line = error_line(capsys)
    assert "dataloader.train_data_set" in line and "DigitsDataset" in line and "splt" in line


def test_unregistered_transform_is_named_with_its_position(tmp_path, capsys):
    path = tmp_path / "cfg.py"
    path.write_text(open(DIGITS_PY).read().replace('name="Pad"', 'name="Padd"'))
    argv = ["--config-file", str(path), "output_dir", str(tmp_path)]
    assert BaseScheduler_exit(argv) == 2
    line = error_line(capsys)
    assert "transformer[1]" in line and "Padd" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda(tmp_path, capsys):
    assert schedule(tmp_path, "trainer.device", "cuda") == 2
    line = error_line(capsys)
    assert "CUDA is not available" in line and "trainer.device" in line


def test_bad_device_string(tmp_path, capsys):
    assert schedule(tmp_path, "trainer.device", "gpu0") == 2
    assert "trainer.device" in error_line(capsys)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    code = schedule(tmp_path, "trainer.model.generator", "{'name': 'NaNAfterNet', 'nan_after': 5}",
                    "solver.checkpoint_period", "2", "trainer.model.ema.enable", "False")
    assert code == 2
    line = error_line(capsys)
    assert "non-finite loss at iteration 5" in line and "cls=nan" in line
    ckpt = tmp_path / "digits" / "checkpoints"
    assert (ckpt / "last_checkpoint").read_text().strip() == "model_0000004.pth"
    assert not (ckpt / "model_final.pth").exists()
    state = torch.load(ckpt / "model_0000004.pth", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"]["g_model"].values())


def test_eval_only_without_weights_or_checkpoints(tmp_path, capsys):
    argv = ["--config-file", DIGITS_PY, "--eval-only", "output_dir", str(tmp_path),
            "dataloader.num_workers", "0"]
    assert BaseScheduler_exit(argv) == 2
    assert "nothing to evaluate" in error_line(capsys)


def test_missing_weights_file(tmp_path, capsys):
    assert schedule(tmp_path, "trainer.weights", str(tmp_path / "none.pth")) == 2
    line = error_line(capsys)
    assert "trainer.weights" in line and "none.pth" in line


def test_missing_training_dataset(tmp_path, capsys):
    assert schedule(tmp_path, "dataloader.train_data_set.name", "''") == 2
    assert "dataloader.train_data_set.name is not set" in error_line(capsys)


def test_accumulation_that_does_not_divide_the_batch(tmp_path, capsys):
    assert schedule(tmp_path, "solver.gradient_accumulation_batch", "5") == 2
    assert "divisible" in error_line(capsys)


def test_zero_processes_requested(tmp_path, capsys):
    argv = ["--config-file", DIGITS_PY, "--num-gpus", "0", "output_dir", str(tmp_path)]
    assert BaseScheduler_exit(argv) == 2
    assert "--num-gpus" in error_line(capsys)
    assert not os.path.exists(tmp_path / "digits")


def test_unknown_flag_is_refused_not_taken_as_an_override(tmp_path, capsys):
    argv = ["--config-file", DIGITS_PY, "--resum", "output_dir", str(tmp_path)]
    assert BaseScheduler_exit(argv) == 2
    assert "unknown option --resum" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "digits")


def test_flags_may_follow_overrides(tmp_path):
    trainer = BaseScheduler().schedule([
        "--config-file", DIGITS_PY, "output_dir", str(tmp_path), "solver.max_iter", "2",
        "--resume", "dataloader.num_workers", "0", "trainer.progress_bar", "False",
        "solver.generator.lr_scheduler.params.warmup_iter", "1"])
    assert trainer.cfg.DATALOADER.NUM_WORKERS == 0 and trainer.start_iter == 0


def test_failed_resume_leaves_the_run_config_untouched(tmp_path, capsys):
    assert schedule(tmp_path, "solver.max_iter", "2") == 0
    config = tmp_path / "digits" / "config.yaml"
    before = config.read_text()
    assert schedule(tmp_path, "--resume", "trainer.model.name", "Missing") == 2
    assert "Missing" in error_line(capsys)
    assert config.read_text() == before


@pytest.mark.parametrize("writer, method, code, hint", [
    ("JsonWriter", "write", errno.ENOSPC, "full"),
    ("TensorboardWriter", "open", errno.EACCES, "permission"),
])
def test_a_writer_io_error_is_one_line_naming_its_file(tmp_path, capsys, monkeypatch, writer, method, code, hint):
    """metrics.jsonl on a disk that fills up, a TensorBoard folder that cannot be
    written: one error line (exit 2) naming the file, no traceback."""
    from engine.trainer.hooks import writers

    cls, real = getattr(writers, writer), getattr(getattr(writers, writer), method)
    calls = []

    def failing(self, *args):
        calls.append(args)
        if method == "open" or len(calls) >= 2:  # metrics.jsonl: its second record
            raise OSError(code, os.strerror(code))
        return real(self, *args)

    monkeypatch.setattr(cls, method, failing)
    assert schedule(tmp_path, "trainer.log_period", "2") == 2
    err = capsys.readouterr().err
    line = error_line_of(err)
    assert "Traceback" not in err
    where = "metrics.jsonl" if writer == "JsonWriter" else str(tmp_path / "digits")
    assert where in line and errno.errorcode[code] in line and hint in line, line


def error_line_of(err):
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


class FillingFile:
    """A log file on a disk with room for ``room`` more writes, then ENOSPC."""

    def __init__(self, stream, room):
        self.stream, self.room = stream, room

    def write(self, text):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def close(self):
        self.stream.close()


def test_a_full_disk_under_log_txt_is_one_error_line(tmp_path, capsys, monkeypatch):
    """Issue 25 item 14: not four '--- Logging error ---' tracebacks before it."""
    import logging

    real_open = logging.FileHandler._open

    def filling_open(self):
        stream = real_open(self)
        return FillingFile(stream, 12) if self.baseFilename.endswith("log.txt") else stream

    monkeypatch.setattr(logging.FileHandler, "_open", filling_open)
    assert schedule(tmp_path, "trainer.log_period", "2") == 2
    err = capsys.readouterr().err
    line = error_line_of(err)
    assert "Logging error" not in err and "Traceback" not in err, err
    assert "cannot write the log file" in line and "log.txt" in line and "ENOSPC" in line, line


def test_a_full_disk_under_tensorboard_is_one_error_line_without_a_thread_traceback(tmp_path, capsys, monkeypatch):
    """Issue 25 item 14: TensorBoard's writer thread fails first; the main thread says it once."""
    import threading

    from tensorboard.summary.writer.record_writer import RecordWriter

    real_write, writes, thread_errors = RecordWriter.write, [], []

    def write(self, data):  # TensorBoard's writer thread calls it
        writes.append(1)
        if len(writes) > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, data)

    monkeypatch.setattr(RecordWriter, "write", write)
    # what threading.excepthook would print as "Exception in thread ..."
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_type))
    assert schedule(tmp_path, "trainer.log_period", "1") == 2
    err = capsys.readouterr().err
    line = error_line_of(err)
    assert not thread_errors and "Traceback" not in err, (thread_errors, err)
    assert "TensorboardWriter" in line and "ENOSPC" in line, line
