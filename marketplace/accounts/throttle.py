"""Limits on credential checks (each costs ~0.1 s of Argon2): per address and account, per
account from anywhere, per address across accounts, and overall.

Registrations are limited the same way, per address (signup) and per organization (adding
users): their answers tell whether an e-mail has an account, so they are rate-limited.

Counting is by fixed one-minute windows. Windows live in a ``WindowStore``: in the shared database
by default (``DatabaseWindows``: every process and host counts together), in Redis when one is
configured (``RedisWindows``, with the database as its fallback), or in this process
(``MemoryWindows``: exact for one process only)."""

import logging
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from marketplace.accounts.models import AttemptWindow
from marketplace.config import Settings
from marketplace.db import get_engine
from marketplace.errors import TooManyRequests

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


class TooManyAttempts(TooManyRequests):
    default_code = "too_many_attempts"
    title = "Too many sign-in attempts"


class TooManyRegistrations(TooManyRequests):
    default_code = "too_many_registrations"
    title = "Too many registrations"


class WindowStore(Protocol):
    def count(self, keys: Sequence[str], *, now: float) -> list[tuple[int, float]]:
        """Count one attempt for each key; return each key's count in its current window and
        the window's start (seconds, on the store's clock)."""
        ...


class MemoryWindows:
    """Windows in this process: exact for one process, per process when there are several."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, keys: Sequence[str], *, now: float) -> list[tuple[int, float]]:
        counted: list[tuple[int, float]] = []
        with self._lock:
            for key in keys:
                started, count = self._windows.pop(key, (now, 0))
                if now - started >= WINDOW_SECONDS:
                    started, count = now, 0
                count += 1
                self._windows[key] = (started, count)
                counted.append((count, started))
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
        return counted


class DatabaseWindows:
    """Windows in the shared database, one row per key, counted by one atomic upsert (``INSERT
    ... ON CONFLICT DO UPDATE ... RETURNING``) in a transaction of its own: every process on
    every host counts against the same windows, and a refused attempt still counts."""

    # Expired rows are deleted now and then, not on every attempt.
    PURGE_ONE_IN = 500

    def __init__(self, engine: Engine | Callable[[], Engine]) -> None:
        self._engine = engine

    def _get_engine(self) -> Engine:
        return self._engine if isinstance(self._engine, Engine) else self._engine()

    def count(self, keys: Sequence[str], *, now: float) -> list[tuple[int, float]]:
        engine = self._get_engine()
        table: sa.Table = AttemptWindow.__table__  # type: ignore[attr-defined]
        dialect_insert: Any = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )
        # Sorted, so that two processes counting overlapping keys lock rows in the same order.
        ordered = sorted(set(keys))
        statement = dialect_insert(table).values(
            [{"key": key, "started_at": now, "count": 1} for key in ordered]
        )
        expired = table.c.started_at <= now - WINDOW_SECONDS
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": sa.case((expired, 1), else_=table.c.count + 1),
                "started_at": sa.case(
                    (expired, statement.excluded.started_at), else_=table.c.started_at
                ),
            },
        ).returning(table.c.key, table.c.count, table.c.started_at)
        with engine.begin() as connection:
            rows = {key: (count, started) for key, count, started in connection.execute(statement)}
            if random.randrange(self.PURGE_ONE_IN) == 0:  # noqa: S311 - not a secret
                connection.execute(
                    table.delete().where(table.c.started_at <= now - 2 * WINDOW_SECONDS)
                )
        return [(int(rows[key][0]), float(rows[key][1])) for key in keys]


class RedisWindows:
    """Windows in Redis: one counter per key and minute (``INCR`` then ``EXPIRE``, pipelined),
    the minute taken from the attempt's time so that every host agrees on its start."""

    def __init__(self, url: str, *, prefix: str = "marketplace:attempts:") -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = prefix

    def count(self, keys: Sequence[str], *, now: float) -> list[tuple[int, float]]:
        minute = int(now // WINDOW_SECONDS)
        started = float(minute * WINDOW_SECONDS)
        pipeline = self._client.pipeline(transaction=False)
        for key in keys:
            name = f"{self._prefix}{minute}:{key}"
            pipeline.incr(name)
            pipeline.expire(name, 2 * WINDOW_SECONDS)
        results = pipeline.execute()
        return [(int(results[2 * index]), started) for index in range(len(keys))]


class FallbackWindows:
    """The first store while it answers; the second when it fails (Redis down or unreachable),
    trying the first again after ``retry_after`` seconds. Sign-in keeps working, and keeps being
    limited, while Redis is away."""

    def __init__(self, primary: WindowStore, fallback: WindowStore, *, retry_after: float = 30):
        self._primary = primary
        self._fallback = fallback
        self._retry_after = retry_after
        self._failed_at: float | None = None

    def count(self, keys: Sequence[str], *, now: float) -> list[tuple[int, float]]:
        failed_at = self._failed_at
        if failed_at is None or time.monotonic() - failed_at >= self._retry_after:
            try:
                counted = self._primary.count(keys, now=now)
            except Exception:
                if failed_at is None:
                    logger.warning("attempt windows: primary store failed; using the fallback")
                self._failed_at = time.monotonic()
            else:
                self._failed_at = None
                return counted
        return self._fallback.count(keys, now=now)


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """Attempts per minute. The pair limit stops guessing one account from one place; the
    account limit stops a distributed guess at one account; the address limit stops one place
    trying many accounts; the overall limit keeps a flood from queueing unbounded hash work."""

    per_address_and_account: int = 10
    per_account: int = 30
    per_address: int = 60
    overall: int = 1200
    # Signups from one address, users added by one organization, per minute.
    registrations_per_address: int = 5
    members_per_organization: int = 20


class AttemptLimiter:
    def __init__(
        self,
        limits: AttemptLimits | None = None,
        *,
        per_minute: int | None = None,
        store: WindowStore | None = None,
    ) -> None:
        limits = limits or AttemptLimits()
        if per_minute is not None:
            limits = AttemptLimits(
                per_address_and_account=per_minute,
                per_account=max(per_minute, limits.per_account),
                per_address=max(per_minute, limits.per_address),
                overall=max(per_minute, limits.overall),
                registrations_per_address=limits.registrations_per_address,
                members_per_organization=limits.members_per_organization,
            )
        self.limits = limits
        self._store: WindowStore = store or MemoryWindows()

    def check(self, *, address: str, kind: str, account: str) -> None:
        """Count one attempt at ``account`` (a user's e-mail or a client id) from ``address``;
        raise once any of the minute's allowances is spent."""
        account = f"{kind}|{account.lower()}"
        checks = (
            (f"pair|{address}|{account}", self.limits.per_address_and_account),
            (f"account|{account}", self.limits.per_account),
            (f"address|{address}", self.limits.per_address),
            ("overall", self.limits.overall),
        )
        retry_after = self._count(checks)
        if retry_after:
            raise TooManyAttempts(
                f"Too many attempts; retry in {retry_after} s.", retry_after=retry_after
            )

    def check_signup(self, *, address: str) -> None:
        """Count one signup from ``address``: whether it succeeds tells whether its e-mail has
        an account, so an address may ask only a few times a minute."""
        self._check_registration((f"signup|{address}", self.limits.registrations_per_address))

    def check_member_added(self, *, organization_id: int) -> None:
        """Count one user added by an organization (the answer, too, tells whether an e-mail
        has an account)."""
        self._check_registration(
            (f"members|{organization_id}", self.limits.members_per_organization)
        )

    def _check_registration(self, check: tuple[str, int]) -> None:
        retry_after = self._count((check,))
        if retry_after:
            raise TooManyRegistrations(
                f"Too many registrations; retry in {retry_after} s.", retry_after=retry_after
            )

    def _count(self, checks: Sequence[tuple[str, int]]) -> int:
        """Seconds until every spent allowance renews (0: none is spent)."""
        now = time.time()
        counted = self._store.count([key for key, _ in checks], now=now)
        waits = [
            WINDOW_SECONDS - (now - started)
            for (count, started), (_, limit) in zip(counted, checks, strict=True)
            if count > limit
        ]
        return max(1, math.ceil(max(waits))) if waits else 0


def attempt_windows(settings: Settings) -> WindowStore:
    """The store the settings name: Redis (the database its fallback) when a URL is given, else
    the database, else this process's memory."""
    shared: WindowStore = (
        DatabaseWindows(get_engine) if settings.attempt_windows == "database" else MemoryWindows()
    )
    if settings.redis_url:
        return FallbackWindows(RedisWindows(settings.redis_url), shared)
    return shared
