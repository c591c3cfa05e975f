"""Scheduled work every node does for itself: rotate keys when due and drop revocation
events no live token can match. Every node runs it; the database lets only one act."""

from __future__ import annotations

import datetime
import time

from sevres.config import Settings
from sevres.ids import utcnow
from sevres.log import emit, events
from sevres.storage.database import Database
from sevres.tokens import keyring
from sevres.tokens.keyring import Wrapper

CHECK_EVERY_S = 30.0


class Upkeep:
    def __init__(self, database: Database, wrapper: Wrapper, settings: Settings,
                 retain: datetime.timedelta) -> None:
        self.database = database
        self.wrapper = wrapper
        self.interval = datetime.timedelta(seconds=settings.key_rotation_interval)
        self.retain = retain
        self._next = time.monotonic() + CHECK_EVERY_S

    def __call__(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + CHECK_EVERY_S
        try:
            self.run()
        except Exception as error:  # retried at the next check
            emit(events.KEY_ROTATION_FAILED, error_type=type(error).__name__)

    def run(self) -> None:
        now = utcnow()
        if self.interval:
            with self.database.transaction(write=True, origin="upkeep") as tx:
                keyring.rotate_if_due(tx, self.wrapper, now, self.interval, self.retain)
        with self.database.transaction(write=True, origin="upkeep") as tx:
            if tx.revocations.any_before(now - self.retain):
                tx.revocations.prune(now - self.retain)
