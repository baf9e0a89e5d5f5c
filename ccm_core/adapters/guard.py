"""De-duplication of repeated deliveries and per-sender rate limits, in Redis or the database.

Chat platforms deliver a webhook again when they did not see our answer in time, and
the same customer can flood a conversation. Every replica must agree on both, so the
state lives in Redis when ``CCM_REDIS_URL`` is set and in the database otherwise.
Keys are hashed first: a WhatsApp number never reaches either store in plain text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum

from sqlalchemy import Integer, String, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from ccm_core.adapters.db import rows_changed
from ccm_core.domain.base import Base, EnumText
from ccm_core.domain.errors import GuardUnavailable


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DeliveryState(StrEnum):
    PROCESSING = "processing"  # a replica holds it under a lease
    DONE = "done"  # handled: later copies are ignored


class InboundDelivery(Base):
    """A platform's delivery (Telegram update, WhatsApp message id) we took or finished."""

    __tablename__ = "inbound_deliveries"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[DeliveryState] = mapped_column(EnumText(DeliveryState, 16))
    lease_until: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]


class RateWindow(Base):
    """How many messages a sender sent in one fixed window."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


def hashed(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


DONE_SECONDS = 7 * 24 * 3600  # platforms retry for hours, not for days


class DatabaseGuard:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    def claim(self, key: str, lease_seconds: int = 60) -> bool:
        now, key = self.clock(), hashed(key)
        lease = now + dt.timedelta(seconds=lease_seconds)
        with self.sessions() as session:
            try:
                session.execute(
                    insert(InboundDelivery).values(
                        key=key, state=DeliveryState.PROCESSING, lease_until=lease, created_at=now
                    )
                )
                session.commit()
                return True
            except IntegrityError:
                session.rollback()
            # A replica that crashed while processing let its lease run out: take it over.
            taken = session.execute(
                update(InboundDelivery)
                .where(
                    InboundDelivery.key == key,
                    InboundDelivery.state == DeliveryState.PROCESSING,
                    InboundDelivery.lease_until < now,
                )
                .values(lease_until=lease)
            )
            session.commit()
            return rows_changed(taken) == 1

    def finish(self, key: str) -> None:
        with self.sessions() as session:
            session.execute(
                update(InboundDelivery)
                .where(InboundDelivery.key == hashed(key))
                .values(
                    state=DeliveryState.DONE, lease_until=self.clock() + dt.timedelta(seconds=DONE_SECONDS)
                )
            )
            session.commit()

    def done(self, key: str) -> bool:
        with self.sessions() as session:
            state = session.scalar(select(InboundDelivery.state).where(InboundDelivery.key == hashed(key)))
        return state == DeliveryState.DONE

    def release(self, key: str) -> None:
        with self.sessions() as session:
            session.execute(
                delete(InboundDelivery).where(
                    InboundDelivery.key == hashed(key), InboundDelivery.state == DeliveryState.PROCESSING
                )
            )
            session.commit()

    def allow(self, key: str, limit: int, window_seconds: int = 60) -> bool:
        now, key = self.clock(), hashed(key)
        start = dt.datetime.fromtimestamp(now.timestamp() // window_seconds * window_seconds, dt.UTC)
        with self.sessions() as session:
            counted = session.execute(
                update(RateWindow)
                .where(RateWindow.key == key, RateWindow.window_start == start)
                .values(count=RateWindow.count + 1)
            )
            if rows_changed(counted) == 0:
                try:
                    session.execute(insert(RateWindow).values(key=key, window_start=start, count=1))
                    session.commit()
                    return True
                except IntegrityError:  # another replica opened the window a moment earlier
                    session.rollback()
                    session.execute(
                        update(RateWindow)
                        .where(RateWindow.key == key, RateWindow.window_start == start)
                        .values(count=RateWindow.count + 1)
                    )
            count = session.scalar(
                select(RateWindow.count).where(RateWindow.key == key, RateWindow.window_start == start)
            )
            session.commit()
            return (count or 0) <= limit

    def forget_before(self, moment: dt.datetime) -> None:
        """Drop finished deliveries and old windows (the worker calls this now and then)."""
        with self.sessions() as session:
            session.execute(delete(InboundDelivery).where(InboundDelivery.lease_until < moment))
            session.execute(delete(RateWindow).where(RateWindow.window_start < moment))
            session.commit()


class RedisGuard:
    """The same contract on Redis: ``SET NX`` leases and ``INCR`` windows, expiring on their own."""

    def __init__(self, url: str, prefix: str = "ccm") -> None:
        import redis  # only deployments with Redis need the client

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}:{kind}:{hashed(key)}"

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """Redis's errors as the port's: the channels refuse the message for the platform to retry."""
        import redis

        try:
            yield
        except redis.RedisError as error:
            raise GuardUnavailable(f"Redis: {type(error).__name__}") from error

    def claim(self, key: str, lease_seconds: int = 60) -> bool:
        with self._reachable():
            return bool(
                self.redis.set(
                    self._key("delivery", key), DeliveryState.PROCESSING.value, nx=True, ex=lease_seconds
                )
            )

    def finish(self, key: str) -> None:
        with self._reachable():
            self.redis.set(self._key("delivery", key), DeliveryState.DONE.value, ex=DONE_SECONDS)

    def done(self, key: str) -> bool:
        with self._reachable():
            return self.redis.get(self._key("delivery", key)) == DeliveryState.DONE.encode()

    def release(self, key: str) -> None:
        name = self._key("delivery", key)
        with self._reachable():
            if self.redis.get(name) == DeliveryState.PROCESSING.encode():
                self.redis.delete(name)

    def allow(self, key: str, limit: int, window_seconds: int = 60) -> bool:
        window = int(utcnow().timestamp()) // window_seconds
        name = f"{self._key('rate', key)}:{window}"
        with self._reachable():
            pipe = self.redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, window_seconds * 2)
            count, _ = pipe.execute()
        return int(count) <= limit

    def forget_before(self, moment: dt.datetime) -> None:
        """Nothing to do: Redis expires deliveries and windows by itself."""
