"""Is a checkpoint file still the one that was written? Its CRC32 checksums, verified.

``torch.save`` writes a zip archive and stores, for every record (the pickle
``data.pkl`` and one record per tensor storage, ``data/0``, ``data/1``, ...), the
CRC32 of its bytes, computed while writing and fsynced with the file. ``torch.load``
never checks them: a flipped byte in tensor data loads silently as a wrong weight.
:func:`verify_checkpoint` reads every record and compares. Checksums inside the file
need no second file that a crash could leave out of step with it (no window between
two renames), and they cover every checkpoint: periodic, final, best and older ones.

What is covered: every byte of every record (all tensor data, the pickled structure,
the config); a damaged zip directory fails to open. Not covered: bytes between records
(alignment padding), a file replaced by another *valid* checkpoint, and errors made in
memory before the write. Records written with torch's CRC32 turned off
(``torch.serialization.set_crc32_options(False)``, stored as 0) are not checked.
"""
import zipfile
import zlib

from ..utils.errors import EngineError

__all__ = ["verify_checkpoint", "CorruptCheckpointError"]

_CHUNK = 1 << 22


class CorruptCheckpointError(EngineError):
    """A record's bytes differ from the checksum written with them."""


def verify_checkpoint(path: str) -> None:
    """Raise :class:`CorruptCheckpointError` naming the first damaged record of ``path``.
    Files that are not zip archives (the legacy torch format) are left to the loader."""
    if not zipfile.is_zipfile(path):
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise CorruptCheckpointError(f"damaged zip structure ({e})") from None
    with archive:
        for info in archive.infolist():
            if info.CRC == 0 and info.file_size:  # written with CRC32 off: nothing to compare
                continue
            try:
                with archive.open(info) as record:  # zipfile compares the CRC32 at the end
                    while record.read(_CHUNK):
                        pass
            except zipfile.BadZipFile as e:
                raise CorruptCheckpointError(
                    f"record {info.filename!r} differs from the checksum written with it ({e}): the "
                    f"file changed after it was written (disk or copy error)") from None
            except (OSError, EOFError, zlib.error) as e:
                raise CorruptCheckpointError(f"record {info.filename!r} cannot be read ({e})") from None
