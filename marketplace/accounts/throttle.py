"""Limits on credential checks (each costs ~0.1 s of Argon2): per address and account, per
account from anywhere, per address across accounts, and overall.

Counting is by fixed one-minute windows. Windows live in a ``WindowStore``: in this process by
default, shared by every process when a shared store is configured (see ``shared_windows``)."""

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from marketplace.errors import TooManyRequests

WINDOW_SECONDS = 60


class TooManyAttempts(TooManyRequests):
    default_code = "too_many_attempts"
    title = "Too many sign-in attempts"


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


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """Attempts per minute. The pair limit stops guessing one account from one place; the
    account limit stops a distributed guess at one account; the address limit stops one place
    trying many accounts; the overall limit keeps a flood from queueing unbounded hash work."""

    per_address_and_account: int = 10
    per_account: int = 30
    per_address: int = 60
    overall: int = 1200


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
        now = time.time()
        counted = self._store.count([key for key, _ in checks], now=now)
        waits = [
            WINDOW_SECONDS - (now - started)
            for (count, started), (_, limit) in zip(counted, checks, strict=True)
            if count > limit
        ]
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise TooManyAttempts(
                f"Too many attempts; retry in {retry_after} s.", retry_after=retry_after
            )
