"""The event feed: each organization reads its own events, in order, none lost or repeated."""

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.main import create_app
from tests import factories
from tests.conftest import postgres_only
from tests.problems import assert_problem


def record(session: Session, recipient: int, subject: str) -> None:
    events.record(
        session,
        recipients=[recipient],
        type=EventType.pledge_registered,
        subject=subject,
        payload={"subject": subject},
    )


def test_a_feed_walks_its_own_events_once_in_order(committed_engine: Engine) -> None:
    # Committed for real: a feed only shows what other transactions have committed.
    with Session(committed_engine) as setup:
        bank = factories.member(setup, kind=OrganizationKind.bank)
        other = factories.member(setup, kind=OrganizationKind.bank)
        for number in range(5):
            record(setup, bank.organization_id, f"pledge:{number}")
            record(setup, other.organization_id, f"pledge:other-{number}")
        headers = factories.auth(setup, bank)
        setup.commit()
        recipient = bank.organization_id

    with TestClient(create_app()) as client:
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            params = {"limit": 2} | ({"since": cursor} if cursor else {})
            page = client.get("/api/v1/events", headers=headers, params=params).json()
            seen += [item["subject"] for item in page["items"]]
            cursor = page["next_cursor"]
        assert seen == [f"pledge:{number}" for number in range(5)]

        # At the end the cursor stays put, and picks up what comes later.
        quiet = client.get("/api/v1/events", headers=headers, params={"since": cursor}).json()
        assert quiet["items"] == []
        assert quiet["next_cursor"] == cursor
        with Session(committed_engine) as writer:
            record(writer, recipient, "pledge:later")
            writer.commit()
        later = client.get("/api/v1/events", headers=headers, params={"since": cursor}).json()
        assert [item["subject"] for item in later["items"]] == ["pledge:later"]


def test_the_feed_pages_with_cursor_like_every_list_and_since_is_its_alias(
    committed_engine: Engine,
) -> None:
    with Session(committed_engine) as setup:
        bank = factories.member(setup, kind=OrganizationKind.bank)
        for number in range(3):
            record(setup, bank.organization_id, f"pledge:{number}")
        headers = factories.auth(setup, bank)
        setup.commit()

    with TestClient(create_app()) as client:

        def subjects(**params: object) -> tuple[list[str], str]:
            response = client.get("/api/v1/events", headers=headers, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert set(page) == {"items", "next_cursor", "limit"}  # as every list's page
            return [item["subject"] for item in page["items"]], page["next_cursor"]

        first, cursor = subjects(limit=2)
        assert first == ["pledge:0", "pledge:1"]
        # `cursor` continues (it used to be ignored, and the feed restarted)...
        assert subjects(cursor=cursor) == (["pledge:2"], subjects(since=cursor)[1])
        # ...as `since` does, and both at once when they agree.
        assert subjects(since=cursor)[0] == ["pledge:2"]
        assert subjects(cursor=cursor, since=cursor)[0] == ["pledge:2"]

        conflicting = client.get(
            "/api/v1/events", headers=headers, params={"cursor": cursor, "since": "other"}
        )
        problem = assert_problem(conflicting, 422, "cursor_conflict")
        assert [error["field"] for error in problem["errors"]] == ["query.since"]
        assert_problem(
            client.get("/api/v1/events", headers=headers, params={"cursor": "not-a-cursor"}),
            422,
            "invalid_cursor",
        )


def test_the_feed_needs_a_token_and_a_cursor_it_issued(
    client: TestClient, session: Session
) -> None:
    headers = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))
    assert_problem(client.get("/api/v1/events"), 401, "not_authenticated")
    assert_problem(
        client.get("/api/v1/events", headers=headers, params={"since": "not-a-cursor"}),
        422,
        "invalid_cursor",
    )
    assert_problem(
        client.get("/api/v1/events", headers=headers, params={"limit": 0}), 422, "validation_failed"
    )


@postgres_only
def test_an_event_still_being_written_holds_back_later_ones(committed_engine: Engine) -> None:
    with Session(committed_engine) as setup:
        bank = factories.member(setup, kind=OrganizationKind.bank)
        setup.commit()
        recipient = bank.organization_id

    slow = Session(committed_engine)
    fast = Session(committed_engine)
    reader = Session(committed_engine)
    try:
        record(slow, recipient, "first")  # inserted first: the lower id, not committed yet
        record(fast, recipient, "second")
        fast.commit()

        visible, cursor = events.feed(session=reader, recipient_id=recipient, since=None, limit=50)
        reader.rollback()
        # "second" has committed, but returning it now would let the cursor pass "first".
        assert [event.subject for event in visible] == []

        slow.commit()
        visible, _ = events.feed(session=reader, recipient_id=recipient, since=cursor, limit=50)
        assert [event.subject for event in visible] == ["first", "second"]
    finally:
        for session in (slow, fast, reader):
            session.close()
