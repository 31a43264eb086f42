"""Reliability of the run directory and its checkpoints (issues 15, 16): one run per
directory (run.lock), disk errors as one line with the checkpoints intact, checksums
verified on load, a defensive last_checkpoint, a lone model_best.pth protected, files
that follow the umask. Tiny digits runs (a few steps, in this process)."""
import errno
import os
import subprocess
import sys
import time

import pytest
import torch

import codes  # noqa: F401
from engine.schedule.run_lock import RunLock
from engine.schedule.scheduler import BaseScheduler
from engine.utils import atomic

from conftest import DIGITS_PY


def argv(out, *extra, max_iter=4):
    return ["--config-file", DIGITS_PY, "output_dir", str(out), "dataloader.num_workers", "0",
            "trainer.progress_bar", "False", "solver.checkpoint_period", "2", "solver.eval_period", "0",
            "solver.max_iter", str(max_iter), "solver.generator.lr_scheduler.params.warmup_iter", "1",
            "trainer.log_period", "100", *extra]


def run(out, *extra, **kw):
    """(exit status, seconds) of one run in this process."""
    start = time.monotonic()
    try:
        BaseScheduler().schedule(argv(out, *extra, **kw))
        code = 0
    except SystemExit as e:
        code = e.code
    return code, time.monotonic() - start


def snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name))}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 4-step run: model_0000002.pth and model_final.pth."""
    out = tmp_path_factory.mktemp("finished")
    assert run(out)[0] == 0
    return out / "digits"


def copy_run(src, dst):
    import shutil
    shutil.copytree(src, dst / "digits")
    os.unlink(dst / "digits" / "run.lock")
    return dst / "digits"


def test_a_second_run_into_a_locked_directory_exits_2_naming_the_holder(tmp_path, capsys):
    run_dir = tmp_path / "digits"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys; sys.path.insert(0, %r); from engine.schedule.run_lock import RunLock;"
        "RunLock(%r).acquire(); print('held', flush=True); sys.stdin.read()") % (os.getcwd(), str(run_dir))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, seconds = run(tmp_path)
        err = capsys.readouterr().err
        assert code == 2 and seconds < 30
        assert f"pid {holder.pid} on host " in err and "is in use by another run" in err
        assert sorted(os.listdir(run_dir)) == ["run.lock"]  # nothing else written
    finally:
        holder.kill()
        holder.wait(10)
    # SIGKILLed holder: the kernel dropped its lock; the next run starts
    assert run(tmp_path, max_iter=2)[0] == 0


def test_lock_is_released_after_a_run_and_the_same_process_can_lock_again(tmp_path):
    assert run(tmp_path, max_iter=2)[0] == 0
    with RunLock(str(tmp_path / "digits")) as lock:
        assert lock.held


@pytest.mark.parametrize("code, hint", [(errno.ENOSPC, "full"), (errno.EROFS, "read-only"),
                                        (errno.EACCES, "permission"), (errno.EMFILE, "open files")])
def test_an_io_error_while_saving_is_one_line_and_keeps_the_checkpoints(finished, tmp_path, capsys,
                                                                        monkeypatch, code, hint):
    run_dir = copy_run(finished, tmp_path)
    ckpt = run_dir / "checkpoints"
    before = snapshot(ckpt)
    real_write, real_create, doomed = atomic._RecordingFile.write, atomic._create_temporary, set()

    def create(path):  # the temporary file of checkpoint 6 is on a disk that fills up
        tmp, fd = real_create(path)
        if os.path.basename(path) == "model_0000006.pth":
            doomed.add(fd)
        return tmp, fd

    def write(self, data):  # ENOSPC from inside torch.save's stream, as a real disk gives it
        if self.fileno() in doomed:
            self.error = OSError(code, os.strerror(code))
            raise self.error
        return real_write(self, data)

    monkeypatch.setattr(atomic, "_create_temporary", create)
    monkeypatch.setattr(atomic._RecordingFile, "write", write)
    code_, seconds = run(tmp_path, "--resume", max_iter=8)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code_ == 2 and seconds < 30 and len(lines) == 1 and "Traceback" not in err
    assert "model_0000006.pth" in lines[0] and hint in lines[0] and errno.errorcode[code] in lines[0]
    assert "last_checkpoint names model_final.pth" in lines[0]
    assert snapshot(ckpt) == before  # no temporary left, nothing replaced


def test_disk_full_on_a_small_tmpfs(tmp_path, capsys):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); the ENOSPC case is covered by injection")
    try:
        code, seconds = run(mount, max_iter=2)
        err = capsys.readouterr().err
        assert code == 2 and seconds < 30 and "ENOSPC" in err and "Traceback" not in err, err
    finally:
        subprocess.run(["umount", "-l", str(mount)])  # lazily: this process's log.txt is still open


@pytest.mark.parametrize("kind", ["under_a_file", "read_only_checkpoints"])
def test_an_unwritable_run_directory_is_found_before_training(tmp_path, capsys, kind):
    if kind == "under_a_file":
        (tmp_path / "file").write_text("x")
        out, expect = tmp_path / "file", "ENOTDIR"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "digits" / "checkpoints").mkdir(parents=True)
        os.chmod(tmp_path / "digits" / "checkpoints", 0o500)
        out, expect = tmp_path, "EACCES"
    code, seconds = run(out, max_iter=2)
    err = capsys.readouterr().err
    assert code == 2 and seconds < 30 and expect in err and "Traceback" not in err
    if kind == "read_only_checkpoints":
        assert "checkpoints" in err and not os.path.exists(tmp_path / "digits" / "log.txt")
        os.chmod(tmp_path / "digits" / "checkpoints", 0o700)


def test_a_flipped_byte_in_tensor_data_falls_back_to_the_previous_checkpoint(finished, tmp_path, caplog):
    run_dir = copy_run(finished, tmp_path)
    ckpt = run_dir / "checkpoints"
    path = ckpt / "model_final.pth"  # the newest, named in last_checkpoint
    data = bytearray(path.read_bytes())
    import zipfile
    info = next(i for i in zipfile.ZipFile(path).infolist() if "/data/" in i.filename and i.file_size > 64)
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0x01  # inside the record's bytes
    path.write_bytes(bytes(data))
    code, seconds = run(tmp_path, "--resume", max_iter=4)
    assert code == 0 and seconds < 30
    log = (run_dir / "log.txt").read_text()
    assert f"checkpoint {path} does not load (CorruptCheckpointError: record {info.filename!r}" in log
    assert "resumed from " + str(ckpt / "model_0000002.pth") in log


@pytest.mark.parametrize("content", [b"\x80\x81\xff\x00binary", b"/etc/passwd\n", b"../../other/model_0000004.pth\n"])
def test_a_bad_last_checkpoint_is_reported_and_ignored(finished, tmp_path, capsys, content):
    run_dir = copy_run(finished, tmp_path)
    (run_dir / "checkpoints" / "last_checkpoint").write_bytes(content)
    code, seconds = run(tmp_path, max_iter=4)  # a fresh start: refused, the run is protected
    assert code == 2 and seconds < 30 and "already holds checkpoints" in capsys.readouterr().err
    code, _ = run(tmp_path, "--resume", max_iter=4)
    assert code == 0
    log = (run_dir / "log.txt").read_text()
    assert "does not hold the name of a checkpoint" in log
    assert "resumed from " + str(run_dir / "checkpoints" / "model_final.pth") in log


def test_a_lone_model_best_is_protected_from_a_fresh_start(finished, tmp_path, capsys):
    run_dir = copy_run(finished, tmp_path)
    ckpt = run_dir / "checkpoints"
    for name in os.listdir(ckpt):
        os.unlink(ckpt / name)
    best = b"best weights"
    (ckpt / "model_best.pth").write_bytes(best)
    code, seconds = run(tmp_path, max_iter=2)
    assert code == 2 and seconds < 30 and "already holds checkpoints" in capsys.readouterr().err
    assert (ckpt / "model_best.pth").read_bytes() == best


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert run(tmp_path, max_iter=2)[0] == 0
    finally:
        os.umask(old)
    run_dir = tmp_path / "digits"
    for path in [run_dir / "config.yaml", run_dir / "checkpoints" / "model_final.pth",
                 run_dir / "checkpoints" / "last_checkpoint", run_dir / "run.lock"]:
        assert os.stat(path).st_mode & 0o777 == mode, path


def test_torch_save_reads_back_after_the_recording_file():
    import io
    buffer = io.BytesIO()
    recorder = atomic._RecordingFile(buffer)
    torch.save({"w": torch.arange(3)}, recorder)
    assert torch.equal(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)["w"], torch.arange(3))


def _plain_checkpoint(path, tensors=3):
    torch.save({"model": {"g_model": {f"layer{i}.weight": torch.zeros(2) for i in range(tensors)}},
                "iteration": 1}, path)


def test_checkpoint_tools_refuse_an_unknown_output_extension(tmp_path, capsys):
    from engine.tools import ckpt_deploy, ckpt_strip

    _plain_checkpoint(tmp_path / "in.pth")
    assert ckpt_deploy.main([str(tmp_path / "in.pth"), str(tmp_path / "x.onnx")]) == 2
    assert "for ONNX use engine-export" in capsys.readouterr().err
    assert ckpt_strip.main([str(tmp_path / "in.pth"), str(tmp_path / "x.txt")]) == 2
    assert "cannot write a .txt file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["in.pth"]


def test_ckpt_show_into_a_closed_pipe_prints_no_traceback(tmp_path):
    _plain_checkpoint(tmp_path / "many.pth", tensors=4000)
    done = subprocess.run(f"{sys.executable} -m engine.tools.ckpt_show {tmp_path / 'many.pth'} | head -n 1",
                          shell=True, capture_output=True, text=True, timeout=60, cwd=os.getcwd())
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_resume_into_another_architecture_is_refused_before_anything_changes(finished, tmp_path, capsys):
    run_dir = copy_run(finished, tmp_path)
    before = snapshot(run_dir / "checkpoints"), (run_dir / "config.yaml").read_bytes()
    code, seconds = run(tmp_path, "--resume", "trainer.model.generator.width", "8", max_iter=6)
    err = capsys.readouterr().err
    assert code == 2 and seconds < 30 and "Traceback" not in err
    assert "does not fit the network the config builds (g_model" in err and "shape mismatch" in err
    assert "16x1x3x3" in err.replace(" ", "") or "shape mismatch" in err
    assert (snapshot(run_dir / "checkpoints"), (run_dir / "config.yaml").read_bytes()) == before
    assert not [n for n in os.listdir(run_dir) if n.startswith("config.0")]


def test_a_changed_config_on_resume_is_kept_beside_the_old_one(finished, tmp_path):
    run_dir = copy_run(finished, tmp_path)
    first = (run_dir / "config.yaml").read_bytes()
    code, seconds = run(tmp_path, "--resume", "trainer.log_period", "7", max_iter=4)
    assert code == 0 and seconds < 30
    assert (run_dir / "config.yaml").read_bytes() == first
    assert "log_period: 7" in (run_dir / "config.0000004.yaml").read_text()
