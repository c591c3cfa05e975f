"""Logging through the event catalog only: ``from sevres.log import emit, events``."""

from sevres.log import events
from sevres.log.pipeline import bind, bound, configure, emit, new_request_id

__all__ = ["bind", "bound", "configure", "emit", "events", "new_request_id"]
