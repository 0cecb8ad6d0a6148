"""The request's session (``SessionDep``) as deployed: one transaction per request, committed
after the route returns, rolled back when it fails, and ended on the event loop when the route
left nothing open."""

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from marketplace import sessions
from marketplace.errors import Unprocessable, install_error_handlers
from marketplace.sessions import SessionDep, end_read

scratch = sa.Table(
    "session_scratch",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("note", sa.String(20), nullable=False),
)


@pytest.fixture
def scratch_table(committed_engine: Engine) -> Iterator[Engine]:
    scratch.create(committed_engine)
    try:
        yield committed_engine
    finally:
        scratch.drop(committed_engine)


@pytest.fixture
def finished(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The notes of the requests whose session was ended on a worker thread."""
    calls: list[str] = []
    finish = sessions._finish

    def spy(session: Any, error: BaseException | None) -> None:
        calls.append("error" if error else "ok")
        finish(session, error)

    monkeypatch.setattr(sessions, "_finish", spy)
    return calls


@pytest.fixture
def client(scratch_table: Engine) -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/notes/{note}")
    def write(note: str, session: SessionDep) -> dict[str, str]:
        session.execute(scratch.insert().values(note=note))
        if note == "refused":
            raise Unprocessable("refused after writing")
        return {"note": note}

    @app.get("/notes")
    def read(session: SessionDep) -> list[str]:
        notes = list(session.scalars(sa.select(scratch.c.note).order_by(scratch.c.id)))
        end_read(session)
        return notes

    @app.get("/notes/open")
    def read_left_open(session: SessionDep) -> list[str]:
        return list(session.scalars(sa.select(scratch.c.note).order_by(scratch.c.id)))

    @app.get("/nothing")
    def nothing(session: SessionDep) -> str:
        return "no query"

    with TestClient(app) as test_client:
        yield test_client


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(sa.select(scratch.c.note).order_by(scratch.c.id)))


def test_a_write_is_committed_after_the_route_returns(
    client: TestClient, scratch_table: Engine, finished: list[str]
) -> None:
    assert client.post("/notes/kept").status_code == 200
    assert _stored(scratch_table) == ["kept"]
    assert finished == ["ok"]


def test_a_refused_request_leaves_nothing(
    client: TestClient, scratch_table: Engine, finished: list[str]
) -> None:
    answer = client.post("/notes/refused")
    assert answer.status_code == 422
    assert answer.json()["detail"] == "refused after writing"
    assert _stored(scratch_table) == []
    assert finished == ["error"]


def test_a_read_left_open_is_ended_on_a_worker_thread(
    client: TestClient, finished: list[str]
) -> None:
    client.post("/notes/first")
    finished.clear()
    assert client.get("/notes/open").json() == ["first"]
    assert finished == ["ok"]


def test_a_read_the_route_ended_takes_no_worker_thread_to_end(
    client: TestClient, finished: list[str]
) -> None:
    client.post("/notes/first")
    finished.clear()
    assert client.get("/notes").json() == ["first"]
    assert client.get("/nothing").json() == "no query"
    assert finished == []
