"""The listing search: the published listings that match the words of a query and its
filters, ranked, with facet counts, paged by cursor.

Bounded by design: a query ranks and counts at most ``search_candidate_limit`` matches
(settings), so that a frequent word costs the same as a rare one at millions of listings.
Totals and facet counts are then lower bounds and say so."""

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import cache, lru_cache
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.listings.models import RoyaltyType
from marketplace.matching import facet_cache, highlights, relevance, spelling, tokenizer
from marketplace.matching.candidates import (
    SearchCandidate,
    find_candidates,
    ipc_condition,
    plan_each_search,
    word_match,
)
from marketplace.matching.models import (
    FacetCount,
    Facets,
    ListingSearch,
    SearchSort,
    listing_search_fts,
)
from marketplace.matching.search_index import CATALOGUE_CHANGED_KEY, dialect_name, split_joined
from marketplace.pagination import InvalidCursor, decode_cursor, encode_cursor
from marketplace.params import MAX_ID
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind, normalize_ipc_prefix

LS = ListingSearch


@dataclass(frozen=True, slots=True)
class SearchFilters:
    ipc: str | None = None
    kind: PatentKind | None = None
    owner_id: int | None = None
    owner_kind: OrganizationKind | None = None
    region: str | None = None
    royalty_type: RoyaltyType | None = None
    max_upfront_fee: Decimal | None = None
    max_royalty_rate: Decimal | None = None
    min_remaining_years: int | None = None
    published_after: date | None = None

    @classmethod
    def of(cls, query: Any) -> "SearchFilters":
        """The filters of a validated query (the listing search's parameters, a saved search):
        its attributes of the same names; one it lacks is unset."""
        return cls(**{f.name: getattr(query, f.name, None) for f in fields(cls)})


@dataclass(slots=True)
class SearchHit:
    listing_id: int
    score: float | None


@dataclass(slots=True)
class SearchResult:
    hits: list[SearchHit]
    next_cursor: str | None
    facets: Facets
    total: int
    total_is_lower_bound: bool
    terms: list[str] = field(default_factory=list)
    corrected_query: str | None = None
    matched: str = "all"


# The scales of the index's money keys (``min_upfront_fee``, ``min_royalty_rate``).
FEE_QUANTUM = Decimal("0.01")
RATE_QUANTUM = Decimal("0.0001")


def _round_down(value: Decimal | None, quantum: Decimal) -> Decimal | None:
    # Bound to the column's scale, an upper limit must round down: binding rounds half to even,
    # and a limit of 999.999 would then admit a fee of 1000.00.
    return None if value is None else value.quantize(quantum, rounding=ROUND_FLOOR)


def fee_bound(value: Decimal | None) -> Decimal | None:
    """A maximum upfront fee as the index compares it: exact at the offers' scale."""
    return _round_down(value, FEE_QUANTUM)


def rate_bound(value: Decimal | None) -> Decimal | None:
    """A maximum royalty rate as the index compares it: exact at the offers' scale."""
    return _round_down(value, RATE_QUANTUM)


def filter_conditions(
    session: Session, filters: SearchFilters, *, today: date
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.ipc:
        conditions.append(ipc_condition(session, filters.ipc))
    if filters.kind is not None:
        conditions.append(col(LS.kinds).like(f"%|{filters.kind}|%"))
    if filters.royalty_type is not None:
        conditions.append(col(LS.royalty_types).like(f"%|{filters.royalty_type}|%"))
    if filters.owner_id is not None:
        conditions.append(col(LS.owner_id) == filters.owner_id)
    # The owner's fields as conditions on the listing's own row (owners among those who
    # match): candidates are searched without their owners joined (see candidates).
    if filters.owner_kind is not None:
        conditions.append(
            col(LS.owner_id).in_(
                sa.select(col(Organization.id)).where(col(Organization.kind) == filters.owner_kind)
            )
        )
    if filters.region is not None:
        conditions.append(
            col(LS.owner_id).in_(
                sa.select(col(Organization.id)).where(col(Organization.region) == filters.region)
            )
        )
    if filters.max_upfront_fee is not None:
        conditions.append(col(LS.min_upfront_fee) <= fee_bound(filters.max_upfront_fee))
    if filters.max_royalty_rate is not None:
        conditions.append(col(LS.min_royalty_rate) <= rate_bound(filters.max_royalty_rate))
    if filters.min_remaining_years is not None:
        conditions.append(
            col(LS.term_end_date) >= patents.add_years(today, filters.min_remaining_years)
        )
    if filters.published_after is not None:
        # From the first moment of that day on the marketplace's calendar.
        conditions.append(col(LS.published_at) >= clock.start_of(filters.published_after))
    return conditions


def _counts(counter: Counter[str] | Counter[str | None]) -> list[FacetCount]:
    """Most frequent first; no value (an owner without a region) is not a facet."""
    present = [(value, count) for value, count in counter.items() if value]
    return [
        FacetCount(value=value, count=count)
        for value, count in sorted(present, key=lambda item: (-item[1], item[0]))
    ]


def _expand(joined_counts: Counter[str], values_of: Callable[[str], Iterable[str]]) -> Counter[str]:
    """Counts of the values inside "|a|b|" strings, from counts of the strings (few distinct);
    ``values_of`` gives a string's distinct values."""
    counter: Counter[str] = Counter()
    for joined, count in joined_counts.items():
        for value in values_of(joined):
            counter[value] += count
    return counter


@lru_cache(maxsize=65_536)
def _distinct_values(joined: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(split_joined(joined)))


@lru_cache(maxsize=65_536)
def _distinct_prefixes(joined: str, length: int, section: str = "") -> tuple[str, ...]:
    """The distinct first ``length`` characters of the codes of ``joined`` (those in
    ``section``): each search's candidates share a few hundred such strings, read here once
    for every search rather than once per search."""
    return tuple(
        dict.fromkeys(code[:length] for code in split_joined(joined) if code.startswith(section))
    )


_IPC_CODES = attrgetter("ipc_codes")
_KINDS = attrgetter("kinds")
_ROYALTY_TYPES = attrgetter("royalty_types")
_OWNER_KIND = attrgetter("owner_kind")
_REGION = attrgetter("region")


def _sections_of(joined: str) -> tuple[str, ...]:
    return _distinct_prefixes(joined, 1)


def _facets(candidates: Sequence[SearchCandidate], *, ipc: str | None, exact: bool) -> Facets:
    # map() over attribute getters: the candidates are counted at C speed, five times.
    codes = Counter(map(_IPC_CODES, candidates))
    classes: Counter[str] = Counter()
    if ipc:
        section = normalize_ipc_prefix(ipc)[:1]
        classes = _expand(codes, lambda joined: _distinct_prefixes(joined, 3, section))
    return Facets(
        kind=_counts(_expand(Counter(map(_KINDS, candidates)), _distinct_values)),
        royalty_type=_counts(_expand(Counter(map(_ROYALTY_TYPES, candidates)), _distinct_values)),
        owner_kind=_counts(Counter(map(_OWNER_KIND, candidates))),
        region=_counts(Counter(map(_REGION, candidates))),
        ipc_section=_counts(_expand(codes, _sections_of)),
        ipc_class=_counts(classes),
        exact=exact,
    )


def _decode(cursor: str, sort: SearchSort) -> dict[str, Any]:
    position = decode_cursor(cursor)
    after = position.get("id")
    if (
        position.get("sort") != sort.value
        or not isinstance(after, int)
        or isinstance(after, bool)
        or not 1 <= after <= MAX_ID
    ):
        raise InvalidCursor("The cursor is not one this API issued for this sort.")
    return position


def _page_by_relevance(
    ranked: Sequence[relevance.Ranked],
    model: relevance.QueryModel,
    *,
    limit: int,
    after: tuple[float, int] | None,
    correction: tuple[str, str] | None,
) -> tuple[list[SearchHit], str | None]:
    """A page of the ranking after the cursor's (score, id); the next cursor carries the query's
    model, so that the next page ranks with the same weights, and the spelling correction of the
    first page (its indexed word and its spelling), so that the next page ranks that word."""
    rest = list(ranked)
    if after is not None:
        score, last_id = after
        rest = [
            r
            for r in ranked
            if r.score < score or (r.score == score and r.candidate.listing_id < last_id)
        ]
    page = rest[:limit]
    next_cursor = None
    if len(rest) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            {
                "sort": SearchSort.relevance.value,
                "score": last.score,
                "id": last.candidate.listing_id,
                "model": model.encode(),
                **({"corrected": list(correction)} if correction else {}),
            }
        )
    return [SearchHit(r.candidate.listing_id, r.score) for r in page], next_cursor


def _relevance_position(
    cursor: str,
) -> tuple[tuple[float, int], relevance.QueryModel, tuple[str, str] | None]:
    """The cursor's (score, id), the query's model and the first page's spelling correction."""
    position = _decode(cursor, SearchSort.relevance)
    score = position.get("score")
    model = relevance.QueryModel.decode(position.get("model"))
    correction = position.get("corrected")
    if (
        not isinstance(score, int | float)
        or isinstance(score, bool)
        or model is None
        or not (
            correction is None
            or (
                isinstance(correction, list)
                and len(correction) == 2
                and all(isinstance(part, str) and part for part in correction)
                and correction[0] in model.weights
            )
        )
    ):
        raise InvalidCursor("The cursor is not one this API issued for this sort.")
    return (
        (float(score), position["id"]),
        model,
        (correction[0], correction[1]) if correction else None,
    )


def _page_by_key(
    session: Session,
    *,
    sort: SearchSort,
    match: sa.ColumnElement[bool] | None,
    conditions: Sequence[sa.ColumnElement[bool]],
    limit: int,
    cursor: str | None,
    scores: dict[int, float | None],
) -> tuple[list[SearchHit], str | None]:
    """Newest first, or cheapest first: keyset pages on (key, id), stable under inserts."""
    # On the session's connection: plain rows, without the ORM's execution of a Core select.
    session.flush()
    if match is None and not conditions and cursor is None:
        # The first page of the unfiltered catalogue, the commonest page: built once.
        rows = session.connection().execute(_first_page(sort, limit)).all()
        return _keyset_hits(rows, sort=sort, limit=limit, scores=scores)
    key: Any = col(LS.published_at) if sort is SearchSort.newest else col(LS.min_upfront_fee)
    statement = sa.select(col(LS.listing_id), key).where(*conditions)
    if match is not None:
        if dialect_name(session) == "sqlite":
            statement = statement.join(
                listing_search_fts, listing_search_fts.c.rowid == col(LS.listing_id)
            )
        statement = statement.where(match)
    if cursor is not None:
        position = _decode(cursor, sort)
        after = position["id"]
        try:
            if sort is SearchSort.newest:
                value: Any = datetime.fromisoformat(str(position.get("key")))
                if value.tzinfo is None:
                    raise ValueError
                statement = statement.where(
                    sa.or_(key < value, sa.and_(key == value, col(LS.listing_id) < after))
                )
            else:
                value = Decimal(str(position.get("key")))
                if not value.is_finite() or not 0 <= value < Decimal("1e16"):
                    raise ValueError
                statement = statement.where(
                    sa.or_(key > value, sa.and_(key == value, col(LS.listing_id) > after))
                )
        except (ValueError, InvalidOperation) as exc:
            raise InvalidCursor("The cursor is not one this API issued for this sort.") from exc
    if sort is SearchSort.newest:
        statement = statement.order_by(key.desc(), col(LS.listing_id).desc())
    else:
        statement = statement.order_by(key.asc(), col(LS.listing_id).asc())
    rows = session.connection().execute(statement.limit(limit + 1)).all()
    return _keyset_hits(rows, sort=sort, limit=limit, scores=scores)


@cache
def _first_page(sort: SearchSort, limit: int) -> sa.Select[Any]:
    """``_page_by_key``'s statement without words, filters or cursor: building it costs more
    Python than running it."""
    key: Any = col(LS.published_at) if sort is SearchSort.newest else col(LS.min_upfront_fee)
    order = (
        (key.desc(), col(LS.listing_id).desc())
        if sort is SearchSort.newest
        else (key.asc(), col(LS.listing_id).asc())
    )
    return sa.select(col(LS.listing_id), key).order_by(*order).limit(limit + 1)


def _keyset_hits(
    rows: Sequence[Any],
    *,
    sort: SearchSort,
    limit: int,
    scores: dict[int, float | None],
) -> tuple[list[SearchHit], str | None]:
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last_id, last_key = page[-1]
        encoded = last_key.isoformat() if sort is SearchSort.newest else str(last_key)
        next_cursor = encode_cursor({"sort": sort.value, "key": encoded, "id": last_id})
    return [SearchHit(row[0], scores.get(row[0])) for row in page], next_cursor


def _browse(
    session: Session,
    filters: SearchFilters,
    conditions: Sequence[sa.ColumnElement[bool]],
    *,
    sort: SearchSort,
    limit: int,
    cursor: str | None,
    bound: int,
) -> SearchResult:
    """No words: the page is one keyset query; the facets and total are counted over the
    bounded filtered catalogue, or taken from this process's recent count of the same filters."""
    if sort is SearchSort.relevance:
        sort = SearchSort.newest

    def count() -> tuple[Facets, int, bool]:
        plan_each_search(session)
        candidates = find_candidates(
            session, terms=[], any_term=False, conditions=conditions, limit=bound
        )
        exact = len(candidates) < bound
        return _facets(candidates, ipc=filters.ipc, exact=exact), len(candidates), exact

    if filters.ipc:
        # Its index condition is a word of the search index: planned for that word.
        plan_each_search(session)
    key = (filters, clock.today(), bound, dialect_name(session))
    ttl = get_settings().browse_facets_seconds
    facets, total, exact = facet_cache.browse_facets.get_or_count(key, ttl, count)
    hits, next_cursor = _page_by_key(
        session,
        sort=sort,
        match=None,
        conditions=conditions,
        limit=limit,
        cursor=cursor,
        scores={},
    )
    return SearchResult(
        hits=hits,
        next_cursor=next_cursor,
        facets=facets,
        total=total,
        total_is_lower_bound=not exact,
        terms=[],
    )


def search_listings(
    *,
    session: Session,
    q: str | None = None,
    filters: SearchFilters = SearchFilters(),
    sort: SearchSort | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> SearchResult:
    """Published listings matching the filters and any word of ``q`` (or, for one English word
    that no listing has, the closest indexed spelling), ranked by the relevance model (BM25F with
    IPC evidence, see ``relevance``), with facet counts over the candidate set. A first page
    may be the one this process ranked for the same query moments ago (``facet_cache``)."""
    bound = get_settings().search_candidate_limit
    sort = sort or (SearchSort.relevance if q else SearchSort.newest)
    conditions = filter_conditions(session, filters, today=clock.today())
    if not q:
        # A keyset page plans well once for all; only its counting is planned each time.
        return _browse(
            session, filters, conditions, sort=sort, limit=limit, cursor=cursor, bound=bound
        )
    terms = tokenizer.query_terms(q)
    if not terms:
        empty = Facets(exact=True)
        return SearchResult([], None, empty, 0, False, terms=[])
    if cursor is None and not session.info.get(CATALOGUE_CHANGED_KEY):
        # A first page is what this process found for the same words and filters a moment ago,
        # unless the catalogue changed since (see facet_cache); a transaction that changed it
        # itself searches afresh, so that it sees its own change.
        key = (q, filters, sort, limit, clock.today(), bound, dialect_name(session))
        return facet_cache.search_results.get_or_count(
            key,
            get_settings().search_results_seconds,
            lambda: _search_words(
                session, q, terms, filters, conditions, sort=sort, limit=limit, cursor=None
            ),
        )
    return _search_words(
        session, q, terms, filters, conditions, sort=sort, limit=limit, cursor=cursor
    )


def _search_words(
    session: Session,
    q: str,
    terms: list[str],
    filters: SearchFilters,
    conditions: Sequence[sa.ColumnElement[bool]],
    *,
    sort: SearchSort,
    limit: int,
    cursor: str | None,
) -> SearchResult:
    """A page of a search with words, ranked (or sorted) afresh."""
    plan_each_search(session)
    bound = get_settings().search_candidate_limit
    corrected: str | None = None
    after: tuple[float, int] | None = None
    model: relevance.QueryModel | None = None
    correction: tuple[str, str] | None = None
    if cursor is not None and sort is SearchSort.relevance and terms:
        after, model, correction = _relevance_position(cursor)
        if correction is not None:
            terms, corrected = [correction[0]], correction[1]
    ranking = (
        relevance.rank(session, terms=terms, conditions=conditions, bound=bound, model=model)
        if terms
        else None
    )
    if ranking is not None and not ranking.model.weights and len(terms) == 1:
        found = spelling.corrected_term(session, tokenizer.normalize(q).strip())
        if found is not None:
            stem, spelled = found
            retry = relevance.rank(session, terms=[stem], conditions=conditions, bound=bound)
            if retry.ranked:
                terms, corrected, ranking = [stem], spelled, retry
                correction = (stem, spelled)
    candidates: list[SearchCandidate] = []
    if ranking is not None:
        candidates = [r.candidate for r in ranking.ranked]
    elif sort is SearchSort.relevance:
        sort = SearchSort.newest
    exact = ranking is None or ranking.complete
    every_word = bool(ranking and ranking.ranked and set(ranking.ranked[0].matched) >= set(terms))
    if ranking is None:
        candidates = _without_words(session, conditions, bound)
        exact = len(candidates) < bound
    facets = _facets(candidates, ipc=filters.ipc, exact=exact)
    if sort is SearchSort.relevance and ranking is not None:
        hits, next_cursor = _page_by_relevance(
            ranking.ranked, ranking.model, limit=limit, after=after, correction=correction
        )
    else:
        match = word_match(session, terms, any_term=True) if terms else None
        hits, next_cursor = _page_by_key(
            session,
            sort=sort,
            match=match,
            conditions=conditions,
            limit=limit,
            cursor=cursor,
            scores={c.listing_id: None for c in candidates}
            if ranking is None
            else {r.candidate.listing_id: r.score for r in ranking.ranked},
        )
    return SearchResult(
        hits=hits,
        next_cursor=next_cursor,
        facets=facets,
        total=len(candidates),
        total_is_lower_bound=not exact,
        terms=terms,
        corrected_query=corrected,
        matched="all" if every_word or not terms else "any",
    )


def _without_words(
    session: Session, conditions: Sequence[sa.ColumnElement[bool]], bound: int
) -> list[SearchCandidate]:
    """The listings a search without words counts its facets over (at most ``bound``)."""
    return find_candidates(session, terms=[], any_term=False, conditions=conditions, limit=bound)


def listing_highlights(listing: Mapping[str, Any], terms: Sequence[str]) -> list[dict[str, Any]]:
    """Where the words of a search appear in a listing (for the listings of one page), from
    its public fields as plain data (``listings.service.public_listing_fields``), as plain data
    too (``Highlight``'s fields), for the page's model to validate as a whole: validating a
    model of each listing only to read four of its texts, or building a model of each of its
    highlights, cost more than the highlighting."""
    fields: list[tuple[str, int | None, str | None]] = [
        ("title", None, listing["title"]),
        ("description", None, listing["description"]),
    ]
    for patent in listing["patents"]:
        fields.append(("patent_title", patent["id"], patent["title"]))
        fields.append(("patent_abstract", patent["id"], patent["abstract"]))
    return [
        {"field": name, "patent_id": patent_id, "snippet": excerpt}
        for name, patent_id, excerpt in highlights.highlights(fields, terms)
    ]
