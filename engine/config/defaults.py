"""Every engine key with its default. A key not listed here is a typo, unless it sits
under a free-form component subtree (``new_allowed``), whose keys are that component's
constructor parameters.

Read this file as the reference of the config; ``doc/config.md`` explains each section.
"""
from .node import CfgNode as CN

__all__ = ["get_default_cfg"]


def _free(**defaults):
    """A free-form subtree: any key allowed, passed to the component's constructor."""
    node = CN(defaults, new_allowed=True)
    return node


def get_default_cfg() -> CN:
    _C = CN()
    _C.OUTPUT_DIR = "./output"          # runs are written to OUTPUT_DIR/OUTPUT_LOG_NAME/
    _C.OUTPUT_LOG_NAME = "log"
    _C.SEED = 42                        # every RNG (model init, data order, augmentation)

    _C.DATALOADER = CN()
    _C.DATALOADER.NUM_WORKERS = 4
    _C.DATALOADER.PIN_MEMORY = True     # only used on CUDA
    _C.DATALOADER.PREFETCH_FACTOR = 2
    _C.DATALOADER.SHUFFLE = True        # training order; evaluation is always in order
    _C.DATALOADER.TRAIN_DATA_SET = _free(NAME="")
    _C.DATALOADER.VAL_DATA_SET = _free(NAME="")

    _C.TRAINER = CN()
    _C.TRAINER.NAME = "BaseTrainer"
    _C.TRAINER.DEVICE = "auto"          # 'auto' (cuda if available), 'cuda', 'cuda:1', 'cpu'
    _C.TRAINER.WEIGHTS = ""             # weights to start from (fine-tuning); not a resume
    _C.TRAINER.LOG_PERIOD = 20          # iterations between log lines / metrics records
    _C.TRAINER.PROGRESS_BAR = True      # tqdm bar with ETA (only drawn on a terminal)
    _C.TRAINER.MODEL = CN()
    _C.TRAINER.MODEL.NAME = ""
    _C.TRAINER.MODEL.GENERATOR = _free(NAME="")
    _C.TRAINER.MODEL.DISCRIMINATOR = _free()
    _C.TRAINER.MODEL.LOSS = _free()
    _C.TRAINER.MODEL.EMA = CN()
    _C.TRAINER.MODEL.EMA.ENABLE = False
    _C.TRAINER.MODEL.EMA.DECAY_RATE = 0.9999
    _C.TRAINER.LOSS = _free()           # alias of TRAINER.MODEL.LOSS (the seed uses both)
    _C.TRAINER.EVALUATOR = _free(NAME="")  # '' = validation loss through run_step

    _C.SOLVER = CN()
    _C.SOLVER.GRADIENT_ACCUMULATION_BATCH = -1  # k > 1: k micro-batches per optimizer step
    _C.SOLVER.TRAIN_PER_BATCH = 8       # per process, per optimizer step
    _C.SOLVER.TEST_PER_BATCH = 8
    _C.SOLVER.MAX_ITER = 1000           # optimizer steps
    _C.SOLVER.MAX_KEEP = 20             # periodic checkpoints kept (best/final/newest never deleted)
    _C.SOLVER.CHECKPOINT_PERIOD = 5000
    _C.SOLVER.EVAL_PERIOD = 0           # 0: evaluate only at the end
    _C.SOLVER.GENERATOR = _solver_section()
    _C.SOLVER.DISCRIMINATOR = _free()
    return _C


def _solver_section() -> CN:
    node = CN()
    node.OPTIMIZER = CN()
    node.OPTIMIZER.TYPE = "Adam"
    node.OPTIMIZER.PARAMS = _free(LR=0.001)
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
