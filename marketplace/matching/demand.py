"""The demand a listing meets: its views and search appearances, counted per day, and the open
technology needs it is relevant to, with an industrialisation prospect per patent.

Counters: ``listing_demand_daily`` counts per listing and day (``clock.today``) the views of a
published listing by anyone but its owner (signed in or not) and its appearances on the first
page of a ``q`` search (any caller, see ``search_and_record``). A read never writes them: it adds
to the process's tally, which is written in batches (``demand_counters``)."""

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.config import get_match_settings
from marketplace.listings import service as listings
from marketplace.listings.errors import ListingNotFound
from marketplace.listings.models import Listing
from marketplace.matching import coverage, demand_counters, search, tokenizer
from marketplace.matching.factors import FACTOR_DIGITS, active_licenses, best_ipc_proximity
from marketplace.matching.models import (
    DemandNeed,
    ListingDemand,
    ListingDemandDaily,
    PatentProspect,
    Prospect,
    SearchSort,
    TechnologyNeed,
)
from marketplace.matching.needs import readable_open_needs
from marketplace.matching.search_index import listing_document

DEMAND_WINDOW_DAYS = 30
# A need counts as demand for a listing from this relevance (see ``listing_demand``).
DEMAND_THRESHOLD = 0.25
MAX_DEMAND_NEEDS_SHOWN = 50
# A need counts for one patent when its IPC proximity, or the share of its words' weight that
# the patent's title and abstract cover, reaches this.
PATENT_IPC_THRESHOLD = 0.6
PATENT_TEXT_THRESHOLD = 0.5
HIGH_PROSPECT = 8.0
MEDIUM_PROSPECT = 3.0


def record_views(*, listing_ids: Iterable[int]) -> None:
    """One more view of each listing today, in this process's tally (no write)."""
    demand_counters.tally.add(listing_ids, views=1)


def record_search_hits(*, listing_ids: Iterable[int]) -> None:
    """One more search appearance of each listing today, in this process's tally (no write)."""
    demand_counters.tally.add(listing_ids, search_hits=1)


def search_and_record(
    *,
    session: Session,
    q: str | None = None,
    filters: search.SearchFilters = search.SearchFilters(),
    sort: SearchSort | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> search.SearchResult:
    """The public listing search (``search.search_listings``), whoever searches, recorded as
    demand: each listing on the first page of a word search counts one search hit."""
    result = search.search_listings(
        session=session, q=q, filters=filters, sort=sort, limit=limit, cursor=cursor
    )
    if q and cursor is None:
        record_search_hits(listing_ids=[hit.listing_id for hit in result.hits])
    return result


def _patent_words(title: str, abstract: str | None) -> coverage.ListingWords:
    return coverage.ListingWords.of(tokenizer.index_tokens(title), tokenizer.index_tokens(abstract))


def prospect_of(signal: float) -> Prospect:
    if signal >= HIGH_PROSPECT:
        return Prospect.high
    if signal >= MEDIUM_PROSPECT:
        return Prospect.medium
    return Prospect.low


def get_listing_demand(*, session: Session, listing_id: int, reader: Organization) -> ListingDemand:
    """The demand of the caller's own listing; anyone else's is not found. The needs in it are
    only those the owner may read as ``GET /needs/{id}`` would show them."""
    assert reader.id is not None
    listing = listings.get_visible_listing(
        session=session, listing_id=listing_id, organization_id=reader.id
    )
    if listing.owner_id != reader.id:
        raise ListingNotFound(f"Listing {listing_id} does not exist.")
    return listing_demand(session=session, listing=listing, reader=reader)


def listing_demand(*, session: Session, listing: Listing, reader: Organization) -> ListingDemand:
    """The demand a listing meets: the open needs it is relevant to (the most recent
    ``demand_needs``, each scored against this listing's words and IPC codes), its view and
    search counts, and per patent an industrialisation prospect.

    A need's relevance = 0.5 x (the listing's coverage of the need's words, weighed by the
    corpus as the search weighs them: ``coverage``) + 0.5 x (best IPC proximity); it counts from
    0.25, and names the need's words the listing has. Per patent, signal = 2 x needs relevant to
    that patent (IPC proximity ≥ 0.6 to its codes, or its title and abstract covering half the
    need's words' weight) + views in 30 days
    / 10 + search hits in 30 days / 50 + 3 x active licenses of the listing; high from 8, medium
    from 3, else low."""
    assert listing.id is not None
    settings = get_match_settings()
    since = clock.today() - timedelta(days=DEMAND_WINDOW_DAYS - 1)
    table = ListingDemandDaily
    totals = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(col(table.views)), 0),
            sa.func.coalesce(sa.func.sum(col(table.search_hits)), 0),
            sa.func.coalesce(
                sa.func.sum(sa.case((col(table.day) >= since, col(table.views)), else_=0)), 0
            ),
            sa.func.coalesce(
                sa.func.sum(sa.case((col(table.day) >= since, col(table.search_hits)), else_=0)),
                0,
            ),
        ).where(col(table.listing_id) == listing.id)
    ).one()
    views_total, hits_total, views_30, hits_30 = (int(value) for value in totals)
    unflushed = demand_counters.tally.unflushed(listing.id, since)
    views_total += unflushed.views
    hits_total += unflushed.search_hits
    views_30 += unflushed.views_since
    hits_30 += unflushed.search_hits_since
    active = active_licenses(session, [listing.id]).get(listing.id, 0)
    document = listing_document(listing)
    listing_words = coverage.ListingWords.of(document.title, document.body)
    listing_codes = [code for patent in listing.patents for code in patent.ipc_codes]
    patent_words = {p.id: _patent_words(p.title, p.abstract) for p in listing.patents}
    per_patent = dict.fromkeys(patent_words, 0)
    readable = readable_open_needs(reader)
    needs: list[TechnologyNeed] = (
        []
        if readable is None
        else list(
            session.scalars(
                select(TechnologyNeed)
                .where(readable)
                .order_by(col(TechnologyNeed.id).desc())
                .limit(settings.demand_needs)
            )
        )
    )
    terms_of = {need.id: need.search_terms() for need in needs}
    # Every need's words weighed in one look-up, as the search weighs a query's.
    weights = coverage.term_weights(session, (t for terms in terms_of.values() for t in terms))
    relevant: list[DemandNeed] = []
    for need in needs:
        terms = terms_of[need.id]
        ipc, _ = best_ipc_proximity(need.ipc_codes, listing_codes)
        covered = coverage.coverage(weights, terms, listing_words)
        relevance = 0.5 * covered.share + 0.5 * ipc
        if relevance < DEMAND_THRESHOLD:
            continue
        assert need.id is not None
        relevant.append(
            DemandNeed(
                need_id=need.id,
                title=need.title,
                region=need.region,
                relevance=round(relevance, FACTOR_DIGITS),
                ipc_proximity=ipc,
                matched_terms=covered.matched,
                created_at=need.created_at,
            )
        )
        for patent in listing.patents:
            patent_ipc, _ = best_ipc_proximity(need.ipc_codes, patent.ipc_codes)
            share = coverage.coverage(weights, terms, patent_words[patent.id]).share
            if patent_ipc >= PATENT_IPC_THRESHOLD or share >= PATENT_TEXT_THRESHOLD:
                per_patent[patent.id] += 1
    relevant.sort(key=lambda n: (-n.relevance, -n.need_id))
    shared_signal = views_30 / 10 + hits_30 / 50 + 3 * active
    prospects = []
    for patent_id, count in per_patent.items():
        assert patent_id is not None
        signal = round(2 * count + shared_signal, 2)
        prospects.append(
            PatentProspect(
                patent_id=patent_id,
                matching_needs=count,
                signal=signal,
                prospect=prospect_of(signal),
            )
        )
    return ListingDemand(
        listing_id=listing.id,
        matching_needs=relevant[:MAX_DEMAND_NEEDS_SHOWN],
        views_total=views_total,
        views_last_30_days=views_30,
        search_hits_total=hits_total,
        search_hits_last_30_days=hits_30,
        active_licenses=active,
        patents=prospects,
    )
