"""argon2id with the number of threads chosen per hash, apart from the number of lanes.

argon2-cffi's high-level API runs one thread per lane. A 4-lane hash therefore starts 4
threads every time, and on a server whose hashing threads already keep every core busy
those threads only fight one another: measured here, one 4-lane hash costs about a fifth
more CPU time with 4 threads than with 1, for the same result. The lanes are part of the
hash (they are in its encoded parameters); the threads are not, so they may differ from
one hash to the next.

This module computes the hash through argon2's ``argon2_ctx`` with both numbers given, and
reads and writes the standard encoded form (``$argon2id$v=19$m=..,t=..,p=..$salt$hash``),
so every hash stays readable by any argon2 library.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import ARGON2_VERSION, Type, core, error_to_str, ffi

SALT_BYTES = 16
HASH_BYTES = 32
_PREFIX = "$argon2id$"
ARGON2_OK = 0  # argon2.h's values
ARGON2_DEFAULT_FLAGS = 0


@dataclass(frozen=True)
class Encoded:
    """An argon2id hash read from its encoded form."""

    time_cost: int
    memory_kib: int
    lanes: int
    salt: bytes
    digest: bytes


def derive(password: bytes, salt: bytes, time_cost: int, memory_kib: int, lanes: int,
           threads: int, length: int = HASH_BYTES) -> bytes:
    """The raw argon2id hash, computed by ``threads`` threads (1 to ``lanes``)."""
    out = ffi.new("uint8_t[]", length)
    secret = ffi.new("uint8_t[]", password)
    csalt = ffi.new("uint8_t[]", salt)
    context = ffi.new("argon2_context *", {
        "out": out, "outlen": length, "pwd": secret, "pwdlen": len(password),
        "salt": csalt, "saltlen": len(salt), "secret": ffi.NULL, "secretlen": 0,
        "ad": ffi.NULL, "adlen": 0, "t_cost": time_cost, "m_cost": memory_kib,
        "lanes": lanes, "threads": max(1, min(threads, lanes)), "version": ARGON2_VERSION,
        "allocate_cbk": ffi.NULL, "free_cbk": ffi.NULL, "flags": ARGON2_DEFAULT_FLAGS,
    })
    code = core(context, Type.ID.value)
    if code != ARGON2_OK:
        raise HashingError(error_to_str(code))
    return bytes(ffi.buffer(out, length))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def encode(time_cost: int, memory_kib: int, lanes: int, salt: bytes, digest: bytes) -> str:
    return (f"{_PREFIX}v={ARGON2_VERSION}$m={memory_kib},t={time_cost},p={lanes}"
            f"${_b64(salt)}${_b64(digest)}")


def decode(encoded: str) -> Encoded | None:
    """The parts of an argon2id v19 hash, or None for anything else (another type or
    version, or a malformed string), which the caller verifies the standard way."""
    if not encoded.startswith(_PREFIX):
        return None
    parts = encoded.split("$")
    if len(parts) != 6 or parts[2] != f"v={ARGON2_VERSION}":
        return None
    try:
        fields = dict(item.split("=", 1) for item in parts[3].split(","))
        if sorted(fields) != ["m", "p", "t"]:
            return None
        memory, time_cost, lanes = int(fields["m"]), int(fields["t"]), int(fields["p"])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        return None
    if min(memory, time_cost, lanes) < 1 or memory < 8 * lanes or len(digest) < 4 \
            or len(salt) < 8:
        return None
    return Encoded(time_cost, memory, lanes, salt, digest)
