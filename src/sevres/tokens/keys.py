"""The Fernet key repository, in Keystone's on-disk layout.

Keys are files named by integers in one directory: ``0`` is the *staged* key (the next
primary, already accepted for decryption so that every node knows it before it signs),
the highest number is the *primary* (encrypts new tokens), and the numbers between are
*secondary* keys kept only to decrypt tokens issued before the last rotation. A new
repository holds a staged and a primary key. Files are 0600 in a 0700 directory; key
material is never logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from sevres.log import emit, events


class KeyRepositoryError(Exception):
    """The key directory is missing, empty or unreadable."""


def _key_files(directory: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name.isdigit():
                found[int(path.name)] = path
    return found


def _write_key(path: Path) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(Fernet.generate_key())


def create(directory: Path) -> bool:
    """Create a staged and a primary key unless keys exist; True if it created them."""
    if _key_files(directory):
        return False
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    _write_key(directory / "0")
    _write_key(directory / "1")
    emit(events.KEYS_CREATED, path=str(directory))
    return True


def load(directory: Path) -> MultiFernet:
    """The key ring: primary first (it encrypts), then the others (they only decrypt)."""
    files = _key_files(directory)
    if not files:
        raise KeyRepositoryError(f"no Fernet keys in {directory}; run 'sevres init' first")
    order = sorted(files, reverse=True)  # primary (highest) first, staged (0) last
    try:
        ring = [Fernet(files[index].read_bytes().strip()) for index in order]
    except (OSError, ValueError) as error:
        raise KeyRepositoryError(f"unreadable Fernet key in {directory}: {error}") from None
    emit(events.KEYS_LOADED, count=len(ring), path=str(directory))
    return MultiFernet(ring)
