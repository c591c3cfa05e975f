"""Token time in whole milliseconds since the epoch (what payloads and revocations hold)."""

from __future__ import annotations

import datetime
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def from_ms(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).replace(tzinfo=None)
