"""Where the engine's time per iteration goes, part by part, against the hand-written loop.

End-to-end timings (``loop_overhead.py``) on a shared machine move by +-20% between
identical runs; this measures each part of one training iteration of the digits example
in one process, engine and hand versions interleaved, many rounds, and reports the
minimum and median microseconds. The parts:

* ``fetch``: loading one batch of samples as the DataLoader's fetcher does (collation is
  the same for both and left out). Engine: ``SeededSamples`` (per-sample seeding of the
  augmentation and the global generators, ``(epoch, index)`` keys), in the main process
  (``num_workers=0``) and as inside a worker. Hand: ``dataset[i]`` for each index; its
  pipeline draws from NumPy's global stream through ``global_generator()`` (since
  ef6c2b2; before, a fresh ``np.random.default_rng()`` per sample, ~27 us), so the
  difference is the whole price of the engine's per-sample seeding. ``fetch, keyed hand``:
  the hand fetch through ``hand_loop.KeyedSamples`` (one generator per (seed, epoch,
  index), the engine's bytes): the difference is the engine's loading glue alone.
* ``step``: forward, backward, optimizer, LR schedule, EMA and reading the loss on one
  ready batch. Engine: ``model.train_iteration`` + ``float``; hand: the code of
  ``loop_overhead.run_hand``.
* ``glue``: the rest of an engine iteration, as ``BaseTrainer._loop`` does it (keep the
  two in step): the sampler's keys, the epoch, the ``before_step`` hooks, the step's
  numbers into the event store (``_record_step``) and the ``after_step`` hooks (the seed's
  methods, the period's record to the log line, metrics.jsonl and TensorBoard every
  ``trainer.log_period``, checkpoint and evaluation checks, the progress bar).

Run from the repository root::

    python benchmarks/loop_parts.py --rounds 30
"""
import argparse
import math
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def timed(fn, repeat: int) -> float:
    """Microseconds per call of ``fn`` over ``repeat`` calls."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "codes", "configs", "digits.py"))
    parser.add_argument("--rounds", type=int, default=20, help="interleaved measurement rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    from torch.utils.data import default_collate
    from torch.utils.data._utils import worker as worker_module

    import codes  # noqa: F401
    from codes.digits import DigitsNet
    from engine.config import load_cfg
    from engine.data.build import build_train_loader
    from engine.data.seeding import SeededSamples
    from engine.model.step import StepResult
    from engine.trainer.build import build_trainer
    from engine.utils.rng import seed_all

    torch.set_num_threads(args.threads)
    out = tempfile.mkdtemp(prefix="engine_parts_")
    cfg = load_cfg(args.config, ["output_dir", out, "trainer.device", "cpu",
                                 "trainer.progress_bar", "False", "dataloader.num_workers", "0",
                                 "solver.eval_period", "0", "solver.checkpoint_period", "1000000"])
    seed_all(int(cfg.SEED))
    trainer = build_trainer(cfg)
    model, dataset = trainer.model, trainer.train_set
    batch_size, max_iter = int(cfg.SOLVER.TRAIN_PER_BATCH), int(cfg.SOLVER.MAX_ITER)

    # ------------------------------------------------------------------ fetch
    samples = SeededSamples(dataset, int(cfg.SEED))
    indices = list(range(batch_size))
    getitems = getattr(samples, "__getitems__", None) or (lambda ks: [samples[k] for k in ks])
    epochs = iter(range(10**9))  # a new epoch each call: a fresh mix of augmentations,
    # as the hand loop's unseeded pipeline gets (whether a random transform fires
    # changes the cost of a sample)

    def engine_fetch():
        epoch = next(epochs)
        getitems([(epoch, i) for i in indices])

    def engine_fetch_in_worker():
        saved, worker_module._worker_info = worker_module._worker_info, object()
        try:
            engine_fetch()
        finally:
            worker_module._worker_info = saved

    def hand_fetch():
        [dataset[i] for i in indices]

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from hand_loop import KeyedSamples

    keyed = KeyedSamples(dataset, int(cfg.SEED))
    keyed_epochs = iter(range(10**9))

    def keyed_hand_fetch():
        epoch = next(keyed_epochs)
        [keyed[(epoch, i)] for i in indices]

    # ------------------------------------------------------------------ step
    batch = default_collate([dataset[i] for i in indices])

    def engine_step():  # as BaseTrainer.run_step: the gate build_step_gate chose
        trainer.nonfinite_guard.begin(0)
        model.train_iteration([batch], epoch=0, before_step=trainer.step_gate).floats()

    torch.manual_seed(0)
    net = DigitsNet(**{k.lower(): v for k, v in cfg.TRAINER.MODEL.GENERATOR.items() if k != "NAME"})
    opt = torch.optim.AdamW(net.parameters(), lr=0.003, weight_decay=0.0001)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, max_iter) / max_iter)))
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.99), use_buffers=True)
    net.train()

    def hand_step():
        loss = F.cross_entropy(net(batch["input_data"]), batch["target_data"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ema.update_parameters(net)
        loss.item()

    # ------------------------------------------------------------------ glue
    _, sampler = build_train_loader(dataset, cfg, start_iter=0, device=model.device)
    key_stream = iter(sampler)
    trainer.call_hooks("before_train")  # opens the writers (the Writers hook)
    result = StepResult({"cls": torch.tensor(1.0)})
    glue_state = {"iter": 0}

    def engine_glue():
        trainer.iter = glue_state["iter"] % (max_iter - 1)
        glue_state["iter"] += 1
        trainer.epoch = sampler.epoch_at(trainer.iter)
        next(key_stream)
        trainer.call_hooks("before_step")
        trainer.step_result = result
        trainer._record_step(result, model.lr, 0.0, time.perf_counter())
        trainer.call_hooks("after_step")

    parts = [("fetch, main process", engine_fetch, hand_fetch, 10),
             ("fetch, in a worker", engine_fetch_in_worker, hand_fetch, 10),
             ("fetch, keyed hand", engine_fetch, keyed_hand_fetch, 10),
             ("step", engine_step, hand_step, 5),
             ("glue", engine_glue, lambda: None, 200)]
    results = {name: ([], []) for name, *_ in parts}
    for r in range(args.rounds):
        for name, engine_fn, hand_fn, repeat in parts:
            pair = [(0, engine_fn), (1, hand_fn)] if r % 2 == 0 else [(1, hand_fn), (0, engine_fn)]
            for slot, fn in pair:
                results[name][slot].append(timed(fn, repeat))
    trainer.call_hooks("after_train")  # closes them

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPUs; "
          f"batch {batch_size}; {args.rounds} interleaved rounds; microseconds per iteration")
    print(f"{'part':22}{'engine min':>12}{'hand min':>10}{'diff':>8}"
          f"{'engine med':>12}{'hand med':>10}{'diff':>8}")
    for name, (eng, hand) in results.items():
        emin, hmin = min(eng), min(hand)
        emed, hmed = statistics.median(eng), statistics.median(hand)
        print(f"{name:22}{emin:12.0f}{hmin:10.0f}{emin - hmin:8.0f}{emed:12.0f}{hmed:10.0f}{emed - hmed:8.0f}")


if __name__ == "__main__":
    main()
