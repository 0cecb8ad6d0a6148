"""The database layer: portable column types, and how SQLite transactions begin."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace import db
from marketplace.db import (
    ScaledDecimal,
    UTCDateTime,
    create_db_engine,
    get_engine,
    get_read_engine,
)
from marketplace.main import create_app
from tests.conftest import IS_POSTGRES

probe = sa.Table(
    "column_type_probe",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", ScaledDecimal(18, 2)),
    sa.Column("rate", ScaledDecimal(7, 4)),
    sa.Column("moment", UTCDateTime()),
)


@pytest.fixture
def probe_connection(session: Session) -> sa.Connection:
    # Created inside the test's transaction, so it disappears with the rollback.
    connection = session.connection()
    probe.create(connection)
    return connection


amounts = st.decimals(
    min_value=Decimal("-9999999999999999.99"),
    max_value=Decimal("9999999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
rates = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=4)


# Each example inserts and reads back its own row, so sharing the connection is harmless.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(amount=amounts, rate=rates)
def test_decimals_round_trip_exactly(
    probe_connection: sa.Connection, amount: Decimal, rate: Decimal
) -> None:
    row_id = probe_connection.execute(
        probe.insert().values(amount=amount, rate=rate).returning(probe.c.id)
    ).scalar_one()
    stored = probe_connection.execute(
        sa.select(probe.c.amount, probe.c.rate).where(probe.c.id == row_id)
    ).one()
    assert stored.amount == amount
    assert stored.rate == rate
    assert stored.amount.as_tuple().exponent == -2


def test_decimals_sort_numerically(probe_connection: sa.Connection) -> None:
    values = [Decimal("100.00"), Decimal("-5.50"), Decimal("20.25"), Decimal("3.00")]
    probe_connection.execute(probe.insert(), [{"amount": value} for value in values])
    ordered = probe_connection.execute(sa.select(probe.c.amount).order_by(probe.c.amount))
    assert list(ordered.scalars()) == sorted(values)


def test_datetimes_come_back_as_utc(probe_connection: sa.Connection) -> None:
    shanghai = timezone(timedelta(hours=8))
    moment = datetime(2026, 6, 15, 17, 30, tzinfo=shanghai)
    row_id = probe_connection.execute(
        probe.insert().values(moment=moment).returning(probe.c.id)
    ).scalar_one()
    stored = probe_connection.execute(
        sa.select(probe.c.moment).where(probe.c.id == row_id)
    ).scalar_one()
    assert stored == moment
    assert stored.tzinfo == UTC


def test_naive_datetimes_are_refused(probe_connection: sa.Connection) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        probe_connection.execute(probe.insert().values(moment=datetime(2026, 6, 15, 9, 30)))  # noqa: DTZ001


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's database-wide write lock")
def test_reads_do_not_wait_for_a_writer_on_sqlite(engine: Engine) -> None:
    get_engine.cache_clear()
    get_read_engine.cache_clear()
    writer = engine.connect()
    writer.exec_driver_sql("SELECT 1")  # the begin hook has taken the write lock
    try:
        with TestClient(create_app()) as client:
            # Deferred, the read runs beside the writer; taking the lock it would wait for the
            # 15 s busy timeout and answer 503.
            response = client.get("/api/v1/listings")
        assert response.status_code == 200, response.text
    finally:
        writer.rollback()
        writer.close()
        get_engine().dispose()
        get_engine.cache_clear()
        get_read_engine.cache_clear()


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server connection to lose")
def test_a_connection_idle_for_a_while_is_pinged_and_replaced_when_dead(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pooled = create_db_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    try:
        first = _backend_of(pooled)
        _terminate(engine, first)
        # Idle past the threshold: the checkout pings, finds it dead and connects afresh.
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
        second = _backend_of(pooled)
        assert second != first
    finally:
        pooled.dispose()


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server connection to lose")
def test_a_connection_in_steady_use_is_not_pinged_and_a_dead_one_fails_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pooled = create_db_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    try:
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
        first = _backend_of(pooled)
        _terminate(engine, first)
        with pytest.raises(sa.exc.OperationalError):
            _backend_of(pooled)
        # The failure discarded the pool: the next checkout connects afresh.
        assert _backend_of(pooled) not in (first, None)
    finally:
        pooled.dispose()


def _backend_of(pooled: Engine) -> int | None:
    with pooled.connect() as connection:
        pid: int | None = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        return pid


def _terminate(engine: Engine, pid: int | None) -> None:
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        connection.commit()
