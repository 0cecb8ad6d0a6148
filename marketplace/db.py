"""Engine, metadata naming convention and column types that behave the same on SQLite and
PostgreSQL. Infrastructure: imports no domain (the sessions that commit use cases are in
``marketplace.sessions``)."""

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from json import JSONDecoder
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlmodel import Session, SQLModel

from marketplace.config import get_settings

# Set before any table is defined so that Alembic sees stable constraint names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

# Write transactions on SQLite take the database lock up front (BEGIN IMMEDIATE), so two writers
# queue on the busy timeout instead of one failing when it upgrades from reading to writing.
SQLITE_BEGIN_OPTION = "sqlite_begin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class ScaledDecimal(sa.types.TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; on SQLite an integer count of the smallest unit, because SQLite
    would otherwise round-trip decimals through floats."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def __repr__(self) -> str:
        # Alembic writes this into migrations.
        return f"ScaledDecimal(precision={self.precision}, scale={self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(self._quantum)
        if dialect.name == "sqlite":
            return int(quantized.scaleb(self.scale))
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both databases."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy: pysqlite would otherwise defer BEGIN and break
        # SAVEPOINTs. BEGIN itself is emitted by _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 15000")
        # Prefix LIKE (IPC codes, stored upper case) can then use an ordinary index; ilike()
        # compiles to lower(...) LIKE lower(...) and stays case-insensitive.
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    settings = get_settings()
    kwargs.setdefault("pool_size", settings.database_pool_size)
    kwargs.setdefault("max_overflow", settings.database_max_overflow)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("json_deserializer", decode_json)
    engine = sa.create_engine(url, **kwargs)
    _ping_after_idle(engine)
    return engine


# A pooled connection that sat idle this long is pinged before it is used again; one in steady
# use is not. Pinging every checkout (``pool_pre_ping``) cost each request a round trip and a
# statement's worth of Python; a connection that breaks while in steady use (the server
# restarted) fails its statement once, and SQLAlchemy then discards the whole pool, so the
# following requests connect afresh.
PING_AFTER_IDLE_S = 5.0
_RETURNED_AT = "returned_at"


def _ping_after_idle(engine: Engine) -> None:
    @sa.event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool then closes this connection and checks out another (or a new one).
            raise sa.exc.DisconnectionError("a pooled connection did not answer") from exc


_JSON_DECODER = JSONDecoder()


def decode_json(document: str | bytes) -> Any:
    """A JSON column's value as ``json.loads`` reads it. PostgreSQL sends UTF-8 bytes, so the
    encoding need not be guessed: a page of listings decodes some sixty documents, and the
    guessing was a third of the time ``json.loads`` took. Most of those documents are empty
    lists (no warnings, consents or fee reductions), answered without the decoder."""
    if document in _EMPTY_LIST:
        return []
    return _JSON_DECODER.decode(document if isinstance(document, str) else document.decode())


_EMPTY_LIST = (b"[]", "[]")


@lru_cache
def get_engine() -> Engine:
    return create_db_engine(get_settings().database_url)


@lru_cache
def get_read_engine() -> Engine:
    """The same engine and pool; on SQLite its transactions start deferred, so that reads run
    side by side instead of queuing for the write lock. (Ignored by PostgreSQL.)"""
    return get_engine().execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})


def transition(session: Session, statement: sa.Update) -> bool:
    """Run ``UPDATE ... WHERE <the expected current state>``; True if it changed exactly one row.

    A state change guarded this way is safe under concurrency on both databases: of two racing
    requests, one updates the row and the other sees zero rows changed."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast(sa.CursorResult[Any], result).rowcount == 1


def any_of(session: Session, column: Any, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL as ``column = ANY(:array)``: one parameter instead
    of a thousand, which psycopg and the planner handle far better for large batches."""
    items = list(values)
    if session.get_bind().dialect.name == "postgresql":
        condition = column == sa.any_(sa.bindparam(None, items, type_=ARRAY(column.type)))
    else:
        condition = column.in_(items)
    return cast(sa.ColumnElement[bool], condition)


def enum_type(enum_cls: type[Any], name: str) -> sa.Enum:
    """A VARCHAR with a CHECK constraint: portable, and cheap to extend in a migration."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
