"""A per-process fixed-window limiter for credential checks (each costs ~0.1 s of Argon2)."""

import math
import threading
import time
from collections import OrderedDict

from marketplace.errors import TooManyRequests


class TooManyAttempts(TooManyRequests):
    default_code = "too_many_attempts"
    title = "Too many sign-in attempts"


class AttemptLimiter:
    def __init__(self, *, per_minute: int, max_keys: int = 100_000) -> None:
        self._per_minute = per_minute
        self._max_keys = max_keys
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one attempt for ``key``; raise once the minute's allowance is spent."""
        now = time.monotonic()
        with self._lock:
            started, count = self._windows.pop(key, (now, 0))
            if now - started >= 60:
                started, count = now, 0
            count += 1
            self._windows[key] = (started, count)
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
        if count > self._per_minute:
            retry_after = max(1, math.ceil(60 - (now - started)))
            raise TooManyAttempts(
                f"Too many attempts; retry in {retry_after} s.", retry_after=retry_after
            )
