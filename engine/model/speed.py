"""``trainer.compile`` and ``trainer.channels_last``: the trained networks made fast, in place.

:func:`prepare_networks` runs once, from :func:`~engine.model.parallel.wrap_for_parallel`,
before any DDP/DataParallel wrap, on every network the bundle registered
(:meth:`BaseModel.register_network`):

* ``trainer.channels_last``: ``network.to(memory_format=torch.channels_last)``; the 4-D
  input batches follow where the batch moves to the device (engine/data/device_batches.py).
  The same parameter objects are kept, so the optimizer built before still holds them.
* ``trainer.compile``: ``nn.Module.compile(**options)``, which compiles the module's call
  in place, with random ops drawing as eager does and convolutions in the memory format
  the config chose (:func:`eager_numerics`). A method of
  the network the model calls (the seed's ``self.g_model.forward_train(img, gt)``) runs
  as a call of the network (method_calls.py), so it is compiled too.
  ``torch.compile(network)`` would return a wrapper whose ``state_dict`` keys start with
  ``_orig_mod.``, which breaks every loader of the checkpoint (Lightning #17415, #20233);
  in place, checkpoints, exported weights and resume see the very module they saw
  before. Compiling before the DDP wrap keeps DDP's reducer outside the graph (compiling
  after it broke the reducer: Lightning #20242).
* on CUDA, ``cudnn.benchmark = True`` unless ``--deterministic`` turned deterministic
  algorithms on (engine/schedule/determinism.py): convolutions autotune once per shape.

Evaluation and export run the networks eagerly (:func:`eager`, entered by
``BaseModel.inference_weights``): evaluation switches to eval mode, no grad and another
batch size, each a recompilation (tens of seconds on a CPU) for a pass that runs a few
times per run. The EMA copy is made when the bundle is built, before this, so it is
never compiled; it averages the same parameter objects.

Inductor (the default backend) builds C++ for CPU code; the compiler torch would call
(``torch._inductor.config.cpp.cxx``, ``$CXX``, else ``g++``) is looked up before
anything trains, so a machine without one fails in one line instead of at the first step.
"""
import contextlib
import logging
import os
import shutil
import weakref
from typing import Optional

import torch
from torch import nn

from ..utils.errors import ConfigError
from .method_calls import route_methods

__all__ = ["compile_options", "eager_numerics", "network_compile_options", "check_compiler", "refuse_cuda_graphs",
           "prepare_networks", "eager"]

logger = logging.getLogger(__name__)

#: Networks compiled by :func:`prepare_networks`; only those run eagerly in :func:`eager`
#: (a network the project compiled itself keeps its compiled calls).
_COMPILED: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()


def compile_options(value) -> Optional[dict]:
    """``trainer.compile`` as ``nn.Module.compile`` keyword arguments, None when off.
    The forms were checked when the config was loaded (config/loader.py); inductor's
    option names are lower-case (the config stores keys upper-case)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    options = {str(k).lower(): v for k, v in dict(value).items()}
    if "options" in options:
        options["options"] = {str(k).lower(): v for k, v in dict(options["options"]).items()}
    return options


def eager_numerics(options: dict, channels_last: bool = False) -> dict:
    """``options`` with two of inductor's options set, unless they set them, so that the
    compiled network computes what eager computes:

    * ``fallback_random``: random ops in the compiled graphs (dropout, drop-path) draw
      from torch's generator as eager does, the same numbers in the same order. With
      inductor's own generator a dropout network trained 20 steps ended 7.9e-2 from eager
      and left the global stream elsewhere (with it: 1.2e-7, the same stream).
    * ``layout_optimization``: inductor's own choice of channels_last activations for
      convolutions, kept to ``trainer.channels_last``'s choice (the one switch for the
      memory format). A convolution in another layout runs another oneDNN kernel, which
      sums in another order: the digits example's 20-step curve ended 3.3e-5 from eager
      with inductor's choice (the distance between eager contiguous and eager
      channels_last), 2.4e-7 with the config's. ``TORCHINDUCTOR_LAYOUT_OPTIMIZATION`` in
      the environment is inductor's own setting of it, left to decide.

    Inductor's options cannot go with a ``mode``, so a mode becomes its options
    (``torch._inductor.list_mode_options``, what torch.compile makes of it). Other
    backends, and a mode given with options (torch refuses that), are left as they are."""
    if options.get("backend", "inductor") != "inductor" or (options.get("mode") and options.get("options")):
        return options
    from torch._inductor import list_mode_options

    out = dict(options)
    mode = out.pop("mode", None)
    inductor = {**(list_mode_options(mode, out.get("dynamic")) if mode else {}), **(out.pop("options", None) or {})}
    inductor.setdefault("fallback_random", True)
    if "TORCHINDUCTOR_LAYOUT_OPTIMIZATION" not in os.environ:  # inductor's own switch, the user's
        inductor.setdefault("layout_optimization", bool(channels_last))
    return {**out, "options": inductor}


def _cxx_candidates():
    """The C++ compilers inductor tries, in its order (None: a conda install it only does
    when TORCH_INDUCTOR_INSTALL_GXX is set)."""
    from torch._inductor import config

    cxx = config.cpp.cxx
    return [c for c in (cxx if isinstance(cxx, (list, tuple)) else (cxx,)) if c]


def check_compiler(options: Optional[dict], where: str = "trainer.compile") -> None:
    """ConfigError (one line) when inductor would need a C++ compiler that is not there."""
    if options is None or options.get("backend", "inductor") != "inductor":
        return
    candidates = _cxx_candidates()
    if not any(shutil.which(c.split()[0]) for c in candidates):
        raise ConfigError(
            f"{where}: torch.compile's inductor backend builds C++ with {' or '.join(map(repr, candidates))} "
            f"(torch._inductor.config.cpp.cxx, $CXX), not found on PATH: install one (apt-get install g++), "
            f"point $CXX at one, or set {where} False")


def refuse_cuda_graphs(options: Optional[dict], device: torch.device, where: str = "trainer.compile",
                       asked=None) -> None:
    """ConfigError (one line) for compiled training on CUDA with CUDA graphs: the modes
    ``'reduce-overhead'`` and ``'max-autotune'``, inductor's ``triton.cudagraphs`` option,
    the ``'cudagraphs'`` backend. A graph replay writes its outputs into the memory of
    the replay before, and the step keeps those past the next call: the gradients that
    accumulate over micro-batches (torch's "accessing gradient tensor output of
    CUDAGraphs that has been overwritten"), the loss values the log line averages over
    its period. On the CPU the option does nothing, so it is left alone there. ``asked``:
    ``trainer.compile`` as the config gave it, named in the message as
    :func:`compile_options` reads it (``options`` when None)."""
    if options is None or device.type != "cuda":
        return
    inductor = options.get("options") or {}
    if options.get("backend") == "cudagraphs" or inductor.get("triton.cudagraphs"):
        raise ConfigError(
            f"{where}: CUDA graphs ({options if asked is None else compile_options(asked)}) cannot train here: a replay overwrites the outputs the "
            f"step keeps past the next call (gradients accumulated over micro-batches, logged loss "
            f"values); use mode 'max-autotune-no-cudagraphs' or 'default'")


def network_compile_options(compile_value, channels_last) -> Optional[dict]:
    """The ``nn.Module.compile`` keyword arguments for ``trainer.compile`` =
    ``compile_value`` and ``trainer.channels_last`` = ``channels_last`` (None: not
    compiled). benchmarks/gpu_throughput.py's hand loop compiles with them too."""
    options = compile_options(compile_value)
    return None if options is None else eager_numerics(options, bool(channels_last))


def prepare_networks(model, cfg) -> None:
    """channels_last, then compile, each registered network of ``model`` as the config
    asks (module docstring); cudnn autotuning on CUDA. Called before any wrap."""
    channels_last = bool(cfg.TRAINER.CHANNELS_LAST)
    options = network_compile_options(cfg.TRAINER.COMPILE, channels_last)
    if model.device.type == "cuda" and not torch.are_deterministic_algorithms_enabled():
        torch.backends.cudnn.benchmark = True
    if options is None and not channels_last:
        return
    check_compiler(options)
    refuse_cuda_graphs(options, model.device, asked=cfg.TRAINER.COMPILE)
    for name, network in model.named_networks().items():
        if channels_last:
            try:
                network.to(memory_format=torch.channels_last)
            except RuntimeError as error:  # a 5-D weight (3-D convolutions): channels_last_3d's case
                raise ConfigError(f"trainer.channels_last: {name} cannot be made channels_last "
                                  f"({str(error).splitlines()[0]}); set trainer.channels_last False") from error
        if options is not None:
            route_methods(network)  # the seed's self.g_model.forward_train(...) runs the compiled call
            try:
                network.compile(**options)
            except Exception as error:  # an unknown backend or mode is refused here, by torch
                raise ConfigError(f"trainer.compile {options}: torch.compile refused it for {name}: "
                                  f"{str(error).splitlines()[0]}") from error
            _COMPILED.add(network)
    logger.info("networks %s: %s", ", ".join(model.named_networks()),
                ", ".join(([f"compiled in place ({options})"] if options is not None
                           else []) + (["channels_last"] if channels_last else [])))


def eager(networks):
    """A context in which the networks :func:`prepare_networks` compiled run eagerly
    (``torch.compiler.set_stance('force_eager')``); nothing when none of ``networks`` is."""
    if any(net in _COMPILED for net in networks):
        return torch.compiler.set_stance("force_eager")
    return contextlib.nullcontext()
