"""The hand-written PyTorch loop the engine is timed against: what one writes without an
engine for the digits example (``codes/configs/digits.py``).

The same ``DigitsDataset`` and transform pipeline (the config's ``transformer`` list),
batch size, ``num_workers``, ``DigitsNet``, AdamW, warmup + cosine LR, EMA
(``AveragedModel`` + ``get_ema_multi_avg_fn``), cross-entropy, one ``.item()`` of the
loss per step and a log line every ``trainer.log_period`` steps; a shuffling DataLoader
with persistent workers (a ``DistributedSampler`` and ``DistributedDataParallel`` when a
process group is up). Used by ``loop_overhead.py`` (one loop per process) and
``loop_interleaved.py`` (both loops in one process, in alternating chunks).
"""
import logging
import math
import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler

from codes.digits import DigitsDataset, DigitsNet
from engine.config.loader import read_config_file

log = logging.getLogger("hand")


def _kwargs(node: dict) -> dict:
    return {k: v for k, v in node.items() if k != "name"}


class HandLoop:
    """Built on construction (network from ``torch.manual_seed(seed)``); ``steps(n)``
    trains n more iterations; ``finish()`` evaluates the EMA network once and saves a
    checkpoint, as the engine always does at the end."""

    def __init__(self, config: str, max_iter: int, num_workers: int, on_iteration=None):
        c = read_config_file(config)  # the config file's plain dicts, as written
        data, model, solver = c["dataloader"], c["trainer"]["model"], c["solver"]
        self.max_iter, self.log_period = max_iter, c["trainer"]["log_period"]
        self.test_batch, self.num_workers = solver["test_per_batch"], num_workers
        self.on_iteration = on_iteration or (lambda loop: None)
        sched = solver["generator"]["lr_scheduler"]["params"]
        warmup_iter, warmup_factor = sched["warmup_iter"], sched["warmup_factor"]
        distributed = dist.is_available() and dist.is_initialized()

        torch.manual_seed(c["seed"])
        self.net = DigitsNet(**_kwargs(model["generator"]))
        self.init_sum = float(sum(p.detach().double().sum() for p in self.net.parameters()))
        self.trained = torch.nn.parallel.DistributedDataParallel(self.net) if distributed else self.net
        self.optimizer = torch.optim.AdamW(self.net.parameters(), **solver["generator"]["optimizer"]["params"])

        def cosine(i):
            return 0.5 * (1.0 + math.cos(math.pi * min(i, max_iter) / max_iter))

        def lr_factor(i):  # linear warmup into a cosine over the whole run
            if i < warmup_iter:
                return warmup_factor + (cosine(warmup_iter) - warmup_factor) * i / warmup_iter
            return cosine(i)

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor)
        self.ema = AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(model["ema"]["decay_rate"]),
                                 use_buffers=True)
        train_set = DigitsDataset(**_kwargs(data["train_data_set"]))
        self.val_set = DigitsDataset(**_kwargs(data["val_data_set"]))
        generator = torch.Generator().manual_seed(c["seed"])  # the order: not the global RNG
        self.sampler = DistributedSampler(train_set, seed=c["seed"], drop_last=True) if distributed else None
        self.loader = DataLoader(train_set, batch_size=solver["train_per_batch"], shuffle=self.sampler is None,
                                 sampler=self.sampler, num_workers=num_workers, drop_last=True,
                                 persistent_workers=num_workers > 0, generator=generator)
        self.it, self.epoch, self.running, self.batches = 0, 0, 0.0, None
        self.lr, self.last_loss = 0.0, float("nan")
        self.net.train()

    def _next_batch(self):
        while True:
            if self.batches is None:
                if self.sampler is not None:
                    self.sampler.set_epoch(self.epoch)
                self.batches = iter(self.loader)
            try:
                return next(self.batches)
            except StopIteration:
                self.batches, self.epoch = None, self.epoch + 1

    def steps(self, n: int) -> None:
        for _ in range(n):
            data = self._next_batch()
            loss = F.cross_entropy(self.trained(data["input_data"]), data["target_data"])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.ema.update_parameters(self.net)
            value = loss.item()
            if not math.isfinite(value):
                raise RuntimeError(f"non-finite loss at iteration {self.it + 1}")
            self.running += value
            self.it += 1
            self.lr, self.last_loss = self.optimizer.param_groups[0]["lr"], value
            self.on_iteration(self)
            if self.it % self.log_period == 0 or self.it == self.max_iter:
                log.info("iter %d loss %.4f lr %.3g", self.it, self.running / self.log_period, self.lr)
                self.running = 0.0

    def finish(self) -> float:
        """The EMA network's validation accuracy; one checkpoint written and deleted."""
        self.ema.module.eval()
        correct = 0
        val_loader = DataLoader(self.val_set, batch_size=self.test_batch, num_workers=self.num_workers)
        with torch.no_grad():
            for data in val_loader:
                correct += int((self.ema.module(data["input_data"]).argmax(1) == data["target_data"]).sum())
        with tempfile.TemporaryDirectory(prefix="hand_bench_") as out:
            torch.save({"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "lr_scheduler": self.scheduler.state_dict(), "ema": self.ema.state_dict(),
                        "iteration": self.it}, os.path.join(out, "model_final.pth"))
        self.batches = None
        return correct / len(self.val_set)


def timed_steps(loop: HandLoop, n: int) -> float:
    """Seconds for ``n`` more iterations of ``loop``."""
    start = time.perf_counter()
    loop.steps(n)
    return time.perf_counter() - start
