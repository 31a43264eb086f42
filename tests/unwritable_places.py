"""Places where no file can be written, for the tools' output options (issue 25 item 10)."""
import os

import pytest


@pytest.fixture
def unwritable(tmp_path):
    """Places no file can be written to: a path under a file, and a read-only folder
    (chmod for a normal user; root writes anywhere, so /sys there)."""
    (tmp_path / "a_file").write_text("x")
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        read_only = str(tmp_path / "ro" / "sub")
    elif os.path.isdir("/sys/kernel"):
        read_only = "/sys/kernel/engine-test-out"
    else:
        pytest.skip("no read-only folder to try")
    yield {"under a file": str(tmp_path / "a_file" / "sub"), "read-only": read_only}
    if os.geteuid() != 0:
        (tmp_path / "ro").chmod(0o755)
