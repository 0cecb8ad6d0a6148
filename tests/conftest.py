"""Test harness: the schema comes from the migrations, and every test runs inside a transaction
that is rolled back. Set MARKETPLACE_TEST_DATABASE_URL to run the suite on PostgreSQL."""

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

_TEST_DB_DIR = tempfile.mkdtemp(prefix="marketplace-tests-")
# On PostgreSQL the given database is only the way in: each run creates a database of its own
# (dropped at the end), so that runs side by side do not trample each other's schema.
SERVER_DATABASE_URL = os.environ.get("MARKETPLACE_TEST_DATABASE_URL")
IS_POSTGRES = bool(SERVER_DATABASE_URL and SERVER_DATABASE_URL.startswith("postgresql"))
RUN_DATABASE = f"marketplace_test_{uuid.uuid4().hex[:12]}"
if SERVER_DATABASE_URL and IS_POSTGRES:
    TEST_DATABASE_URL = str(make_url(SERVER_DATABASE_URL).set(database=RUN_DATABASE))
else:
    TEST_DATABASE_URL = SERVER_DATABASE_URL or f"sqlite:///{_TEST_DB_DIR}/test.db"
# Before anything reads the settings: a fixed secret, and Argon2 cheap enough for hundreds of
# hashes (the production cost is the default; tests check behavior, not hardness).
os.environ.update(
    {
        "MARKETPLACE_ENVIRONMENT": "test",
        "MARKETPLACE_DATABASE_URL": TEST_DATABASE_URL,
        "MARKETPLACE_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256-signing",
        "MARKETPLACE_ARGON2_TIME_COST": "1",
        "MARKETPLACE_ARGON2_MEMORY_COST_KIB": "64",
        "MARKETPLACE_ARGON2_PARALLELISM": "1",
        "MARKETPLACE_TOKEN_ATTEMPTS_PER_MINUTE": "1000",
        "MARKETPLACE_REGISTRATIONS_PER_ADDRESS_PER_MINUTE": "1000",
        "MARKETPLACE_MEMBERS_ADDED_PER_ORGANIZATION_PER_MINUTE": "1000",
        # Each test's transaction is rolled back; the shared windows are tested on their own.
        "MARKETPLACE_ATTEMPT_WINDOWS": "memory",
        # Certificate signing keys: generated on first use, outside the source tree.
        "MARKETPLACE_SIGNING_KEYS_DIR": f"{_TEST_DB_DIR}/signing-keys",
        # No background writer of demand counters: a test's counts stay in the process's tally
        # (shown by the demand view) until the test flushes them itself.
        "MARKETPLACE_DEMAND_FLUSH_SECONDS": "0",
        # Browse facets and first search pages counted afresh on every page: each test's
        # catalogue is its own (the cache is tested on its own, with a time to live).
        "MARKETPLACE_BROWSE_FACETS_SECONDS": "0",
        "MARKETPLACE_SEARCH_RESULTS_SECONDS": "0",
    }
)

import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

# Property tests check behavior, never time: on a shared, loaded machine an example may take far
# longer than Hypothesis's default 200 ms deadline, which would fail a correct test.
hypothesis_settings.register_profile("marketplace", deadline=None)
hypothesis_settings.load_profile("marketplace")
import sqlalchemy as sa  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from marketplace import clock, signing_keys  # noqa: E402
from marketplace.audit import recorder as audit_recorder  # noqa: E402
from marketplace.db import create_db_engine, get_engine, get_read_engine  # noqa: E402
from marketplace.events import catalogue  # noqa: E402
from marketplace.events import service as events_service  # noqa: E402
from marketplace.events.models import EventType  # noqa: E402
from marketplace.main import create_app  # noqa: E402
from marketplace.sessions import get_session, transaction  # noqa: E402
from tests.factories import NewParty, Party, SetNow, SetToday, make_party  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# The calendar day every test runs on unless it moves the clock itself.
TODAY = date(2026, 6, 15)


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logging"] = False
    return config


def reset_database(engine: Engine) -> None:
    if IS_POSTGRES:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    else:
        # SQLite has no schemas to drop; the migrations take everything down (FTS tables too).
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _server_admin(statement: str) -> None:
    assert SERVER_DATABASE_URL is not None
    server = sa.create_engine(SERVER_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        server.dispose()


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    if IS_POSTGRES:
        _server_admin(f'CREATE DATABASE "{RUN_DATABASE}"')
    engine = create_db_engine(TEST_DATABASE_URL)
    # The tests' sessions record audited changes as the app's and the commands' do.
    audit_recorder.install()
    try:
        reset_database(engine)
        upgrade_database(engine)
        # The certificate key, made once: a key written mid-test from another connection would
        # wait on the test's transaction (SQLite).
        signing_keys.forget()
        signing_keys.rotate(engine)
        yield engine
    finally:
        engine.dispose()
        get_engine().dispose()
        if IS_POSTGRES:
            _server_admin(f'DROP DATABASE IF EXISTS "{RUN_DATABASE}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def empty_demand_tally() -> Iterator[None]:
    """Each test counts views and search hits from zero."""
    from marketplace.matching import demand_counters

    demand_counters.tally.clear()
    yield
    demand_counters.tally.clear()


@pytest.fixture(autouse=True)
def no_remembered_facets() -> Iterator[None]:
    from marketplace.matching import facet_cache

    facet_cache.browse_facets.forget()
    facet_cache.search_results.forget()
    yield
    facet_cache.browse_facets.forget()
    facet_cache.search_results.forget()


@pytest.fixture
def remembered_facets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Browse facet counts remembered for a minute, as a server remembers them for seconds."""
    from marketplace.config import get_settings

    monkeypatch.setenv("MARKETPLACE_BROWSE_FACETS_SECONDS", "60")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def payloads_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event the application records carries exactly the payload fields the event
    catalogue (and so the API docs) describes: a new or dropped field fails the test that
    records it. Events a test records directly, with made-up payloads, are not checked."""
    record_many = events_service.record_many

    def checked(
        session: Session,
        *,
        type: EventType,
        events: Sequence[events_service.NewEvent],
    ) -> None:
        frame = sys._getframe(1)
        while frame.f_globals.get("__name__") == events_service.__name__ and frame.f_back:
            frame = frame.f_back
        if not str(frame.f_globals.get("__name__", "")).startswith("tests"):
            for event in events:
                drift = catalogue.undocumented(type, event.payload)
                assert not drift, f"{type} payload differs from the event catalogue: {drift}"
        record_many(session, type=type, events=events)

    monkeypatch.setattr(events_service, "record_many", checked)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    moment = datetime(TODAY.year, TODAY.month, TODAY.day, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: moment)
    monkeypatch.setattr(clock, "today", lambda: clock.day_of(moment))
    return moment


@pytest.fixture
def set_today(monkeypatch: pytest.MonkeyPatch) -> SetToday:
    """Move the clock: ``set_today(date(2030, 1, 1))``."""

    def move(day: date) -> None:
        moment = datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)
        monkeypatch.setattr(clock, "now", lambda: moment)
        monkeypatch.setattr(clock, "today", lambda: day)

    return move


@pytest.fixture
def set_now(monkeypatch: pytest.MonkeyPatch) -> SetNow:
    """Move the clock to a moment, and today to the marketplace's day of it:
    ``set_now(datetime(2026, 6, 15, 20, 0, tzinfo=UTC))`` is 16 June."""

    def move(moment: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: moment)
        monkeypatch.setattr(clock, "today", lambda: clock.day_of(moment))

    return move


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits are savepoints inside a transaction rolled back after the test."""
    # A certificate key exists before the test writes (a test of the migrations may have emptied
    # the table): made later, from another connection, it would wait on the test's transaction.
    signing_keys.forget()
    signing_keys.load(create=True, engine=engine)
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def app(session: Session) -> FastAPI:
    application = create_app()

    def test_session() -> Iterator[Session]:
        # What the test set up so far counts as already in the database, as it would be for a
        # real request: a refused request then undoes only its own work.
        session.commit()
        yield from transaction(session)

    application.dependency_overrides[get_session] = test_session
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _emptied(metadata: sa.MetaData) -> list[sa.Table]:
    """Every table but the signing keys, which outlive a test as they outlive a deployment."""
    return [table for table in metadata.sorted_tables if table.name != "signing_key"]


@pytest.fixture
def committed_engine(engine: Engine) -> Iterator[Engine]:
    """For tests that need real commits from concurrent connections (PostgreSQL): the app uses
    the real engine, and every table is emptied afterwards."""
    get_engine.cache_clear()
    get_read_engine.cache_clear()
    yield engine
    get_engine().dispose()
    get_engine.cache_clear()
    get_read_engine.cache_clear()
    from marketplace.models import metadata

    with engine.begin() as connection:
        if IS_POSTGRES:
            tables = ", ".join(f'"{table.name}"' for table in _emptied(metadata))
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            for table in reversed(_emptied(metadata)):
                connection.execute(table.delete())


@pytest.fixture
def new_party(session: Session) -> NewParty:
    """``new_party(kind=..., verified=..., scopes=..., name=...)``: a fresh caller."""

    def build(**kwargs: Any) -> Party:
        return make_party(session, **kwargs)

    return build


postgres_only = pytest.mark.skipif(not IS_POSTGRES, reason="needs PostgreSQL")


@pytest.fixture
def live_app(committed_engine: Engine) -> Iterator[FastAPI]:
    """The app exactly as deployed: no dependency overrides, real sessions, real commits."""
    yield create_app()
    # The app's engine holds its own pool; close it before the tables are emptied.
    get_engine().dispose()
