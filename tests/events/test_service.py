"""Recording events: one at a time, or many of one type in one statement."""

from sqlmodel import Session, col, select

from marketplace.events import service as events
from marketplace.events.models import Event, EventType
from tests import factories
from tests.statements import counting_statements, inserts_into


def feed_order(session: Session) -> list[Event]:
    return list(
        session.scalars(select(Event).order_by(col(Event.transaction_id), col(Event.id))).all()
    )


def test_many_events_are_one_insert_per_thousand_in_the_order_given(session: Session) -> None:
    first, second = factories.organization(session), factories.organization(session)
    given = [
        events.NewEvent(
            recipient_id=(first.id if number % 3 else second.id) or 0,
            subject=f"listing:{number}",
            payload={"number": number},
        )
        for number in range(2_001)
    ]
    with counting_statements(session) as statements:
        events.record_many(session, type=EventType.saved_search_matched, events=given)
    assert len(inserts_into(statements, "event")) == 3
    written = feed_order(session)
    assert [(e.recipient_id, e.subject, e.payload) for e in written] == [
        (g.recipient_id, g.subject, g.payload) for g in given
    ]
    assert {e.type for e in written} == {EventType.saved_search_matched.value}
    # One transaction: the feed shows them together once it has committed.
    assert len({e.transaction_id for e in written}) == 1
    assert len({e.created_at for e in written}) == 1


def test_record_writes_one_event_per_distinct_recipient(session: Session) -> None:
    first, second = factories.organization(session), factories.organization(session)
    assert first.id is not None
    assert second.id is not None
    with counting_statements(session) as statements:
        events.record(
            session,
            recipients=[second.id, first.id, second.id],
            type=EventType.pledge_registered,
            subject="pledge:1",
            payload={"pledge_id": 1},
        )
    assert len(inserts_into(statements, "event")) == 1
    assert [(e.recipient_id, e.subject, e.payload) for e in feed_order(session)] == [
        (second.id, "pledge:1", {"pledge_id": 1}),
        (first.id, "pledge:1", {"pledge_id": 1}),
    ]


def test_nothing_to_record_sends_nothing(session: Session) -> None:
    factories.organization(session)
    session.flush()
    with counting_statements(session) as statements:
        events.record_many(session, type=EventType.pledge_registered, events=[])
        events.record(
            session, recipients=[], type=EventType.pledge_registered, subject="x", payload={}
        )
    assert statements == []
