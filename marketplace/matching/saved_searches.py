"""Saved searches, and the alerts they raise when a matching listing is published.

A saved search keeps ``q`` and the filters of the listing search. Its words are segmented once,
when it is saved, into ``saved_search_term`` (an inverted index: word → saved searches). When a
listing is published, the listings service calls :func:`alert_on_publish` in the same
transaction, with the words just indexed: one query finds the saved searches whose every word is
in the listing (grouped by saved search, counted against its number of words), one more the
saved searches without words; their filters are then checked in Python against the listing's
index row. Cost grows with the saved searches that share a word with the listing, never with all
of them.

Matching is stricter than the interactive search: every word must appear (no "any word"
fallback, no spelling correction). Each organization with matching saved searches gets one
``saved_search.matched`` event per published listing; the publisher is never alerted about its
own listing. A listing published again after a withdrawal is a new publication and alerts again.

SME needs: saving a need for alerts is saving a search whose ``q`` is the need's text (and its
filters), through :func:`create_saved_search`."""

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.config import get_settings
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.listings.models import Listing, ListingStatus
from marketplace.matching import service as matching
from marketplace.matching import tokenizer
from marketplace.matching.errors import (
    InvalidSavedSearch,
    SavedSearchLimitReached,
    SavedSearchNotFound,
)
from marketplace.matching.models import (
    MAX_TERM_LENGTH,
    SavedSearch,
    SavedSearchCreate,
    SavedSearchQuery,
    SavedSearchTerm,
    SavedSearchUpdate,
)
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents import service as patents
from marketplace.patents.identifiers import ipc_like_pattern

# Words of a listing looked up per query (well under SQLite's limit on bound parameters).
_TERM_BATCH = 2_000


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def filters_of(query: SavedSearchQuery) -> matching.SearchFilters:
    """The saved search's filters as the search takes them."""
    return matching.SearchFilters(
        ipc=query.ipc,
        kind=query.kind,
        owner_id=query.owner_id,
        owner_kind=query.owner_kind,
        region=query.region,
        royalty_type=query.royalty_type,
        max_upfront_fee=query.max_upfront_fee,
        max_royalty_rate=query.max_royalty_rate,
        min_remaining_years=query.min_remaining_years,
    )


def query_of(saved: SavedSearch) -> SavedSearchQuery:
    return SavedSearchQuery.model_validate(saved.query)


def create_saved_search(
    *,
    session: Session,
    organization: Organization,
    data: SavedSearchCreate,
    created_by_id: int | None = None,
) -> SavedSearch:
    """Save a search for the organization, within its limit of saved searches."""
    assert organization.id is not None
    query = SavedSearchQuery.model_validate(data.model_dump(exclude={"name"}))
    terms = tokenizer.query_terms(query.q) if query.q else []
    if query.q and not terms:
        raise InvalidSavedSearch(
            "q has no searchable words (only stopwords or punctuation).", field="q"
        )
    if not terms and all(value is None for value in asdict(filters_of(query)).values()):
        raise InvalidSavedSearch("Give q or at least one filter: this would match everything.")
    if any(len(term) > MAX_TERM_LENGTH for term in terms):
        raise InvalidSavedSearch("q has a word that is too long.", field="q")
    if session.get_bind().dialect.name == "postgresql":
        # Two requests saving at once would both count below the limit.
        session.execute(
            sa.select(col(Organization.id))
            .where(col(Organization.id) == organization.id)
            .with_for_update()
        )
    limit = get_settings().saved_searches_per_organization
    count = session.scalar(
        select(sa.func.count())
        .select_from(SavedSearch)
        .where(col(SavedSearch.organization_id) == organization.id)
    )
    if (count or 0) >= limit:
        raise SavedSearchLimitReached(
            f"An organization may keep at most {limit} saved searches; delete one first.",
            limit=limit,
        )
    saved = SavedSearch(
        organization_id=organization.id,
        created_by_id=created_by_id,
        name=data.name,
        query=query.model_dump(mode="json", exclude_none=True),
        terms=terms,
        term_count=len(terms),
    )
    session.add(saved)
    session.flush()
    assert saved.id is not None
    session.add_all(SavedSearchTerm(term=term, saved_search_id=saved.id) for term in terms)
    session.flush()
    return saved


def get_own_saved_search(
    *, session: Session, saved_search_id: int, organization_id: int
) -> SavedSearch:
    saved = session.get(SavedSearch, saved_search_id)
    if saved is None or saved.organization_id != organization_id:
        raise SavedSearchNotFound(f"Saved search {saved_search_id} does not exist.")
    return saved


def list_saved_searches(
    *, session: Session, organization_id: int, params: PageParams
) -> tuple[Sequence[SavedSearch], str | None]:
    """The organization's saved searches, newest first."""
    statement = select(SavedSearch).where(col(SavedSearch.organization_id) == organization_id)
    return paginate_by_id(session, statement, id_column=col(SavedSearch.id), params=params)


def update_saved_search(
    *, session: Session, saved: SavedSearch, changes: SavedSearchUpdate
) -> SavedSearch:
    """Rename it, or pause (``active=False``) and resume its alerts."""
    values = changes.model_dump(exclude_unset=True)
    for field in ("name", "active"):
        if field in values:
            if values[field] is None:
                raise InvalidSavedSearch(f"{field} cannot be null.", field=field)
            setattr(saved, field, values[field])
    session.add(saved)
    session.flush()
    return saved


def delete_saved_search(*, session: Session, saved: SavedSearch) -> None:
    """Gone with its words; events already recorded stay in the feed."""
    session.execute(
        sa.delete(SavedSearchTerm).where(col(SavedSearchTerm.saved_search_id) == saved.id)
    )
    session.delete(saved)
    session.flush()


# Alerting --------------------------------------------------------------------------------------


def matches_filters(
    filters: matching.SearchFilters,
    row: dict[str, Any],
    *,
    owner: Organization,
    today: date,
) -> bool:
    """Whether a listing's index row (``matching.search_row``) and owner pass the filters: the
    same rules as the search's SQL conditions, for one listing in memory."""
    if filters.ipc:
        pattern = ipc_like_pattern(filters.ipc)
        codes = [code for code in str(row["ipc_codes"]).split("|") if code]
        if pattern.endswith("%"):
            if not any(code.startswith(pattern[:-1]) for code in codes):
                return False
        elif pattern not in codes:
            return False
    if filters.kind is not None and f"|{filters.kind}|" not in row["kinds"]:
        return False
    if filters.royalty_type is not None and f"|{filters.royalty_type}|" not in row["royalty_types"]:
        return False
    if filters.owner_id is not None and row["owner_id"] != filters.owner_id:
        return False
    if filters.owner_kind is not None and owner.kind != filters.owner_kind:
        return False
    if filters.region is not None and owner.region != filters.region:
        return False
    if filters.max_upfront_fee is not None and Decimal(row["min_upfront_fee"]) > (
        filters.max_upfront_fee
    ):
        return False
    if filters.max_royalty_rate is not None and Decimal(row["min_royalty_rate"]) > (
        filters.max_royalty_rate
    ):
        return False
    return filters.min_remaining_years is None or row["term_end_date"] >= patents.add_years(
        today, filters.min_remaining_years
    )


@dataclass(frozen=True, slots=True)
class Match:
    """A saved search that a published listing matches (read as plain columns: a publication
    may be a candidate for thousands of saved searches, and needs none of them as objects)."""

    id: int
    organization_id: int
    name: str
    query: dict[str, Any]
    terms: list[str]


_MATCH_COLUMNS = (
    col(SavedSearch.id),
    col(SavedSearch.organization_id),
    col(SavedSearch.name),
    col(SavedSearch.query),
    col(SavedSearch.terms),
)


def _candidates(session: Session, *, words: Iterable[str], owner_id: int) -> Iterator[Match]:
    """Active saved searches of other organizations whose every word is among ``words``, and
    those without words."""
    found: Counter[int] = Counter()
    needed: dict[int, int] = {}
    for batch in _batched(sorted(set(words)), _TERM_BATCH):
        rows = session.execute(
            sa.select(
                col(SavedSearchTerm.saved_search_id),
                sa.func.count(),
                sa.func.min(col(SavedSearch.term_count)),
            )
            .join(SavedSearch, col(SavedSearch.id) == col(SavedSearchTerm.saved_search_id))
            .where(col(SavedSearchTerm.term).in_(batch))
            .where(col(SavedSearch.active).is_(True))
            .where(col(SavedSearch.organization_id) != owner_id)
            .group_by(col(SavedSearchTerm.saved_search_id))
        ).all()
        for saved_search_id, count, term_count in rows:
            found[saved_search_id] += count
            needed[saved_search_id] = term_count
    complete = sorted(ident for ident, count in found.items() if count == needed[ident])
    for batch_ids in _batched(complete, _TERM_BATCH):
        chosen = session.execute(
            sa.select(*_MATCH_COLUMNS).where(col(SavedSearch.id).in_(batch_ids))
        )
        yield from (Match(*row) for row in chosen)
    without_words = session.execute(
        sa.select(*_MATCH_COLUMNS)
        .where(col(SavedSearch.term_count) == 0)
        .where(col(SavedSearch.active).is_(True))
        .where(col(SavedSearch.organization_id) != owner_id)
        .execution_options(yield_per=_TERM_BATCH)
    )
    yield from (Match(*row) for row in without_words)


def alert_on_publish(
    *, session: Session, listing: Listing, document: matching.Document | None = None
) -> list[Match]:
    """Record a ``saved_search.matched`` event for each organization with saved searches that
    the newly published listing matches; returns those saved searches. ``document`` is the
    listing's indexed words (from ``matching.index_listing``), computed when not given."""
    if listing.status != ListingStatus.published:
        return []
    assert listing.id is not None
    if document is None:
        document = matching.document_of(
            title=listing.title,
            description=listing.description,
            patent_texts=[(patent.title, patent.abstract) for patent in listing.patents],
        )
    row = matching.search_row(listing)
    owner = session.get_one(Organization, listing.owner_id)
    today = clock.today()
    # Many saved searches share their filters: each distinct set is parsed and checked once.
    verdicts: dict[str, bool] = {}

    def passes(candidate: Match) -> bool:
        key = json.dumps(candidate.query, sort_keys=True)
        if key not in verdicts:
            filters = filters_of(SavedSearchQuery.model_validate(candidate.query))
            verdicts[key] = matches_filters(filters, row, owner=owner, today=today)
        return verdicts[key]

    matched = sorted(
        (
            candidate
            for candidate in _candidates(
                session, words=[*document.title, *document.body], owner_id=listing.owner_id
            )
            if passes(candidate)
        ),
        key=lambda candidate: candidate.id,
    )
    by_organization: dict[int, list[Match]] = {}
    for candidate in matched:
        by_organization.setdefault(candidate.organization_id, []).append(candidate)
    for organization_id, found in by_organization.items():
        first = found[0]
        events.record(
            session,
            recipients=[organization_id],
            type=EventType.saved_search_matched,
            subject=f"listing:{listing.id}",
            payload={
                "saved_search_id": first.id,
                "name": first.name,
                "matched_terms": first.terms,
                "listing_id": listing.id,
                "title": listing.title,
                "saved_searches": [
                    {"id": saved.id, "name": saved.name, "matched_terms": saved.terms}
                    for saved in found
                ],
            },
        )
    now = clock.now()
    for batch in _batched([candidate.id for candidate in matched], _TERM_BATCH):
        session.execute(
            sa.update(SavedSearch)
            .where(col(SavedSearch.id).in_(batch))
            .values(last_alerted_at=now)
            .execution_options(synchronize_session="evaluate")
        )
    return matched
