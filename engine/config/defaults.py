"""Every engine key with its default. A key not listed here is a typo, unless it sits
under a free-form component subtree (``new_allowed``), whose keys are that component's
constructor parameters.

Read this file as the reference of the config; ``doc/config.md`` explains each section.
It is the only place a default is written: a component that also accepts a partial
section (``build_ema``, ``build_amp``, ``GradientClipper``) or has keyword defaults for
the same settings reads them here through :func:`default_of`.
"""
from typing import Any

from ..utils.tree import lower_keys
from .node import CfgNode as CN

__all__ = ["get_default_cfg", "get_defaults", "default_of", "SWITCHES_WITH_OPTIONS"]

#: Keys that take False, True or a dict of options (each option's accepted types): a
#: value replaces the previous one whole, whatever its form (loader.merge_checked).
SWITCHES_WITH_OPTIONS = {
    "TRAINER.COMPILE": {"BACKEND": (str,), "MODE": (str, type(None)), "FULLGRAPH": (bool,),
                        "DYNAMIC": (bool, type(None)), "OPTIONS": (dict,)},
}


def _free(**defaults):
    """A free-form subtree: any key allowed, passed to the component's constructor."""
    node = CN(defaults, new_allowed=True)
    return node


def get_default_cfg() -> CN:
    _C = CN()
    _C.OUTPUT_DIR = "./output"          # runs are written to OUTPUT_DIR/OUTPUT_LOG_NAME/
    _C.OUTPUT_LOG_NAME = "log"
    _C.SEED = 42                        # every RNG (model init, data order, augmentation)
    # modules registering the project's components, imported when the config is loaded
    # (before anything is built), from PROJECT_ROOT ('' = the current folder); a run adds
    # the modules of the classes its config names, so tools find them (custom_imports.py)
    _C.CUSTOM_IMPORTS = []
    _C.PROJECT_ROOT = ""

    _C.DATALOADER = CN()
    _C.DATALOADER.NUM_WORKERS = 4
    _C.DATALOADER.PIN_MEMORY = True     # only used on CUDA
    _C.DATALOADER.PREFETCH_FACTOR = 2
    _C.DATALOADER.SHUFFLE = True        # training order; evaluation is always in order
    # normalise on the device (doc/trainer.md#speed): the workers leave the fields KEYS
    # uint8, the device computes (x - MEAN) / STD; MEAN [] = off
    _C.DATALOADER.DEVICE_NORMALIZE = CN()
    _C.DATALOADER.DEVICE_NORMALIZE.MEAN = []    # per channel, in pixel units (0..255)
    _C.DATALOADER.DEVICE_NORMALIZE.STD = []
    _C.DATALOADER.DEVICE_NORMALIZE.KEYS = ["input_data"]
    _C.DATALOADER.TRAIN_DATA_SET = _free(NAME="")
    _C.DATALOADER.VAL_DATA_SET = _free(NAME="")
    # a third split (the seed's): --eval-only and engine-test evaluate it when it is set
    _C.DATALOADER.TEST_DATA_SET = _free(NAME="")

    _C.TRAINER = CN()
    _C.TRAINER.NAME = "BaseTrainer"
    # the seed's epoch mode: solver.max_iter, checkpoint_period and eval_period count epochs
    _C.TRAINER.ENABLE_EPOCH_METHOD = False
    # how this process runs, filled by the scheduler for user code (the seed's paradigm);
    # values given in a config are replaced (engine/schedule/paradigm.py)
    _C.TRAINER.PARADIGM = CN()
    _C.TRAINER.PARADIGM.TYPE = "NORMAL"   # 'NORMAL' one process, 'DP' DataParallel, 'DDP' process group
    _C.TRAINER.PARADIGM.GPU_ID = None     # DDP: this process's local rank (its GPU on CUDA)
    _C.TRAINER.PARADIGM.GLOBAL_RANK = 0
    _C.TRAINER.PARADIGM.WORLD_SIZE = 1
    _C.TRAINER.PARADIGM.NUM_PER_GPUS = 1  # processes (DDP) or GPUs (DP) on this machine
    _C.TRAINER.PRINT_CONFIG = False     # also print the resolved config on the console
    _C.TRAINER.DEVICE = "auto"          # 'auto' (cuda if available), 'cuda', 'cuda:1', 'cpu'
    _C.TRAINER.WEIGHTS = ""             # weights to start from (fine-tuning); not a resume
    # key prefixes stripped from trainer.weights keys the network does not know as they
    # are (DataParallel/DDP 'module.', torch.compile '_orig_mod.'); see doc/resume.md
    _C.TRAINER.WEIGHTS_PREFIXES = ["module.", "_orig_mod."]
    _C.TRAINER.LOG_PERIOD = 20          # iterations between log lines / metrics records
    _C.TRAINER.PROGRESS_BAR = True      # tqdm bar with ETA (only drawn on a terminal)
    # extra hooks (doc/trainer.md#hooks): [dict(name='EarlyStopping', monitor='val_loss'), ...]
    _C.TRAINER.HOOKS = []
    # several processes/GPUs (doc/distributed.md)
    _C.TRAINER.PARALLEL = "ddp"         # 'ddp': one process per GPU (or CPU process); 'dp': DataParallel, one process
    _C.TRAINER.DIST_TIMEOUT = 1800      # seconds a collective (or joining the group) may wait for the others
    _C.TRAINER.DDP = CN()               # DistributedDataParallel options
    _C.TRAINER.DDP.FIND_UNUSED_PARAMETERS = False  # True when some parameters get no gradient in a step
    _C.TRAINER.DDP.BROADCAST_BUFFERS = True        # rank 0's buffers (BN statistics) to all at each forward
    _C.TRAINER.DDP.SYNC_BN = False                 # BatchNorm -> SyncBatchNorm (CUDA only)
    _C.TRAINER.DDP.GRADIENT_AS_BUCKET_VIEW = False # gradients share DDP's buckets (less memory)
    # fully sharded data parallel (doc/distributed.md#fully-sharded): parameters, gradients,
    # optimizer state and EMA sharded over the processes (FSDP2); one process works too
    _C.TRAINER.FSDP = CN()
    _C.TRAINER.FSDP.ENABLED = False
    _C.TRAINER.FSDP.WRAP = []           # module class names sharded as their own unit (blocks); the root always is
    _C.TRAINER.FSDP.RESHARD_AFTER_FORWARD = True  # free gathered weights after forward (less memory, one more all-gather)
    _C.TRAINER.FSDP.CPU_OFFLOAD = False  # keep the sharded parameters and optimizer state in host memory (CUDA)
    # speed (doc/trainer.md#speed): torch.compile the trained networks in place before any
    # DDP wrap: False, True, or dict(backend=, mode=, fullgraph=, dynamic=, options=)
    _C.TRAINER.COMPILE = False
    _C.TRAINER.CHANNELS_LAST = False    # networks and 4-D input batches in channels_last
    # keep freed host memory for the next step (glibc malloc thresholds: engine/utils/host_memory.py)
    _C.TRAINER.REUSE_HOST_MEMORY = True
    _C.TRAINER.MODEL = CN()
    _C.TRAINER.MODEL.NAME = ""
    _C.TRAINER.MODEL.GENERATOR = _free(NAME="")
    # GANs (BaseGanModel, doc/model.md): dict(name=..., **kwargs) for one discriminator
    # (named 'd'), or dict(<name>=dict(name=..., **kwargs), ...) for several
    _C.TRAINER.MODEL.DISCRIMINATOR = _free()
    _C.TRAINER.MODEL.G_STEP = 1         # GANs: the generator trains every G_STEP iterations
    _C.TRAINER.MODEL.LOSS = _free()
    _C.TRAINER.MODEL.EMA = CN()         # EMA of the generator's weights, used for evaluation
    _C.TRAINER.MODEL.EMA.ENABLED = False
    _C.TRAINER.MODEL.EMA.DECAY_RATE = 0.9999
    _C.TRAINER.MODEL.EMA.WARMUP = "none"  # 'none', 'exp': decay*(1-exp(-step/tau)), 'ratio': min(decay, (1+step)/(10+step))
    _C.TRAINER.MODEL.EMA.TAU = 2000.0     # steps of the 'exp' warmup
    _C.TRAINER.MODEL.EMA.UPDATE_EVERY = 1  # update the average every N optimizer steps
    _C.TRAINER.LOSS = _free()           # a copy of TRAINER.MODEL.LOSS, where the seed reads it (its alias)
    _C.TRAINER.EVALUATOR = _free(NAME="")  # '' = validation loss through run_step

    _C.SOLVER = CN()
    _C.SOLVER.GRADIENT_ACCUMULATION_BATCH = -1  # k > 1: k micro-batches per optimizer step
    _C.SOLVER.TRAIN_PER_BATCH = 8       # per process, per optimizer step
    _C.SOLVER.TEST_PER_BATCH = 8
    _C.SOLVER.MAX_ITER = 1000           # optimizer steps
    _C.SOLVER.MAX_KEEP = 20             # periodic checkpoints kept (best/final/newest never deleted)
    _C.SOLVER.CHECKPOINT_PERIOD = 5000
    _C.SOLVER.EVAL_PERIOD = 0           # 0: evaluate only at the end
    # model_best.pth: the evaluator result to track ('' = off) and whether larger ('max') or
    # smaller ('min') is better; saved after an evaluation that improves on it
    _C.SOLVER.BEST_METRIC = ""
    _C.SOLVER.BEST_MODE = "max"
    # non-finite loss/gradients: 0 = stop at the first; N = skip up to N such steps in the
    # whole run (no optimizer/EMA update, LR schedule advances), stop at the next one
    _C.SOLVER.SKIP_NONFINITE_STEPS = 0
    # mixed precision (doc/solver.md): bfloat16 autocast (CPU, CUDA), or float16 autocast
    # with a GradScaler (CUDA only); the scaler is checkpointed with the model
    _C.SOLVER.AMP = CN()
    _C.SOLVER.AMP.ENABLED = False
    _C.SOLVER.AMP.DTYPE = "bfloat16"    # 'bfloat16' or 'float16'
    _C.SOLVER.AMP.EVAL = True           # evaluation runs under the same autocast
    _C.SOLVER.AMP.INIT_SCALE = 65536.0  # float16: first loss scale
    _C.SOLVER.AMP.GROWTH_INTERVAL = 2000  # float16: good steps before the scale doubles
    _C.SOLVER.GENERATOR = _solver_section()
    # GANs: optimizer/lr_scheduler shared by every discriminator, and/or one section per
    # discriminator name with its own (doc/model.md); missing parts take these defaults
    _C.SOLVER.DISCRIMINATOR = _free()

    # engine-export (doc/export.md), Otter's section: the registered export wrapper
    # ('' = the model's generator), inputs {name: dict(shape=[...], dtype='float32')},
    # names, dynamic axes, torch.onnx.export options (opset_version, do_constant_folding...)
    _C.ONNX = CN()
    _C.ONNX.NAME = ""
    _C.ONNX.INPUT_SHAPE = _free()
    _C.ONNX.INPUT_NAMES = []
    _C.ONNX.OUTPUT_NAMES = []
    _C.ONNX.DYNAMIC_AXES = _free()
    _C.ONNX.OPTIONS = _free()
    return _C


def default_of(key: str) -> Any:
    """The default of the dotted engine key ``key`` (any case): a value as it is, a
    section as a plain dict with lower-case keys (the form components take options in).
    ``default_of('solver.amp')['init_scale'] == 65536.0``."""
    node = get_default_cfg()
    for part in key.upper().split("."):
        node = node[part]
    return lower_keys(node) if isinstance(node, dict) else node


def get_defaults() -> CN:
    """The seed's name for the defaults (a clone of its ``_C``): :func:`get_default_cfg`."""
    return get_default_cfg()


def _solver_section() -> CN:
    node = CN()
    node.OPTIMIZER = CN()
    node.OPTIMIZER.TYPE = "Adam"
    node.OPTIMIZER.PARAMS = _free(LR=0.001)
    # param groups (doc/solver.md): [dict(pattern=REGEX, lr_mult=1.0, weight_decay_mult=1.0)],
    # the first rule matching a parameter's whole name applies
    node.OPTIMIZER.PARAM_GROUPS = []
    node.OPTIMIZER.WEIGHT_DECAY_NORM = None  # weight decay of norm layers (None: params.weight_decay)
    node.OPTIMIZER.WEIGHT_DECAY_BIAS = None  # weight decay of other biases (None: params.weight_decay)
    node.OPTIMIZER.CLIP_GRADIENTS = CN()
    node.OPTIMIZER.CLIP_GRADIENTS.ENABLED = False
    node.OPTIMIZER.CLIP_GRADIENTS.CLIP_TYPE = "norm"   # 'norm' or 'value'
    node.OPTIMIZER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
    node.OPTIMIZER.CLIP_GRADIENTS.NORM_TYPE = 2.0
    node.LR_SCHEDULER = CN()
    node.LR_SCHEDULER.ENABLED = False
    node.LR_SCHEDULER.TYPE = "LRMultiplierScheduler"
    node.LR_SCHEDULER.PARAMS = _free()
    return node
