"""Private files and directories: 0600 and 0700, whatever the umask.

The bottom of the package (it imports nothing of ours), so that both the WAL
and the logging pipeline can keep what they write to the user alone. Blocking
I/O: call it from a worker thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["DIR_MODE", "FILE_MODE", "ensure_private_dir"]

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and missing parents as 0700, whatever the umask.

    An existing ``directory`` is tightened to 0700 as well; existing parents are
    left alone because they may be shared (the project itself).
    """
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)  # mkdir's mode passes through the umask
    os.chmod(directory, DIR_MODE)
