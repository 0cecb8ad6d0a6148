"""Where attempt windows live: the shared database (every process counts together), Redis when
configured (the database its fallback when Redis is away), or this process."""

import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from marketplace.accounts.throttle import (
    WINDOW_SECONDS,
    AttemptLimiter,
    AttemptLimits,
    DatabaseWindows,
    FallbackWindows,
    MemoryWindows,
    RedisWindows,
    TooManyAttempts,
    TooManyRegistrations,
    attempt_windows,
)
from marketplace.config import Settings
from marketplace.main import create_app
from tests.conftest import IS_POSTGRES, postgres_only
from tests.problems import assert_problem

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.3).ping())
    except Exception:
        return False


def test_database_windows_count_each_key_and_start_again_after_a_minute(
    committed_engine: Engine,
) -> None:
    windows = DatabaseWindows(committed_engine)
    assert windows.count(["a", "b"], now=1000.0) == [(1, 1000.0), (1, 1000.0)]
    assert windows.count(["b", "a"], now=1010.0) == [(2, 1000.0), (2, 1000.0)]
    assert windows.count(["a"], now=1000.0 + WINDOW_SECONDS) == [(1, 1000.0 + WINDOW_SECONDS)]


def test_two_processes_sharing_the_database_count_together(committed_engine: Engine) -> None:
    """Two limiters, each with its own store over the same database, as two hosts would be."""
    limits = AttemptLimits(per_address_and_account=3, per_account=100, per_address=100)
    first = AttemptLimiter(limits, store=DatabaseWindows(committed_engine))
    second = AttemptLimiter(limits, store=DatabaseWindows(committed_engine))
    first.check(address="10.0.0.1", kind="user", account="a@x.cn")
    second.check(address="10.0.0.1", kind="user", account="a@x.cn")
    first.check(address="10.0.0.1", kind="user", account="a@x.cn")
    with pytest.raises(TooManyAttempts):
        second.check(address="10.0.0.1", kind="user", account="a@x.cn")


@postgres_only
def test_concurrent_counts_in_the_database_lose_no_attempt(committed_engine: Engine) -> None:
    windows = DatabaseWindows(committed_engine)
    start = threading.Barrier(8)
    seen: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        for _ in range(10):
            [(count, _), _overall] = windows.count(["pair", "overall"], now=5000.0)
            with lock:
                seen.append(count)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each of the 80 attempts got its own count: the upsert is atomic.
    assert sorted(seen) == list(range(1, 81))
    assert IS_POSTGRES


@pytest.mark.skipif(not _redis_available(), reason="needs Redis on 127.0.0.1:6379")
def test_redis_windows_are_shared_by_every_store() -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first = RedisWindows(REDIS_URL, prefix=prefix)
    second = RedisWindows(REDIS_URL, prefix=prefix)
    now = 60.0 * 1000 + 5
    assert first.count(["k"], now=now) == [(1, 60.0 * 1000)]
    assert second.count(["k", "j"], now=now + 10) == [(2, 60.0 * 1000), (1, 60.0 * 1000)]
    assert first.count(["k"], now=now + WINDOW_SECONDS) == [(1, 60.0 * 1001)]


class _Broken:
    def __init__(self) -> None:
        self.calls = 0

    def count(self, keys: Sequence[str], *, now: float) -> list[tuple[int, float]]:
        self.calls += 1
        raise ConnectionError("redis is away")


def test_the_fallback_counts_while_the_primary_store_fails_and_retries_it_later() -> None:
    broken, fallback = _Broken(), MemoryWindows()
    windows = FallbackWindows(broken, fallback, retry_after=3600)
    limiter = AttemptLimiter(AttemptLimits(per_address_and_account=2), store=windows)
    limiter.check(address="10.0.0.1", kind="user", account="a@x.cn")
    limiter.check(address="10.0.0.1", kind="user", account="a@x.cn")
    with pytest.raises(TooManyAttempts):
        limiter.check(address="10.0.0.1", kind="user", account="a@x.cn")
    # Tried once, then left alone until retry_after has passed.
    assert broken.calls == 1


def test_an_unreachable_redis_falls_back_to_the_database(committed_engine: Engine) -> None:
    settings = Settings(attempt_windows="database", redis_url="redis://127.0.0.1:1/0")
    windows = attempt_windows(settings)
    assert isinstance(windows, FallbackWindows)
    assert windows.count(["k"], now=100.0) == [(1, 100.0)]
    assert DatabaseWindows(committed_engine).count(["k"], now=101.0) == [(2, 100.0)]


def test_signups_from_one_address_are_limited(
    client: TestClient, signup_body: Callable[..., dict[str, Any]]
) -> None:
    app = client.app
    app.state.attempt_limiter = AttemptLimiter(  # type: ignore[attr-defined]
        AttemptLimits(registrations_per_address=2)
    )
    first = signup_body()
    assert client.post("/api/v1/signup", json=first).status_code == 201
    # The second asks about an e-mail that has an account: answered, and counted.
    taken = signup_body(user={"email": first["user"]["email"]})
    assert_problem(client.post("/api/v1/signup", json=taken), 409, "email_taken")
    response = client.post("/api/v1/signup", json=signup_body())
    assert_problem(response, 429, "too_many_registrations")
    assert 1 <= int(response.headers["Retry-After"]) <= WINDOW_SECONDS


def test_users_added_by_one_organization_are_limited() -> None:
    limiter = AttemptLimiter(AttemptLimits(members_per_organization=1))
    limiter.check_member_added(organization_id=1)
    limiter.check_member_added(organization_id=2)
    with pytest.raises(TooManyRegistrations):
        limiter.check_member_added(organization_id=1)


def test_the_app_counts_in_the_database_unless_told_otherwise() -> None:
    assert Settings().attempt_windows == "memory"  # the test harness's choice
    assert isinstance(attempt_windows(Settings(attempt_windows="database")), DatabaseWindows)
    assert create_app() is not None
