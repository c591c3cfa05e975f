"""Identifiers and clocks shared by every domain."""

from __future__ import annotations

import datetime
import uuid


def new_id() -> str:
    """A Keystone-style id: 32 lower-case hex digits."""
    return uuid.uuid4().hex


def utcnow() -> datetime.datetime:
    """Naive UTC, as stored in the database."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def iso(moment: datetime.datetime) -> str:
    """Keystone's timestamp format: '2015-08-27T09:49:58.000000Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
