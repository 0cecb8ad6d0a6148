"""Recording events: one at a time, many of one type in one statement, or several together."""

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


def test_events_recorded_together_are_one_insert_in_the_order_recorded(
    session: Session,
) -> None:
    first, second = factories.organization(session), factories.organization(session)
    assert first.id is not None
    assert second.id is not None
    with counting_statements(session) as statements, events.together(session):
        events.record(
            session,
            recipients=[first.id],
            type=EventType.license_accepted,
            subject="license:1",
            payload={"license_id": 1},
        )
        with events.together(session):  # an inner block writes with the outer one
            events.record(
                session,
                recipients=[first.id, second.id],
                type=EventType.license_in_force,
                subject="license:1",
                payload={"license_id": 1},
            )
        assert inserts_into(statements, "event") == []  # nothing until the block ends
    assert len(inserts_into(statements, "event")) == 1
    written = feed_order(session)
    assert [(e.recipient_id, e.type) for e in written] == [
        (first.id, EventType.license_accepted.value),
        (first.id, EventType.license_in_force.value),
        (second.id, EventType.license_in_force.value),
    ]
    assert len({e.transaction_id for e in written}) == 1
    # Outside the block, each record is written at once again.
    events.record(
        session,
        recipients=[second.id],
        type=EventType.pledge_registered,
        subject="pledge:1",
        payload={"pledge_id": 1},
    )
    assert len(feed_order(session)) == 4


def test_events_of_a_block_that_fails_are_not_written(session: Session) -> None:
    organization = factories.organization(session)
    assert organization.id is not None
    try:
        with events.together(session):
            events.record(
                session,
                recipients=[organization.id],
                type=EventType.license_accepted,
                subject="license:1",
                payload={"license_id": 1},
            )
            raise RuntimeError("the use case fails")
    except RuntimeError:
        pass
    assert feed_order(session) == []
    # The next block starts afresh.
    with events.together(session):
        events.record(
            session,
            recipients=[organization.id],
            type=EventType.license_in_force,
            subject="license:1",
            payload={"license_id": 1},
        )
    assert [e.type for e in feed_order(session)] == [EventType.license_in_force.value]
