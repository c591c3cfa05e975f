"""Logging through the event catalog only: ``from sevres.log import emit, events``."""

from sevres.log import events
from sevres.log.pipeline import (
    bind,
    bound,
    configure,
    current_context,
    emit,
    new_request_id,
    observe,
)

__all__ = ["bind", "bound", "configure", "current_context", "emit", "events",
           "new_request_id", "observe"]
