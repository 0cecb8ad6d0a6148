"""Re-indexing one listing from two transactions at once (PostgreSQL, real commits)."""

import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.listings.models import Listing
from marketplace.matching import search_index
from marketplace.matching.models import ListingSearch
from tests import factories
from tests.conftest import postgres_only

pytestmark = postgres_only


def test_two_transactions_reindexing_one_listing_leave_one_entry(
    committed_engine: Engine,
) -> None:
    with Session(committed_engine) as session:
        listing, _ = factories.published_listing(session)
        session.commit()
        listing_id = listing.id
    both_started = threading.Barrier(2)
    failures: list[BaseException] = []

    def reindex() -> None:
        try:
            with Session(committed_engine) as session:
                found = session.get_one(Listing, listing_id)
                both_started.wait(timeout=10)
                search_index.index_listing(session=session, listing=found)
                # Hold the transaction open so that the other one overlaps it.
                time.sleep(0.2)
                session.commit()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=reindex) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    with Session(committed_engine) as session:
        entries = session.scalar(
            select(sa.func.count())
            .select_from(ListingSearch)
            .where(col(ListingSearch.listing_id) == listing_id)
        )
    assert entries == 1
