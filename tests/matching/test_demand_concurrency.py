"""Views of one listing counted from several transactions at once (PostgreSQL, real commits):
the upsert neither loses an increment nor fails on the first insert of the day."""

import threading

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from marketplace.matching import demand
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
            with Session(committed_engine) as session:
                start.wait(timeout=10)
                demand.record_views(session=session, listing_ids=order)
                session.commit()
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
