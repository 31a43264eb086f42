"""What the loaders say when a sample cannot be loaded or a batch is not what the model reads.

A sample that raises in ``__getitem__`` is reported as a :class:`DataLoadingError` naming
the dataset (its config key and class), the sample's index and, when the dataset says
one, its file (``describe_sample(index)``, doc/dataset.md). The original exception is
the cause, so its traceback stays in the report. The same error names the sample a
DataLoader worker was loading when it died (SIGKILL, the out-of-memory killer).

Batches are dicts: models read ``data['input_data']``, evaluators their ``input_key``.
:func:`check_batch_type` is the one check of that, for the training loader and the
evaluators alike.
"""
from collections.abc import Mapping
from typing import Optional

__all__ = ["DataLoadingError", "BatchTypeError", "sample_name", "check_batch_type", "short_message"]


class DataLoadingError(RuntimeError):
    """A sample failed to load (its ``__getitem__`` raised) or a loader worker died."""


class BatchTypeError(TypeError):
    """A dataset produced batches that are not dicts."""


def sample_name(dataset, index: int) -> str:
    """``'sample 7'``, or ``'sample 7 (/data/img_7.png)'`` when the dataset's optional
    ``describe_sample(index)`` says what the sample is. Never raises: it runs while
    another error is being reported."""
    describe = getattr(dataset, "describe_sample", None)
    text: Optional[str] = None
    if callable(describe):
        try:
            text = describe(index)
        except Exception:  # noqa: BLE001 - the index alone still names the sample
            text = None
    return f"sample {index} ({text})" if text else f"sample {index}"


def short_message(error: BaseException) -> str:
    """The message of ``error`` without the traceback torch prepends to an exception
    re-raised from a DataLoader worker ("Caught X in DataLoader worker process 0...")."""
    text = str(error)
    marker = f"{type(error).__name__}: "
    if text.startswith("Caught ") and marker in text:
        return text.rsplit(marker, 1)[-1].strip()
    return text


def _describe(batch) -> str:
    if isinstance(batch, (list, tuple)):
        return f"a {type(batch).__name__} of {len(batch)} item(s)"
    return f"a {type(batch).__name__}"


def check_batch_type(batch, split: str, dataset_name: str, needs: str = "") -> None:
    """Raise :class:`BatchTypeError` unless ``batch`` is a dict (a Mapping).

    ``split`` is 'training' or 'validation'; ``needs`` what the reader wants from it
    (an evaluator's keys)."""
    if isinstance(batch, Mapping):
        return
    raise BatchTypeError(
        f"the {split} batch from {dataset_name} is {_describe(batch)}, not a dict{needs}: "
        f"__getitem__ must return a dict of fields, e.g. {{'input_data': image, 'target_data': label}} "
        f"(and a collate_fn, when set, a dict of batched fields; doc/dataset.md)")
