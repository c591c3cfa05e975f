"""Small files in the node's state folder, mapped into memory by every worker process, so
that the workers of one node share a few numbers for the cost of a load or a store."""

from __future__ import annotations

import mmap
import os
from pathlib import Path


def shared_map(path: Path, size: int) -> mmap.mmap:
    """``path`` (created 0600, its folder 0700, grown to ``size`` bytes) mapped shared."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(descriptor).st_size < size:
            os.ftruncate(descriptor, size)
        return mmap.mmap(descriptor, size)
    finally:
        os.close(descriptor)
