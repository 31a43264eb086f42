"""The hand-written PyTorch loop the engine is timed against: what one writes without an
engine for the digits example (``codes/configs/digits.py``).

The same ``DigitsDataset`` and transform pipeline (the config's ``transformer`` list),
batch size, ``num_workers``, ``DigitsNet``, AdamW, warmup + cosine LR, EMA
(``AveragedModel`` + ``get_ema_multi_avg_fn``), cross-entropy, one ``.item()`` of the
loss per step and a log line every ``trainer.log_period`` steps; a shuffling DataLoader
with persistent workers (a ``DistributedSampler`` and ``DistributedDataParallel`` when a
process group is up). Used by ``loop_overhead.py`` (one loop per process) and
``loop_interleaved.py`` (both loops in one process, in alternating chunks).

``augment`` says where the hand loop's augmentation draws from:

* ``unseeded`` (the default; what timm and torchvision's reference scripts do): NumPy's
  global stream, seeded once (and per worker by PyTorch), so a sample's augmentation
  depends on which worker loads it and what it loaded before;
* ``keyed``: one generator per sample, keyed by (seed, epoch, index) with the engine's
  ``SampleKeys``, the cheapest way we know to make a sample's augmentation a function of
  its key (``np.random.default_rng((seed, epoch, index))`` costs ~8-27 us a sample). The
  hand loop then loads the very bytes the engine loads for a dataset that draws only
  from ``sample_rng``, so the data work is equal on both sides and the ratio is the
  loop's own cost.
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
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from codes.digits import DigitsDataset, DigitsNet
from engine.config.loader import read_config_file
from engine.data.seeding import SampleKeys

log = logging.getLogger("hand")


def _kwargs(node: dict) -> dict:
    return {k: v for k, v in node.items() if k != "name"}


AUGMENTS = ("unseeded", "keyed")


class KeyedSamples(Dataset):
    """``self[(epoch, index)]``: ``dataset[index]`` augmented from the generator of its key."""

    def __init__(self, dataset, seed: int):
        self.dataset, self.keys = dataset, SampleKeys(seed)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        self.dataset.sample_rng = self.keys.key(epoch, index)[1]
        try:
            return self.dataset[index]
        finally:
            self.dataset.sample_rng = None


class EpochKeys(Sampler):
    """Wraps an index sampler: yields ``(epoch, index)``; ``epoch`` set by the loop."""

    def __init__(self, indices: Sampler):
        self.indices, self.epoch = indices, 0

    def __len__(self):
        return len(self.indices)

    def __iter__(self):
        return ((self.epoch, int(i)) for i in self.indices)


class HandLoop:
    """Built on construction (network from ``torch.manual_seed(seed)``); ``steps(n)``
    trains n more iterations; ``finish()`` evaluates the EMA network once and saves a
    checkpoint, as the engine always does at the end."""

    def __init__(self, config: str, max_iter: int, num_workers: int, on_iteration=None, augment: str = "unseeded"):
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
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
        self.keyed = None
        if augment == "keyed":
            indices = self.sampler or torch.utils.data.RandomSampler(train_set, generator=generator)
            self.keyed = EpochKeys(indices)
            train_set = KeyedSamples(train_set, c["seed"])
        self.loader = DataLoader(train_set, batch_size=solver["train_per_batch"],
                                 shuffle=self.sampler is None and self.keyed is None,
                                 sampler=self.keyed or self.sampler, num_workers=num_workers, drop_last=True,
                                 persistent_workers=num_workers > 0, generator=generator)
        self.it, self.epoch, self.running, self.batches = 0, 0, 0.0, None
        self.lr, self.last_loss = 0.0, float("nan")
        self.net.train()

    def _next_batch(self):
        while True:
            if self.batches is None:
                if self.sampler is not None:
                    self.sampler.set_epoch(self.epoch)
                if self.keyed is not None:
                    self.keyed.epoch = self.epoch
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


def train_beside(config: str, max_iter: int, num_workers: int, hook_of, augment: str = "keyed"):
    """The engine trained on ``config`` with a :class:`HandLoop` of the same config beside it,
    in one process: how the side-by-side benchmarks run both loops (``loop_interleaved``,
    ``loop_calls``, ``loop_instructions``). The engine goes through its public path
    (``load_cfg`` -> ``build_trainer`` -> ``train()``) on the CPU, in a temporary output
    folder, with evaluation and periodic checkpoints off and no progress bar;
    ``hook_of(hand)`` is the hook that drives the hand loop. Returns ``(trainer, hand)``
    after training."""
    from engine.config import load_cfg
    from engine.trainer.build import build_trainer
    from engine.utils.rng import seed_all

    with tempfile.TemporaryDirectory(prefix="engine_bench_") as out:
        cfg = load_cfg(config, ["output_dir", out, "trainer.device", "cpu", "trainer.progress_bar", "False",
                                "dataloader.num_workers", str(num_workers), "solver.max_iter", str(max_iter),
                                "solver.eval_period", "0", "solver.checkpoint_period", str(max_iter + 1)])
        seed_all(int(cfg.SEED))  # what the scheduler does before building the trainer
        trainer = build_trainer(cfg)
        hand = HandLoop(config, max_iter, num_workers, augment=augment)
        trainer.register_hooks([hook_of(hand)])
        trainer.train()
    return trainer, hand
