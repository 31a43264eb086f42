"""``trainer.paradigm``: how this process runs, written into its config for user code.

The seed's scheduler fills ``cfg.TRAINER.PARADIGM`` before the trainer is built, and its
users' code reads it (``if cfg.TRAINER.PARADIGM.TYPE == 'DDP': ...``). Values given in a
config are replaced: the launch decides them, not the file.
"""
from ..utils import comm

__all__ = ["with_paradigm", "paradigm_of_this_process"]


def paradigm_of_this_process() -> dict:
    """TYPE 'DDP' in a process group, 'DP' for DataParallel over several GPUs, else
    'NORMAL'; GPU_ID is the local rank (DDP only), NUM_PER_GPUS the processes (DDP) or
    GPUs (DP) on this machine."""
    world, gpus = comm.get_world_size(), comm.get_gpus_per_process()
    if world > 1:
        return {"TYPE": "DDP", "GPU_ID": comm.get_local_rank(), "GLOBAL_RANK": comm.get_rank(),
                "WORLD_SIZE": world, "NUM_PER_GPUS": comm.get_local_size()}
    if gpus > 1:
        return {"TYPE": "DP", "GPU_ID": None, "GLOBAL_RANK": 0, "WORLD_SIZE": 1, "NUM_PER_GPUS": gpus}
    return {"TYPE": "NORMAL", "GPU_ID": None, "GLOBAL_RANK": 0, "WORLD_SIZE": 1, "NUM_PER_GPUS": 1}


def with_paradigm(cfg):
    """A frozen copy of ``cfg`` whose ``trainer.paradigm`` describes this process."""
    cfg = cfg.clone()
    cfg.defrost()
    paradigm = paradigm_of_this_process()
    if cfg.TRAINER.FSDP.ENABLED:  # sharded on any number of processes, one included
        paradigm.update(TYPE="FSDP", GPU_ID=comm.get_local_rank(), GLOBAL_RANK=comm.get_rank(),
                        WORLD_SIZE=comm.get_world_size(), NUM_PER_GPUS=comm.get_local_size())
    for key, value in paradigm.items():
        cfg.TRAINER.PARADIGM[key] = value
    cfg.freeze()
    return cfg
