"""A tiny project for the hook tests: y = 2x - 1 learnt by one Linear layer, a hook that
records every stage it sees, a hook that SIGKILLs its own process, and runners.

Registered here (not in a test module) so the processes that train it -- spawned DDP
workers and the fault-tolerance forkserver's children -- import it and know the names.
A run costs well under a second.
"""
import io
import os
import signal
import sys

import torch
import torch.nn.functional as F
from torch import nn

from engine.data.build import BUILD_DATASET_REGISTRY
from engine.data.dataset import EngineDataSet
from engine.evaluation import EVALUATOR_REGISTRY
from engine.evaluation.loss_evaluator import LossEvaluator
from engine.model.base_model import BaseModel
from engine.model.build import BUILD_MODEL_REGISTRY, BUILD_NETWORK_REGISTRY
from engine.schedule.scheduler import BaseScheduler
from engine.trainer.hooks import BUILD_HOOK_REGISTRY, HookBase, Priority, WriterHook
from engine.utils import comm

CONFIG = '''
output_dir = "output"
output_log_name = "line"
dataloader = dict(num_workers=0,
                  train_data_set=dict(name="HookLine"),
                  val_data_set=dict(name="HookLine", size=16, noise=0.0))
trainer = dict(device="cpu", log_period=2, progress_bar=False,
               model=dict(name="HookLineModel", generator=dict(name="HookLineNet")))
solver = dict(max_iter=12, train_per_batch=8, test_per_batch=16, eval_period=4, checkpoint_period=4,
              generator=dict(optimizer=dict(type="SGD", params=dict(lr=0.05))))
'''


def write_config(folder) -> str:
    os.makedirs(str(folder), exist_ok=True)
    path = os.path.join(str(folder), "line_config.py")
    with open(path, "w") as f:
        f.write(CONFIG)
    return path


@BUILD_DATASET_REGISTRY.register()
class HookLine(EngineDataSet):
    """y = 2x - 1 (+ noise fixed by the index, so every run sees the same data)."""

    def __init__(self, size=48, noise=0.05, transformer=None):
        super().__init__(transformer)
        self.x = torch.linspace(-1, 1, size).unsqueeze(1)
        self.noise = noise * torch.randn(size, 1, generator=torch.Generator().manual_seed(size))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        x = self.x[index]
        return {"input_data": x, "target_data": 2 * x - 1 + self.noise[index]}


@BUILD_NETWORK_REGISTRY.register()
class HookLineNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 1)

    def forward(self, x):
        return self.fc(x)


@BUILD_MODEL_REGISTRY.register()
class HookLineModel(BaseModel):
    """Logs two non-loss numbers from run_step whose mean over processes is known:
    ``acc`` = the rank (0.5 over 2 processes), ``acc_t`` = rank + 1 as a tensor."""

    def run_step(self, data, *, epoch=None, **kwargs):
        pred = self.g_model(data["input_data"].to(self.device))
        if self.g_model.training:
            self.log("acc", float(comm.get_rank()))
            self.log("acc_t", torch.tensor(comm.get_rank() + 1.0))
        return {"mse": F.mse_loss(pred, data["target_data"].to(self.device))}

    def generator(self, data):
        return self.g_model(data.to(self.device))


@BUILD_HOOK_REGISTRY.register()
class RecordingHook(HookBase):
    """Records (stage, iteration) of every stage; its state (steps seen, the sum of the
    losses as a float64 tensor) must come back exactly on --resume. ``stop_at``: call
    request_stop after that many completed iterations."""

    def __init__(self, priority=Priority.NORMAL, stop_at=0, tag=""):
        self.priority, self.stop_at, self.tag = int(priority), int(stop_at), str(tag)
        self.events = []
        self.steps = 0
        self.loss_sum = torch.zeros((), dtype=torch.float64)

    @property
    def state_key(self):
        return f"RecordingHook{self.tag}"

    def before_train(self):
        self.events.append(("before_train", self.trainer.start_iter))

    def before_step(self):
        self.events.append(("before_step", self.trainer.iter))

    def after_step(self):
        trainer = self.trainer
        self.events.append(("after_step", trainer.iter))
        self.steps += 1
        self.loss_sum += trainer.step_result.floats()["mse"]
        if self.stop_at and trainer.iter + 1 == self.stop_at:
            trainer.request_stop(f"RecordingHook asked to stop at {self.stop_at}")

    def after_eval(self, results):
        self.events.append(("after_eval", self.trainer.iter))

    def after_train(self):
        self.events.append(("after_train", self.trainer.iter))

    def state_dict(self):
        return {"steps": self.steps, "loss_sum": self.loss_sum.clone()}

    def load_state_dict(self, state):
        self.steps = int(state.get("steps", 0))
        self.loss_sum = state.get("loss_sum", torch.zeros((), dtype=torch.float64)).clone()


@BUILD_HOOK_REGISTRY.register()
class SigkillAt(HookBase):
    """SIGKILL this process right after ``iteration`` completed iterations (last of all)."""

    priority = Priority.LOWEST + 1

    def __init__(self, iteration):
        self.iteration = int(iteration)

    def after_step(self):
        if self.trainer.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


@EVALUATOR_REGISTRY.register()
class HookLineTwoResults(LossEvaluator):
    """The validation loss and its square root: two results for two hooks to monitor."""

    def evaluate(self):
        results = super().evaluate()
        return {**results, "val_rmse": results["val_mse"] ** 0.5}


@BUILD_HOOK_REGISTRY.register()
class ListWriter(WriterHook):
    """A writer that keeps what it is handed: ("open",), each record, ("close",)."""

    def __init__(self):
        self.seen = []

    def open(self):
        self.seen.append(("open",))

    def write(self, record, step):
        self.seen.append(dict(record))

    def close(self):
        self.seen.append(("close",))


def schedule_here(argv):
    """Train in this process with one intra-op thread (the children use one too, so runs
    compare bitwise); returns the trainer, or the exit status when it exits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return BaseScheduler().schedule(argv)
    except SystemExit as e:
        return e.code
    finally:
        torch.set_num_threads(threads)


def _child(argv, log_path, env):
    os.setpgrp()  # its own process group: a group signal (a terminal's Ctrl-C) reaches it and its workers
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
    code = schedule_here(argv)
    os._exit(code if isinstance(code, int) else 0)


def start_child(argv, log_path, env=None):
    """A training child of the fault-tolerance forkserver, started (join it yourself)."""
    from fault_tolerance_helpers import context

    process = context().Process(target=_child, args=(list(argv), str(log_path), dict(env or {})))
    process.start()
    return process


def run_children(argvs, log_paths, envs, timeout=120):
    """Train in children of the fault-tolerance forkserver (torch already imported, so a
    child starts in well under a second); their exit codes (-9: SIGKILLed)."""
    from fault_tolerance_helpers import context

    processes = [context().Process(target=_child, args=(list(a), str(p), dict(e)))
                 for a, p, e in zip(argvs, log_paths, envs)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout)
    for process in processes:
        if process.exitcode is None:
            process.kill()
            process.join()
            raise AssertionError(f"training child did not finish in {timeout}s; logs: {log_paths}")
    return [process.exitcode for process in processes]


def run_child(argv, log_path, timeout=120):
    return run_children([argv], [log_path], [{}], timeout)[0]


def run_two_processes(argv, log_folder, timeout=120):
    """Two ranks of one gloo group on this host, joined as under torchrun (RANK,
    WORLD_SIZE, MASTER_ADDR/PORT in the environment); their exit codes."""
    from engine.schedule.dist_url import find_free_port

    port = str(find_free_port())
    envs = [dict(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                 MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1") for r in range(2)]
    logs = [os.path.join(str(log_folder), f"rank{r}.log") for r in range(2)]
    return run_children([argv, argv], logs, envs, timeout)


@BUILD_HOOK_REGISTRY.register()
class NotAHook:
    """Registered among the hooks by mistake: trainer.hooks must refuse it."""


@BUILD_HOOK_REGISTRY.register()
class GradNormProbe(HookBase):
    """Computes the gradient norm itself after each step (gradients stay until the next
    step's zero_grad), for comparison with what GradientNormMonitor logged."""

    priority = Priority.LOWEST

    def __init__(self):
        self.norms = []

    def after_step(self):
        grads = [p.grad for p in self.trainer.model.g_model.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


@BUILD_HOOK_REGISTRY.register()
class SignalAt(HookBase):
    """Send this process ``signame`` at ``stage``: 'before_train' (the loader is built,
    no step taken) or 'first_step' (as the first step begins)."""

    priority = Priority.HIGHEST

    def __init__(self, signame, stage="before_train"):
        self.signum, self.stage = getattr(signal, signame), stage

    def before_train(self):
        if self.stage == "before_train":
            os.kill(os.getpid(), self.signum)

    def before_step(self):
        if self.stage == "first_step" and self.trainer.iter == self.trainer.start_iter:
            os.kill(os.getpid(), self.signum)
