"""Re-indexing one listing from two transactions at once (PostgreSQL, real commits)."""

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.listings.models import Listing
from marketplace.matching import search_index
from marketplace.matching.models import ListingSearch
from tests import factories
from tests.conftest import postgres_only
from tests.matching.overlap import PATIENCE_SECONDS, backend_pid, start, wait_until_blocked

pytestmark = postgres_only


def test_two_transactions_reindexing_one_listing_leave_one_entry(
    committed_engine: Engine,
) -> None:
    with Session(committed_engine) as session:
        listing, _ = factories.published_listing(session)
        session.commit()
        listing_id = listing.id
    first = Session(committed_engine)
    second = Session(committed_engine)
    failures: list[BaseException] = []
    thread: threading.Thread | None = None
    try:
        # The first re-indexes and holds its transaction open: its entry is not yet visible.
        search_index.index_listing(session=first, listing=first.get_one(Listing, listing_id))
        second_listing = second.get_one(Listing, listing_id)
        holder, waiter = backend_pid(first), backend_pid(second)

        def reindex_second() -> None:
            search_index.index_listing(session=second, listing=second_listing)
            second.commit()

        # The second re-indexes too, and must wait for the first (the listing's row lock).
        thread = start(reindex_second, failures)
        wait_until_blocked(committed_engine, waiter=waiter, holder=holder, thread=thread)
        first.commit()
    finally:
        first.close()  # its locks go with it, should the test have failed while it held them
        if thread is not None:
            thread.join(timeout=PATIENCE_SECONDS)
        second.close()
    assert thread is not None
    assert not thread.is_alive()
    assert failures == []
    with Session(committed_engine) as session:
        entries = session.scalar(
            select(sa.func.count())
            .select_from(ListingSearch)
            .where(col(ListingSearch.listing_id) == listing_id)
        )
    assert entries == 1
