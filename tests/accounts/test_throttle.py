"""Sign-in attempts are limited per address and account, per account, per address and overall."""

import pytest

from marketplace.accounts.throttle import (
    AttemptLimiter,
    AttemptLimits,
    MemoryWindows,
    TooManyAttempts,
)

LIMITS = AttemptLimits(per_address_and_account=2, per_account=3, per_address=4, overall=6)


def test_one_address_guessing_one_account_is_stopped_first() -> None:
    limiter = AttemptLimiter(LIMITS)
    for _ in range(2):
        limiter.check(address="10.0.0.1", kind="user", account="a@x.cn")

    with pytest.raises(TooManyAttempts) as refused:
        limiter.check(address="10.0.0.1", kind="user", account="A@x.cn")
    assert 1 <= int(refused.value.headers()["Retry-After"]) <= 60


def test_many_addresses_guessing_one_account_are_stopped() -> None:
    limiter = AttemptLimiter(LIMITS)
    for n in range(3):
        limiter.check(address=f"10.0.0.{n}", kind="user", account="a@x.cn")

    with pytest.raises(TooManyAttempts):
        limiter.check(address="10.0.0.99", kind="user", account="a@x.cn")
    # Another account is not held back by it.
    limiter.check(address="10.0.0.99", kind="user", account="b@x.cn")


def test_one_address_trying_many_accounts_is_stopped() -> None:
    limiter = AttemptLimiter(LIMITS)
    for n in range(4):
        limiter.check(address="10.0.0.1", kind="user", account=f"user{n}@x.cn")

    with pytest.raises(TooManyAttempts):
        limiter.check(address="10.0.0.1", kind="user", account="fresh@x.cn")
    limiter.check(address="10.0.0.2", kind="user", account="fresh@x.cn")


def test_a_flood_from_everywhere_meets_the_overall_limit() -> None:
    limiter = AttemptLimiter(LIMITS)
    for n in range(6):
        limiter.check(address=f"10.0.1.{n}", kind="user", account=f"user{n}@x.cn")

    with pytest.raises(TooManyAttempts):
        limiter.check(address="10.0.2.1", kind="client", account="mkc_new")


def test_users_and_clients_are_counted_apart() -> None:
    limiter = AttemptLimiter(LIMITS)
    for _ in range(2):
        limiter.check(address="10.0.0.1", kind="client", account="same")

    limiter.check(address="10.0.0.1", kind="user", account="same")


def test_a_window_starts_again_after_a_minute() -> None:
    store = MemoryWindows()
    assert store.count(["k"], now=1000.0) == [(1, 1000.0)]
    assert store.count(["k"], now=1059.0) == [(2, 1000.0)]
    assert store.count(["k"], now=1060.0) == [(1, 1060.0)]
