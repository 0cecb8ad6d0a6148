"""Browsing without words: the page is live, the facet counts and total are remembered per
filter combination for ``browse_facets_seconds`` and forgotten when the catalogue changes."""

from collections.abc import Iterator
from functools import partial

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace.config import get_settings
from marketplace.matching import facet_cache
from marketplace.matching.models import ListingSearch
from marketplace.matching.search import SearchFilters, search_listings
from tests import factories
from tests.matching.helpers import listed


def test_a_browse_page_is_live_while_its_counts_are_remembered(
    session: Session, remembered_facets: None
) -> None:
    listed(session, "battery cooling")
    first = search_listings(session=session)
    assert first.total == 1

    newer = listed(session, "battery pack")  # not committed: the cache is not told
    second = search_listings(session=session)

    assert second.hits[0].listing_id == newer.id
    assert len(second.hits) == 2
    assert second.total == 1  # remembered
    assert second.facets == first.facets


def test_other_filters_are_counted_on_their_own(session: Session, remembered_facets: None) -> None:
    listed(session, "battery cooling", owner=factories.organization(session, region="Beijing"))
    listed(session, "battery pack", owner=factories.organization(session, region="Shanghai"))
    assert search_listings(session=session).total == 2
    beijing = search_listings(session=session, filters=SearchFilters(region="Beijing"))
    assert beijing.total == 1
    assert {f.value for f in beijing.facets.region} == {"Beijing"}


def test_a_committed_change_of_the_catalogue_forgets_the_counts(
    session: Session, remembered_facets: None
) -> None:
    listed(session, "battery cooling")
    assert search_listings(session=session).total == 1
    listed(session, "battery pack")
    session.commit()
    assert search_listings(session=session).total == 2


def test_words_are_never_answered_from_the_cache(session: Session, remembered_facets: None) -> None:
    listed(session, "battery cooling")
    assert search_listings(session=session, q="battery").total == 1
    listed(session, "battery pack")
    assert search_listings(session=session, q="battery").total == 2


def test_forget_drops_a_count_taken_before_it() -> None:
    cache = facet_cache.FacetCache()
    calls: list[int] = []

    def count() -> int:
        calls.append(1)
        cache.forget()  # the catalogue changed while this was being counted
        return len(calls)

    assert cache.get_or_count("key", 60, count) == 1
    assert cache.get_or_count("key", 60, lambda: 99) == 99  # not remembered
    assert cache.get_or_count("key", 60, lambda: 7) == 99
    assert cache.get_or_count("key", 0, lambda: 5) == 5


def test_the_cache_keeps_the_most_recent_entries_only() -> None:
    cache = facet_cache.FacetCache(max_entries=2)
    for key in ("a", "b", "c"):
        cache.get_or_count(key, 60, partial(str, key))
    assert cache.get_or_count("a", 60, lambda: "recounted") == "recounted"
    assert cache.get_or_count("c", 60, lambda: "recounted") == "c"


@pytest.fixture
def remembered_results(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MARKETPLACE_SEARCH_RESULTS_SECONDS", "60")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_first_page_of_words_is_remembered_until_the_catalogue_changes(
    session: Session, remembered_results: None
) -> None:
    first_listing = listed(session, "battery cooling")
    session.commit()
    first = search_listings(session=session, q="battery")
    assert [hit.listing_id for hit in first.hits] == [first_listing.id]

    # A change made by another process (here: the index row deleted behind this process's
    # back) shows once the time to live ends; until then the page is the one ranked before.
    session.execute(
        sa.delete(ListingSearch).where(col(ListingSearch.listing_id) == first_listing.id)
    )
    session.commit()
    assert search_listings(session=session, q="battery") is first
    assert search_listings(session=session, q="battery", limit=5).total == 0

    second_listing = listed(session, "battery pack")
    session.commit()  # this process changed the catalogue: forgotten
    again = search_listings(session=session, q="battery")
    assert [hit.listing_id for hit in again.hits] == [second_listing.id]


def test_a_transaction_that_changed_the_catalogue_searches_afresh(
    session: Session, remembered_results: None
) -> None:
    listed(session, "battery cooling")
    session.commit()
    assert search_listings(session=session, q="battery").total == 1
    listed(session, "battery pack")  # not committed
    assert search_listings(session=session, q="battery").total == 2


def test_pages_after_the_first_are_ranked_afresh(
    session: Session, remembered_results: None
) -> None:
    for n in range(3):
        listed(session, f"battery cell {n}")
    session.commit()
    first = search_listings(session=session, q="battery", limit=2)
    assert first.next_cursor is not None
    later = search_listings(session=session, q="battery", limit=2, cursor=first.next_cursor)
    assert (
        search_listings(session=session, q="battery", limit=2, cursor=first.next_cursor)
        is not later
    )
    assert {h.listing_id for h in later.hits}.isdisjoint(h.listing_id for h in first.hits)
