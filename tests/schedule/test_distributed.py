"""Several processes on CPU (gloo), end to end on the digits example.

Two reference runs are made once per module: 2 processes x batch 8 started by torchrun,
and 1 process x batch 16. They are compared with: a ``--num-gpus 2`` run (its first
checkpoint), the same run killed with SIGKILL and resumed by two "machines" on this
host (its end), a checkpoint moved from 2 processes to 1, sharded evaluation. Every 2-process run
uses OMP_NUM_THREADS=1, so they do the same floating-point operations and are compared
bitwise. (Each test costs a few Python processes that import torch: these runs are
shared to keep the file near a minute on an idle 2-core machine.)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch.utils.data import Dataset

import codes  # noqa: F401  (registers the digits example)
from engine.config.defaults import get_default_cfg
from engine.data.build import build_val_loader
from engine.evaluation.classification import ClassificationEvaluator
from engine.evaluation.evaluator import DatasetEvaluator, gather_samples, run_evaluation
from engine.evaluation.loss_evaluator import LossEvaluator
from engine.schedule.dist_url import find_free_port
from engine.schedule.launch import launch
from engine.schedule.scheduler import BaseScheduler
from engine.utils import comm
from engine.utils.errors import EngineError

from conftest import DIGITS_PY, ROOT

MAX_ITER, PERIOD, BATCH = 40, 10, 8
ENV = {"OMP_NUM_THREADS": "1"}


def digits_args(out, batch, *extra):
    return ["--config-file", DIGITS_PY, "output_dir", str(out), "solver.train_per_batch", str(batch),
            "dataloader.num_workers", "0", "trainer.progress_bar", "False",
            "solver.max_iter", str(MAX_ITER), "solver.checkpoint_period", str(PERIOD),
            "solver.eval_period", "0", "trainer.log_period", str(PERIOD),
            "solver.generator.lr_scheduler.params.warmup_iter", "2",
            "trainer.model.generator.batch_norm", "False", "trainer.dist_timeout", "120", *extra]


def checkpoint(out, name="model_final.pth"):
    return torch.load(os.path.join(out, "digits", "checkpoints", name), weights_only=True)


def tensors(tree, prefix=""):
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from tensors(value, f"{prefix}.{key}")
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from tensors(value, f"{prefix}[{i}]")


def weights(out):
    """The trained network and its EMA (what world-size invariance is about)."""
    model = checkpoint(out)["model"]
    return dict(tensors({"g_model": model["g_model"], "g_ema": model["g_ema"]}))


def assert_close(a, b, rtol=1e-5, atol=1e-6):
    assert a.keys() == b.keys()
    worst = 0.0
    for key in a:
        if a[key].is_floating_point():
            assert torch.allclose(a[key], b[key], rtol=rtol, atol=atol), \
                f"{key}: max abs difference {(a[key] - b[key]).abs().max().item():.3g}"
            worst = max(worst, (a[key] - b[key]).abs().max().item())
        else:
            assert torch.equal(a[key], b[key]), key
    return worst


def assert_bitwise(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def full_state(out):
    payload = checkpoint(out)
    return dict(tensors({"model": payload["model"], "iteration": torch.tensor(payload["iteration"])}))


def keep_only(out, name):
    """Make ``out`` look like a run interrupted right after checkpoint ``name``."""
    folder = os.path.join(out, "digits", "checkpoints")
    for other in os.listdir(folder):
        if other.startswith("model_") and other != name:
            os.unlink(os.path.join(folder, other))
    with open(os.path.join(folder, "last_checkpoint"), "w") as f:
        f.write(name + "\n")


def train_records(out):
    with open(os.path.join(out, "digits", "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r.get("type") == "train"]


def ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """``torchrun --nproc-per-node 2 train.py``: 2 CPU processes x batch 8, each joining
    the group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT)."""
    out = tmp_path_factory.mktemp("two")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-port", str(find_free_port()), os.path.join(ROOT, "train.py"),
               *digits_args(out, BATCH)]
    ok(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                      env=dict(os.environ, **ENV)))
    return out


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """1 process x batch 16, in this process."""
    out = tmp_path_factory.mktemp("one")
    BaseScheduler().schedule(digits_args(out, 2 * BATCH))
    return out


def test_two_processes_train_like_one_with_twice_the_batch(two_processes, one_process):
    worst = assert_close(weights(two_processes), weights(one_process))
    print(f"world-size invariance: max abs weight difference {worst:.3g}")
    # logged losses are the mean over processes: the 1-process run's batch mean
    for two, one in zip(train_records(two_processes), train_records(one_process)):
        assert two["iter"] == one["iter"]
        assert two["cls"] == pytest.approx(one["cls"], rel=1e-5)
    run_dir = two_processes / "digits"
    assert (run_dir / "log.rank1.txt").exists() and not (run_dir / "log.rank0.txt").exists()
    assert len(list(run_dir.glob("events.out.tfevents*"))) == 1  # rank 0 only
    assert "process 1 of 2" in (run_dir / "log.rank1.txt").read_text()


def test_a_two_process_checkpoint_continues_in_one_process(two_processes, one_process, tmp_path):
    shutil.copytree(two_processes / "digits", tmp_path / "digits")
    keep_only(tmp_path, "model_0000020.pth")
    trainer = BaseScheduler().schedule(["--resume", *digits_args(tmp_path, 2 * BATCH)])
    assert trainer.start_iter == 20
    assert_close(weights(tmp_path), weights(one_process))


def resume_on_two_machines(out):
    """Two launches on this host (--num-machines 2 --num-gpus 1: machine 1 a `python
    train.py`, machine 0 this process) meet at a shared --dist-url and --resume."""
    url = f"tcp://127.0.0.1:{find_free_port()}"

    def machine(rank):
        return ["--num-gpus", "1", "--num-machines", "2", "--machine-rank", str(rank), "--dist-url", url,
                "--resume", *digits_args(out, BATCH)]

    other = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *machine(1)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, **ENV))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the other processes (OMP_NUM_THREADS=1): same arithmetic
    try:
        trainer = BaseScheduler().schedule(machine(0))
    finally:
        torch.set_num_threads(threads)
        _, err = other.communicate(timeout=240)
    assert other.returncode == 0, err[-4000:]
    assert trainer.world_size == 2 and trainer.rank == 0 and not comm.is_distributed()
    return trainer


def test_num_gpus_equals_torchrun_and_two_machines_resume_exactly_after_sigkill(two_processes, tmp_path):
    """`train.py --num-gpus 2` (spawned workers): its checkpoint of iteration 10 is
    bitwise torchrun's. Its launcher's whole process group then gets SIGKILL. Two
    "machines" resume it: the run ends bitwise equal to the uninterrupted torchrun run
    (model, optimizer, LR schedule, EMA, iteration)."""
    folder = tmp_path / "digits" / "checkpoints"
    killed = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), "--num-gpus", "2",
                               *digits_args(tmp_path, BATCH)], cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, **ENV))
    deadline = time.monotonic() + 240
    while not (folder / "model_0000010.pth").exists():
        assert killed.poll() is None, killed.stderr.read()[-4000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert not (folder / "model_final.pth").exists(), "the run ended before it was killed"
    spawned = dict(tensors(checkpoint(tmp_path, "model_0000010.pth")["model"]))
    assert_bitwise(spawned, dict(tensors(checkpoint(two_processes, "model_0000010.pth")["model"])))
    trainer = resume_on_two_machines(tmp_path)
    assert trainer.start_iter >= 10
    assert "resumed from" in (tmp_path / "digits" / "log.rank1.txt").read_text()
    assert_bitwise(full_state(tmp_path), full_state(two_processes))


def test_sharded_final_evaluation_equals_one_process(two_processes, tmp_path):
    """The 2-process run evaluated its 359 validation samples (not divisible by 2) in two
    shards; one process evaluating the same checkpoint finds the same numbers."""
    with open(two_processes / "digits" / "metrics.jsonl") as f:
        sharded = [r for r in map(json.loads, f) if r.get("type") == "eval"][-1]
    shutil.copytree(two_processes / "digits", tmp_path / "digits")
    results = BaseScheduler().schedule(["--eval-only", *digits_args(tmp_path, BATCH)])
    assert results == {k: sharded[k] for k in results}


# ---------------------------------------------------------------- evaluation shards
class Samples(Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(n)
        self.x, self.y = torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"input_data": self.x[i], "target_data": int(self.y[i]), "index": i}


class LinearModel:
    """Just what run_evaluation and the evaluators use of a model bundle."""

    def __init__(self):
        self.net = torch.nn.Linear(4, 3)
        with torch.no_grad():
            self.net.weight.copy_(torch.arange(12.0).view(3, 4).sin())
            self.net.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))

    def inference_weights(self):
        return torch.no_grad()

    def generator(self, x):
        return self.net(x)

    def run_step(self, batch):
        return torch.nn.functional.cross_entropy(self.net(batch["input_data"]), batch["target_data"])


class Predictions(DatasetEvaluator):
    """Collects per-sample predictions; ``evaluate`` gathers them from every process."""

    def reset(self):
        self.items = []

    def process(self, model, batch):
        predicted = model.generator(batch["input_data"]).argmax(1).tolist()
        self.items.extend(zip(batch["index"].tolist(), predicted))

    def evaluate(self):
        self.gathered = gather_samples(self.items)
        return {"samples": float(len(self.gathered))}


def evaluate_all(sizes, rank=0, world_size=1):
    cfg = get_default_cfg()
    cfg.SOLVER.TEST_PER_BATCH, cfg.DATALOADER.NUM_WORKERS = 2, 0
    results = {}
    for n in sizes:
        loader = build_val_loader(Samples(n), cfg, device=torch.device("cpu"), rank=rank, world_size=world_size)
        for evaluator in (ClassificationEvaluator(topk=(1, 2)), LossEvaluator(), Predictions()):
            results[f"{n}/{type(evaluator).__name__}"] = run_evaluation(LinearModel(), loader, evaluator)
        results[f"{n}/gathered"] = [list(item) for item in evaluator.gathered]
        results[f"{n}/local"] = len(evaluator.items)
    return results


SIZES = (1, 5)  # 2 processes: shards of 1 and 0 samples, of 3 and 2


def evaluate_in_worker(path):
    """Runs in each of 2 spawned CPU processes (engine.schedule.launch)."""
    results = evaluate_all(SIZES, comm.get_rank(), comm.get_world_size())
    with open(f"{path}.rank{comm.get_rank()}", "w") as f:
        json.dump(results, f)
    comm.synchronize()
    if comm.get_rank() == 1:
        raise EngineError("rank 1 reports bad input")


def test_sharded_evaluation_with_an_empty_shard_and_an_engine_error_in_a_worker(tmp_path, monkeypatch):
    """2 processes evaluate sets of 1 and 5 samples (rank 1's first shard is empty): sums,
    losses and the gathered per-sample lists equal one process's. Then rank 1 raises an
    EngineError: the launcher raises it again, once, for the scheduler to print."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = tmp_path / "results.json"
    with pytest.raises(EngineError, match="^rank 1 reports bad input$"):
        launch(evaluate_in_worker, 2, device="cpu", args=(str(path),))
    single = json.loads(json.dumps(evaluate_all(SIZES)))
    for rank in (0, 1):
        sharded = json.loads((tmp_path / f"results.json.rank{rank}").read_text())
        assert sharded.keys() == single.keys()
        for key in single:
            if key.endswith("/local"):
                continue
            if key.endswith("/gathered"):
                assert sharded[key] == single[key]  # dataset order, no sample twice or missing
                continue
            for name, value in single[key].items():
                # float32 batch means: shards batch the samples differently
                assert sharded[key][name] == pytest.approx(value, rel=1e-6), (key, name)
    shards = [json.loads((tmp_path / f"results.json.rank{r}").read_text()) for r in (0, 1)]
    assert [s["1/local"] for s in shards] == [1, 0] and [s["5/local"] for s in shards] == [3, 2]


# ---------------------------------------------------------------- a failing worker
PROJECT_TRAIN = '''
from boomproj import *  # noqa: F401,F403  (registers BoomNet)
from engine.schedule.scheduler import BaseScheduler


class ProjectScheduler(BaseScheduler):
    """Defined in the training script: the workers get it back from __mp_main__."""


if __name__ == "__main__":
    ProjectScheduler().schedule()
'''

PROJECT_PACKAGE = '''
import torch.distributed as dist

from codes.digits.network import DigitsNet
from engine.model.build import BUILD_NETWORK_REGISTRY


@BUILD_NETWORK_REGISTRY.register()
class BoomNet(DigitsNet):
    calls = 0

    def forward(self, x):
        self.calls += 1
        if dist.get_rank() == 1 and self.calls == 3:
            raise RuntimeError("boom" + " on rank 1")
        return super().forward(x)
'''


def test_a_failing_worker_ends_the_run_with_its_traceback_once(tmp_path):
    """A network registered by the training script's own project is built in both
    workers; on rank 1 it raises at its third step while rank 0 waits in the gradient
    all-reduce. The run ends, in bounded time, with that traceback shown once."""
    project = tmp_path / "project"
    (project / "boomproj").mkdir(parents=True)
    (project / "train.py").write_text(textwrap.dedent(PROJECT_TRAIN))
    (project / "boomproj" / "__init__.py").write_text(textwrap.dedent(PROJECT_PACKAGE))
    env = dict(os.environ, **ENV, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "train.py", "--num-gpus", "2", *digits_args(tmp_path, BATCH),
         "trainer.model.generator.name", "BoomNet", "trainer.dist_timeout", "60"],
        cwd=project, capture_output=True, text=True, timeout=240, env=env)
    elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stderr[-4000:]
    assert result.stderr.count("RuntimeError: boom on rank 1") == 1, result.stderr
    assert result.stderr.count("error: worker process of rank 1 failed") == 1, result.stderr
    assert elapsed < 120
    run_dir = tmp_path / "digits"
    assert "training from iteration 0" in (run_dir / "log.rank1.txt").read_text()
    assert "RuntimeError: boom on rank 1" in (run_dir / "log.rank1.txt").read_text()
    print(f"failing worker: run ended {elapsed:.1f}s after the launch")
