"""One scheduler acts at a time.

PostgreSQL: a session advisory lock held on a dedicated connection; if the process dies its
connection closes and the lock goes with it. SQLite (one machine): a lease row renewed by
the leader, taken over by another process once it has expired.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from backend import clock
from backend.notifications.models import SchedulerLease

LOCK_KEY = 0x4A49_4159  # "JIAY": the advisory lock of the scheduler


class AdvisoryLeadership:
    def __init__(self, engine: Engine, holder: str, key: int = LOCK_KEY):
        self.engine, self.holder, self.key = engine, holder, key
        self._connection: Connection | None = None
        # The scheduler's loop and its jobs' threads ask at once; a connection serves one at a time.
        self._lock = threading.RLock()

    def try_acquire(self) -> bool:
        with self._lock:
            return self._try_acquire()

    def _try_acquire(self) -> bool:
        if self._connection is not None:
            return self._still_leader()
        connection = self.engine.connect()
        got = connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
        connection.commit()
        if got:
            self._connection = connection
            return True
        connection.close()
        return False

    def still_leader(self) -> bool:
        with self._lock:
            return self._still_leader()

    def _still_leader(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(sa.text("SELECT 1"))
            self._connection.commit()
            return True
        except sa.exc.DBAPIError:
            self._connection = None
            return False

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                    self._connection.commit()
                finally:
                    self._connection.close()
                    self._connection = None


class LeaseLeadership:
    def __init__(self, engine: Engine, holder: str, lease_seconds: int = 30, name: str = "scheduler"):
        self.engine, self.holder, self.lease, self.name = engine, holder, timedelta(seconds=lease_seconds), name

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired or ours, and extend it."""
        now = clock.utcnow()
        table = SchedulerLease.__table__
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(table).where(table.c.name == self.name)).first()
            if row is None:
                try:
                    connection.execute(sa.insert(table).values(name=self.name, holder=self.holder,
                                                               expires_at=now + self.lease))
                except sa.exc.IntegrityError:  # another process took it first
                    return False
                return True
            result = connection.execute(
                sa.update(table).where(table.c.name == self.name,
                                       sa.or_(table.c.holder == self.holder, table.c.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.lease)
            )
            return result.rowcount == 1

    still_leader = try_acquire

    def release(self) -> None:
        table = SchedulerLease.__table__
        with self.engine.begin() as connection:
            connection.execute(sa.delete(table).where(table.c.name == self.name, table.c.holder == self.holder))


def leadership_for(engine: Engine, holder: str, name: str = "scheduler", key: int = LOCK_KEY,
                   lease_seconds: int = 30):
    """The scheduler's lock by default; another process-wide lock (the statistics refresh's)
    under its own name and key."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLeadership(engine, holder, key)
    return LeaseLeadership(engine, holder, lease_seconds, name)
