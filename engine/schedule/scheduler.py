"""The entry point: argv -> checked config -> run directory -> launch -> trainer.

``BaseScheduler().schedule()`` is all a project's train.py calls. Bad input anywhere
(config, files, names, devices, a non-finite loss) ends here as one ``error:`` line on
stderr (and in log.txt once it exists) and exit status 2; what can be found from the
config alone is found before any worker starts (precheck.py). Any other exception ends
with its traceback on stderr and in the process's log file, one ``error:`` line, exit 1.
config.yaml is written only once the config has been checked and the trainer (model,
datasets, devices) built from it, and a fresh start never overwrites a run directory
that holds checkpoints. The console gets a short summary of the run (summary.py); the
resolved config goes to log.txt and config.yaml. :meth:`BaseScheduler.lunch_func` is the
seed's extension point: what each process does once set up.
"""
import logging
import os
import platform
import signal
import sys
import traceback
from typing import Optional, Sequence

import torch

from .. import __version__
from ..checkpoint.checkpointer import Checkpointer
from ..checkpoint.run_config import config_path_for
from ..compat.seed.keys import upper  # noqa: F401  (the seed's name)
from ..config.custom_imports import record_custom_imports
from ..config.loader import dump_cfg, load_cfg
from ..model.fsdp import offloads_to_cpu
from ..trainer.build import build_trainer
from ..trainer.preemption import EXIT_CODES
from ..trainer.trainer import run_dir_of
from ..utils import comm
from ..utils.atomic import atomic_write_text
from ..utils.errors import EXIT_BAD_INPUT, EngineError
from ..utils.logger import log_to_files, setup_logger
from ..utils.rng import seed_all
from .argparser import default_argument_parser, parse_command_line
from .determinism import enable_determinism
from .launch import launch
from .paradigm import with_paradigm
from .precheck import precheck
from .run_lock import is_main_launcher, run_directory_lock
from .string_hashing import describe as describe_string_hashing, run_with_fixed_string_hashing
from .summary import cpu_fallback_warning, run_summary

__all__ = ["BaseScheduler"]

logger = logging.getLogger("engine.schedule")

EXIT_INTERRUPTED = EXIT_CODES[signal.SIGINT]  # Ctrl-C outside the loop; in it: trainer/preemption.py
EXIT_CRASH = 1  # an exception that is not bad input (a bug), as Python itself exits


class BaseScheduler:
    def __init__(self):
        self.parser = default_argument_parser()

    def schedule(self, argv: Optional[Sequence[str]] = None):
        args = parse_command_line(self.parser, argv)
        run_with_fixed_string_hashing(argv)  # returns here only when no re-run is needed
        try:
            # custom_imports: the modules of the classes the config names, for the tools
            cfg = record_custom_imports(load_cfg(args.config_file, args.opts))
            check_distribute_flag(cfg, args)
            self.check_run_directory(cfg, args)
            precheck(cfg)  # what would fail in the workers, found before they start
            if args.deterministic:  # here too: spawned workers inherit CUBLAS_WORKSPACE_CONFIG
                enable_determinism()
            # one run per directory, and a writable one: before anything in it is written
            with run_directory_lock(run_dir_of(cfg), main=is_main_launcher(args.machine_rank),
                                    checkpoints=not args.eval_only):
                return launch(self.run_worker, args.num_gpus, args.num_machines, args.machine_rank,
                              args.dist_url, args=(cfg, args), device=cfg.TRAINER.DEVICE,
                              parallel=cfg.TRAINER.PARALLEL, timeout=cfg.TRAINER.DIST_TIMEOUT,
                              sync_bn=cfg.TRAINER.DDP.SYNC_BN, cpu_collectives=offloads_to_cpu(cfg))
        except EngineError as e:
            report_error(e)
            raise SystemExit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:  # Ctrl-C outside the loop, or twice (doc/resume.md)
            report_interrupt()
            raise SystemExit(EXIT_INTERRUPTED) from None
        except Exception as e:  # a bug (engine or project code) in this process
            report_crash(e)
            raise SystemExit(EXIT_CRASH) from None

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
        """Everything one process does before :meth:`lunch_func`: logging, the record of
        the run in log.txt, ``trainer.paradigm``, determinism, seeding."""
        run_dir, rank = run_dir_of(cfg), comm.get_rank()
        setup_logger(run_dir, rank)
        if args.deterministic:
            enable_determinism()
        log_to_files(f"engine {__version__}, torch {torch.__version__}, python "
                     f"{platform.python_version()}, {platform.platform()}", logging.INFO)
        log_to_files(f"command line: {' '.join(sys.argv)}", logging.INFO)
        log_to_files(f"string hashing: {describe_string_hashing()}", logging.INFO)
        if comm.get_world_size() > 1:
            logger.info("process %d of %d (local rank %d of %d on this machine)", rank,
                        comm.get_world_size(), comm.get_local_rank(), comm.get_local_size())
        cfg = with_paradigm(cfg)
        config_text = dump_cfg(cfg)
        log_to_files(f"resolved config (from {args.config_file}):\n{config_text}", logging.INFO)
        if cfg.TRAINER.PRINT_CONFIG and rank == 0:
            print(config_text, flush=True)
        warning = cpu_fallback_warning(cfg.TRAINER.DEVICE, comm.get_world_size())
        if warning and rank == 0:
            logger.warning(warning)
        if args.deterministic:
            logger.info("--deterministic: deterministic algorithms only, cudnn autotuning off")
        seed_all(int(cfg.SEED))
        if type(self).lunch_func is not BaseScheduler.lunch_func:
            self.write_config(cfg, args)  # the seed writes config.yaml before its lunch_func
        return self.lunch_func(cfg, args)

    def lunch_func(self, cfg, args):
        """Build the trainer, load its checkpoint or weights, train (or evaluate).

        The seed's extension point (its spelling): a subclass may override it, e.g. with
        ``trainer = build_trainer(cfg); trainer.resume_or_load(args.resume); trainer.loop()``.
        It runs in every process, after logging, seeding and ``trainer.paradigm`` are set
        up; an overriding one finds config.yaml already written."""
        trainer = build_trainer(cfg)  # every name, parameter and device checked here
        if comm.get_rank() == 0:
            for line in run_summary(trainer, cfg, args, run_dir_of(cfg)):
                logger.info(line)
        eval_only = args.eval_only
        loaded = trainer.resume_or_load(resume=args.resume or (eval_only and not cfg.TRAINER.WEIGHTS),
                                        flag="--resume" if args.resume else "--eval-only")
        self.write_config(cfg, args, trainer.start_iter if loaded == "checkpoint" and not eval_only else None)
        check_same_start(trainer.start_iter, run_dir_of(cfg))
        if eval_only:
            if not loaded:
                raise EngineError(
                    f"--eval-only: nothing to evaluate; set trainer.weights or run it in a run "
                    f"directory with checkpoints ({run_dir_of(cfg)})"
                )
            return trainer.test()
        trainer.loop()  # the seed's name; BaseTrainer.loop() runs train()
        comm.synchronize()  # every process returns after the last file is written
        return trainer

    def write_config(self, cfg, args, resumed_at: Optional[int] = None) -> None:
        """config.yaml in the run directory (rank 0; kept as it is for --eval-only); a
        resume that changed the config writes config.<iter>.yaml beside it (run_config.py)."""
        text = dump_cfg(cfg)
        config_path = config_path_for(run_dir_of(cfg), text, resumed_at)
        if config_path and comm.get_rank() == 0 and not (args.eval_only and os.path.exists(config_path)):
            atomic_write_text(config_path, text)
            log_to_files(f"config written to {config_path}", logging.INFO)


def check_distribute_flag(cfg, args) -> None:
    """``--distribute`` (the seed's flag) asks for one process per GPU: DDP, our default."""
    if args.distribute and str(cfg.TRAINER.PARALLEL).lower() == "dp":
        raise EngineError("--distribute asks for DistributedDataParallel, but trainer.parallel is 'dp' "
                          "(DataParallel): drop one of the two")


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


def report_crash(error: Exception) -> None:
    """A bug ended the run: its traceback on stderr and in this process's log file, then
    one ``error:`` line (the same is done in spawned workers, engine/schedule/worker.py)."""
    text = traceback.format_exc().rstrip()
    log_to_files(text, logging.ERROR)
    print(text, file=sys.stderr)
    message = (f"error: the run stopped on an exception: {type(error).__name__}: {error} "
               f"(traceback above, also in the run's log file)")
    print(message, file=sys.stderr, flush=True)
    log_to_files(message, logging.ERROR)


def report_error(error: Exception) -> None:
    message = f"error: {error}"
    print(message, file=sys.stderr, flush=True)
    log_to_files(message, logging.ERROR)
