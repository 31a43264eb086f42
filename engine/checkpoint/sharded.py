"""Distributed checkpoints: one folder per save, each process writing its own shards.

With ``trainer.fsdp.enabled`` the periodic, preemption and best checkpoints keep their
names (``checkpoints/model_0000020.pth``) but are folders written with
``torch.distributed.checkpoint`` (DCP): every process writes its shards of the networks,
the EMA and the optimizer state at once, and any number of processes can read them back
(DCP reshards by the tensors' global offsets). ``model_final.pth`` stays one file.

A folder holds DCP's files (``__<rank>_0.distcp`` and ``.metadata``), ``trainer.pth`` (the
rest of the payload: iteration, data position, hook states, RNG, config) and, written
last, ``engine_record.json``: the CRC32 of every other file and each optimizer's
parameter names in order (to turn the name-keyed optimizer state back into torch's
index-keyed one without the bundle). The folder is written under a temporary name and
renamed when complete, so a kill mid-save leaves the previous checkpoint the newest, and
its temporary folder is removed on the next resume like a temporary file.

Reading: :func:`read_sharded` returns the payload with a lazy ``model`` entry
(:class:`ShardedModelState`): a sharded bundle loads its own shards from it; anything else
(an unsharded run, the tools) gets the consolidated state, the same as an unsharded run
would have written.
"""
import json
import logging
import os
import shutil
import tempfile
import zlib
from typing import Any, Dict, Optional

import torch
import torch.distributed as dist

from ..utils.errors import EngineError
from ..utils.atomic import _fsync_dir, atomic_write, atomic_write_text
from .integrity import CorruptCheckpointError

__all__ = ["save_sharded", "read_sharded", "consolidated_payload", "verify_sharded", "ShardedModelState",
           "is_sharded", "RECORD", "FORMAT"]

logger = logging.getLogger(__name__)

RECORD = "engine_record.json"
TRAINER = "trainer.pth"
FORMAT = "engine-distributed-checkpoint/1"


def is_sharded(path: str) -> bool:
    return os.path.isdir(path)


def _crc32(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def save_sharded(path: str, model_state: Dict[str, Any], payload: Dict[str, Any], optimizer_order: dict,
                 *, main: bool) -> None:
    """Every process calls this. ``model_state``: this process's shards; ``payload``: the
    rest (the main process's is written)."""
    import torch.distributed.checkpoint as dcp

    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.tmp")  # the same name on every process
    if main:
        shutil.rmtree(temporary, ignore_errors=True)
        os.makedirs(temporary)
    _barrier()
    dcp.save({"model": model_state}, checkpoint_id=temporary)  # .metadata written last, by rank 0
    if main:
        atomic_write(os.path.join(temporary, TRAINER), lambda f: torch.save(payload, f))
        files = {n: _crc32(os.path.join(temporary, n)) for n in sorted(os.listdir(temporary))}
        record = {"format": FORMAT, "iteration": payload.get("iteration"),
                  "world_size": dist.get_world_size() if dist.is_initialized() else 1,
                  "files": files, "optimizer_order": optimizer_order}
        atomic_write_text(os.path.join(temporary, RECORD), json.dumps(record, indent=1))
        _replace(temporary, path)
    _barrier()


def _replace(temporary: str, path: str) -> None:
    """Rename the finished folder to ``path`` (an older one of the same name, e.g.
    model_best.pth, is moved aside first and deleted after)."""
    old = None
    if os.path.lexists(path):
        old = f"{os.path.join(os.path.dirname(path), '.' + os.path.basename(path))}.old.tmp"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(path, old)
    os.rename(temporary, path)
    _fsync_dir(os.path.dirname(path))
    if old is not None:
        (shutil.rmtree if os.path.isdir(old) else os.unlink)(old)


def _record(path: str) -> dict:
    try:
        with open(os.path.join(path, RECORD)) as f:
            record = json.load(f)
    except FileNotFoundError:
        raise CorruptCheckpointError(f"{path} has no {RECORD}: the save did not finish") from None
    except (OSError, ValueError) as e:
        raise CorruptCheckpointError(f"{path}/{RECORD} does not read ({e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CorruptCheckpointError(f"{path}/{RECORD} is not an engine distributed-checkpoint record")
    return record


def verify_sharded(path: str) -> dict:
    """Check every file of the folder against the CRC32 in its record; the record."""
    record = _record(path)
    for name, crc in record["files"].items():
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            raise CorruptCheckpointError(f"{file} is missing")
        if _crc32(file) != crc:
            raise CorruptCheckpointError(f"{file} does not match the checksum recorded when it was written")
    return record


class ShardedModelState:
    """A distributed checkpoint's model state, read when someone asks for it."""

    def __init__(self, path: str, record: dict):
        self.path, self.record = path, record
        self._global_shapes: Optional[Dict[str, torch.Size]] = None

    def _shapes(self) -> Dict[str, torch.Size]:
        """Every tensor's global shape, from DCP's metadata (read once)."""
        if self._global_shapes is None:
            from torch.distributed.checkpoint import FileSystemReader
            from torch.distributed.checkpoint.metadata import TensorStorageMetadata

            metadata = FileSystemReader(self.path).read_metadata()
            self._global_shapes = {k: v.size for k, v in metadata.state_dict_metadata.items()
                                   if isinstance(v, TensorStorageMetadata)}
        return self._global_shapes

    def get(self, name: str, default=None):
        """The tensors of state ``name`` as meta tensors of their global shapes (what the
        resume's fit check compares), without reading them."""
        prefix = f"model.{name}."
        found = {k[len(prefix):]: torch.empty(s, device="meta") for k, s in self._shapes().items()
                 if k.startswith(prefix)}
        return found or default

    def load_into(self, model) -> None:
        """Read this process's shards into ``model`` (sharded: resharded by DCP; else the
        consolidated state)."""
        if model.sharding is None:
            model.load_state_dict(self.consolidated())
            return
        import torch.distributed.checkpoint as dcp

        from ..model.sharded_state import load_sharded, sharded

        state = {"model": sharded(model)}
        dcp.load(state, checkpoint_id=self.path)
        load_sharded(model, state["model"])
        saved = self.record.get("world_size")
        now = dist.get_world_size() if dist.is_initialized() else 1
        if saved != now:
            logger.info("resume: the shards of %s were written by %s process(es), read by %d: resharded",
                        self.path, saved, now)

    def consolidated(self) -> Dict[str, Any]:
        """The state as an unsharded run holds it: full tensors, index-keyed optimizers."""
        from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

        from ..model.sharded_state import indexed_optimizer_state

        with tempfile.TemporaryDirectory() as scratch:
            file = os.path.join(scratch, "state.pth")
            dcp_to_torch_save(self.path, file)
            state = torch.load(file, map_location="cpu", weights_only=True)["model"]
        for name, order in self.record.get("optimizer_order", {}).items():
            state[name] = {**state[name], "optimizer": indexed_optimizer_state(state[name]["optimizer"], order)}
        return state


def read_sharded(path: str, lazy: bool = True) -> Dict[str, Any]:
    """The payload of a distributed checkpoint (verified); its ``model`` is a
    :class:`ShardedModelState`, or the consolidated state when ``lazy`` is False."""
    record = verify_sharded(path)
    try:
        payload = torch.load(os.path.join(path, TRAINER), map_location="cpu", weights_only=True)
    except Exception as e:
        raise EngineError(f"{path}/{TRAINER} does not load ({type(e).__name__}: {e})") from None
    state = ShardedModelState(path, record)
    payload["model"] = state if lazy else state.consolidated()
    return payload


def consolidated_payload(path: str) -> Dict[str, Any]:
    """A distributed checkpoint as one regular payload (what ``model_final.pth`` holds)."""
    return read_sharded(path, lazy=False)

