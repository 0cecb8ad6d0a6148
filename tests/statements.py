"""Counting the SQL statements that a piece of work sends, for tests of its cost."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session


@contextmanager
def counting_statements(session: Session) -> Iterator[list[str]]:
    """Every SQL statement sent on the test's connection, which the app's requests share."""
    statements: list[str] = []
    connection = session.connection()

    def record(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(connection, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(connection, "before_cursor_execute", record)


def inserts_into(statements: list[str], table: str) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(f"INSERT INTO {table.upper()} ")]
