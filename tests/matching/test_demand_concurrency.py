"""Views of one listing flushed from several processes' tallies at once (PostgreSQL, real
commits): the upsert neither loses an increment, nor fails on the first insert of the day, nor
deadlocks whatever order the views came in."""

import threading

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from marketplace.matching import demand_counters
from marketplace.matching.models import ListingDemandDaily
from tests import factories
from tests.conftest import postgres_only

pytestmark = postgres_only
WRITERS = 4


def test_concurrent_views_are_all_counted(committed_engine: Engine) -> None:
    with Session(committed_engine) as session:
        first, _ = factories.published_listing(session)
        second, _ = factories.published_listing(session)
        session.commit()
        ids = [first.id or 0, second.id or 0]
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def view(order: list[int]) -> None:
        try:
            counts = demand_counters.DemandTally()
            for listing_id in order:
                counts.add([listing_id], views=1)
            start.wait(timeout=10)
            with committed_engine.begin() as connection:
                counts.flush(connection)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [
        threading.Thread(target=view, args=(ids if n % 2 else ids[::-1],)) for n in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    with Session(committed_engine) as session:
        rows = session.exec(select(ListingDemandDaily)).all()
    assert sorted((row.listing_id, row.views) for row in rows) == [(i, WRITERS) for i in ids]


def test_the_flusher_writes_the_tally_and_once_more_when_stopped(committed_engine: Engine) -> None:
    with Session(committed_engine) as session:
        listing, _ = factories.published_listing(session)
        session.commit()
        listing_id = listing.id or 0
    counts = demand_counters.DemandTally()
    flusher = demand_counters.DemandFlusher(committed_engine, interval=0.05, counts=counts)
    flusher.start()
    counts.add([listing_id], views=1)
    for _ in range(100):
        with Session(committed_engine) as session:
            if session.exec(select(ListingDemandDaily)).all():
                break
        threading.Event().wait(0.05)
    counts.add([listing_id], search_hits=1)
    flusher.stop()
    with Session(committed_engine) as session:
        [row] = session.exec(select(ListingDemandDaily)).all()
    assert (row.views, row.search_hits) == (1, 1)
