"""The entry point: argv -> checked config -> run directory -> launch -> trainer.

``BaseScheduler().schedule()`` is all a project's train.py calls. Bad input anywhere
(config, files, names, devices, a non-finite loss) ends here as one ``error:`` line on
stderr (and in log.txt once it exists) and exit status 2. config.yaml is written only
once the config has been checked and the trainer (model, datasets, devices) built from
it, and a fresh start never overwrites a run directory that holds checkpoints.
"""
import logging
import os
import platform
import signal
import sys
from typing import Optional, Sequence

import torch

from .. import __version__
from ..checkpoint.atomic import atomic_write_text
from ..checkpoint.checkpointer import Checkpointer
from ..config.loader import dump_cfg, load_cfg
from ..trainer.build import build_trainer
from ..trainer.preemption import EXIT_CODES
from ..trainer.trainer import run_dir_of
from ..utils import comm
from ..utils.errors import EXIT_BAD_INPUT, EngineError
from ..utils.logger import log_to_files, setup_logger
from ..utils.rng import seed_all
from .argparser import default_argument_parser, parse_command_line
from .launch import launch

__all__ = ["BaseScheduler"]

logger = logging.getLogger("engine.schedule")

EXIT_INTERRUPTED = EXIT_CODES[signal.SIGINT]  # Ctrl-C outside the loop; in it: trainer/preemption.py


class BaseScheduler:
    def __init__(self):
        self.parser = default_argument_parser()

    def schedule(self, argv: Optional[Sequence[str]] = None):
        args = parse_command_line(self.parser, argv)
        try:
            cfg = load_cfg(args.config_file, args.opts)
            self.check_run_directory(cfg, args)
            return launch(self.run_worker, args.num_gpus, args.num_machines, args.machine_rank,
                          args.dist_url, args=(cfg, args), device=cfg.TRAINER.DEVICE,
                          parallel=cfg.TRAINER.PARALLEL, timeout=cfg.TRAINER.DIST_TIMEOUT,
                          sync_bn=cfg.TRAINER.DDP.SYNC_BN)
        except EngineError as e:
            report_error(e)
            raise SystemExit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:  # Ctrl-C outside the loop, or twice (doc/resume.md)
            report_interrupt()
            raise SystemExit(EXIT_INTERRUPTED) from None

    def __getstate__(self):
        """Spawned workers receive ``self.run_worker`` by pickle; the argument parser
        (which does not pickle) stays behind: workers get the parsed config instead."""
        state = self.__dict__.copy()
        state.pop("parser", None)
        return state

    def check_run_directory(self, cfg, args) -> None:
        """A fresh start must not overwrite the checkpoints of an earlier run."""
        if args.resume or args.eval_only:
            return
        checkpointer = Checkpointer(os.path.join(run_dir_of(cfg), "checkpoints"))
        if checkpointer.has_checkpoint():
            raise EngineError(
                f"run directory {run_dir_of(cfg)!r} already holds checkpoints; pass --resume to "
                f"continue that run, or set another output_dir/output_log_name to start a new one"
            )

    def run_worker(self, cfg, args):
        """Everything one process does: logging, config record, seeding, train or test."""
        run_dir, rank = run_dir_of(cfg), comm.get_rank()
        setup_logger(run_dir, rank)
        logger.info("engine %s, torch %s, python %s, %s", __version__, torch.__version__,
                    platform.python_version(), platform.platform())
        logger.info("command line: %s", " ".join(sys.argv))
        if comm.get_world_size() > 1:
            logger.info("process %d of %d (local rank %d of %d on this machine)", rank,
                        comm.get_world_size(), comm.get_local_rank(), comm.get_local_size())
        config_text = dump_cfg(cfg)
        logger.info("resolved config (from %s):\n%s", args.config_file, config_text)
        seed_all(int(cfg.SEED))
        trainer = build_trainer(cfg)  # every name, parameter and device checked here
        config_path = os.path.join(run_dir, "config.yaml")
        if rank == 0 and not (args.eval_only and os.path.exists(config_path)):
            atomic_write_text(config_path, config_text)
            logger.info("config written to %s", config_path)
        eval_only = args.eval_only
        loaded = trainer.resume_or_load(resume=args.resume or (eval_only and not cfg.TRAINER.WEIGHTS))
        check_same_start(trainer.start_iter, run_dir)
        if eval_only:
            if not loaded:
                raise EngineError(
                    f"--eval-only: nothing to evaluate; set trainer.weights or run it in a run "
                    f"directory with checkpoints ({run_dir})"
                )
            return trainer.test()
        trainer.train()
        comm.synchronize()  # every process returns after the last file is written
        return trainer


def check_same_start(start_iter: int, run_dir: str) -> None:
    """Every process must resume from the same iteration (one all_gather, once)."""
    starts = comm.all_gather_object(int(start_iter))
    if len(set(starts)) > 1:
        raise EngineError(
            "the processes did not find the same checkpoint to start from (iteration per rank: "
            f"{starts}): with several machines the run directory {run_dir!r} must be on storage "
            "they all see"
        )


def report_interrupt() -> None:
    """Ctrl-C that did not let the trainer save: say what is on disk."""
    message = ("interrupted: stopped at once, without saving; the checkpoints already written are "
               "complete, last_checkpoint names the newest (continue with --resume)")
    print(message, file=sys.stderr, flush=True)
    log_to_files(message, logging.WARNING)


def report_error(error: Exception) -> None:
    message = f"error: {error}"
    print(message, file=sys.stderr, flush=True)
    log_to_files(message, logging.ERROR)
