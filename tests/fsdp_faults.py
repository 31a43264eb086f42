"""Test-only: kill one process of a sharded run at a chosen point, for real (SIGKILL).

Imported by the runs of tests/model/test_fsdp.py through ``custom_imports`` (every process of
the run imports it when it loads the config), so it works in processes started by
``--num-gpus``, by torchrun, and in torchrun's restarted ones.

* ``trainer.hooks=[dict(name='KillAt', iteration=k, rank=r)]``: process ``r`` kills itself
  right after step ``k`` (1-based count of completed steps), on the first attempt only
  (torchrun counts attempts in TORCHELASTIC_RESTART_COUNT).
* ``dict(name='KillAt', iteration=k, rank=0, inside_save=True)``: process 0 kills itself
  while checkpoint ``k`` is being written: every process's shards and DCP's metadata are
  on disk, the engine's record is not.
* ``trainer.model.generator.name NanOnRankOne``: rank 1's third training forward is NaN.
"""
import json
import os
import signal

import torch.distributed as dist

import engine.checkpoint.sharded as sharded
from codes.digits.network import DigitsNet
from engine.model.build import BUILD_NETWORK_REGISTRY
from engine.trainer.hooks import BUILD_HOOK_REGISTRY, HookBase


def first_attempt() -> bool:
    return os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"


@BUILD_HOOK_REGISTRY.register()
class KillAt(HookBase):
    def __init__(self, iteration: int, rank: int = 0, inside_save: bool = False):
        self.iteration, self.rank, self.inside_save = int(iteration), int(rank), bool(inside_save)

    def before_train(self):
        if self.inside_save and self.trainer.rank == self.rank and first_attempt():
            write, iteration = sharded.atomic_write_text, self.iteration

            def killing_write(path, text, **kwargs):
                if path.endswith(sharded.RECORD) and json.loads(text).get("iteration") == iteration:
                    os.kill(os.getpid(), signal.SIGKILL)
                return write(path, text, **kwargs)

            sharded.atomic_write_text = killing_write

    def after_step(self):
        if not self.inside_save and self.trainer.iter + 1 == self.iteration and self.trainer.rank == self.rank \
                and first_attempt():
            os.kill(os.getpid(), signal.SIGKILL)


@BUILD_NETWORK_REGISTRY.register()
class NanOnRankOne(DigitsNet):
    """On rank 1 only, the third training forward pass returns NaN scores."""
    calls = 0

    def forward(self, x):
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if dist.get_rank() == 1 and self.calls == 3:
                return out * float("nan")
        return out
