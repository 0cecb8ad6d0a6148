"""Search over published listings: the index, kept in step with the listings in the same
transaction, and the query that filters, ranks, counts facets and pages.

Bounded by design: a query ranks and counts at most ``search_candidate_limit`` matches
(settings), so that a frequent word costs the same as a rare one at millions of listings.
Totals and facet counts are then lower bounds and say so."""

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from itertools import combinations
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.db import any_of
from marketplace.listings.models import Listing, ListingPublic, ListingStatus, RoyaltyType
from marketplace.matching import highlights, tokenizer
from marketplace.matching.models import (
    FTS_TABLE,
    TITLE_VECTOR_SQL,
    FacetCount,
    Facets,
    Highlight,
    ListingSearch,
    SearchSort,
    SearchVector,
    listing_search_fts,
)
from marketplace.pagination import InvalidCursor, decode_cursor, encode_cursor
from marketplace.params import MAX_ID
from marketplace.patents import service as patents
from marketplace.patents.identifiers import (
    PatentKind,
    ipc_levels,
    ipc_like_pattern,
    normalize_ipc_prefix,
)

# PostgreSQL's limits on a tsvector: positions per lexeme, and the highest position.
_MAX_POSITIONS = 256
_MAX_POSITION = 16_383
# Weights of the fields in the ranking (PostgreSQL's ts_rank weights for A and C).
TITLE_WEIGHT = 1.0
BODY_WEIGHT = 0.2
SCORE_DIGITS = 6
_FUZZY_WORD = re.compile(r"[a-z]{4,20}")
_FUZZY_COUNT_CAP = 1_000

LS = ListingSearch


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def plan_each_search(session: Session) -> None:
    """Plan the transaction's statements for their own words (PostgreSQL). psycopg prepares a
    statement it has run five times, and PostgreSQL then settles on a generic plan, which
    ignores how frequent the words are: at a million listings a 50 ms match became 350 ms."""
    if dialect_name(session) == "postgresql":
        session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


# Indexing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """A listing's words: the title part (listing and patent titles) ranks above the body
    (description and patent abstracts)."""

    title: list[str]
    body: list[str]


def document_of(
    *, title: str, description: str | None, patent_texts: Iterable[tuple[str, str | None]]
) -> Document:
    titles = list(dict.fromkeys([title, *(patent_title for patent_title, _ in patent_texts)]))
    bodies = [description, *(abstract for _, abstract in patent_texts)]
    return Document(
        title=[token for text in titles for token in tokenizer.index_tokens(text)],
        body=[token for text in bodies for token in tokenizer.index_tokens(text)],
    )


def ipc_lexeme(prefix: str) -> str:
    """The lexeme that marks a listing under a canonical IPC prefix (any level) in its vector:
    ``ipc:g06f16/33``. The colon keeps it apart from every word, which the tokenizer never
    gives one."""
    return "ipc:" + prefix.lower().replace(" ", "")


def tsvector_literal(document: Document, ipc_codes: Iterable[str] = ()) -> str:
    """The document as PostgreSQL's tsvector input (``'word':1A,7A 'other':9C``): built here, so
    that PostgreSQL's own parser, which does not know Chinese, never sees the text. Every level
    of the listing's IPC codes goes in too, as a lexeme without positions (``ipc_lexeme``): the
    IPC filter is then an index lookup, and no rank counts it."""
    positions: dict[str, list[str]] = {}
    position = 0
    for weight, tokens in (("A", document.title), ("C", document.body)):
        for token in tokens:
            position = min(position + 1, _MAX_POSITION)
            found = positions.setdefault(token, [])
            if len(found) < _MAX_POSITIONS:
                found.append(f"{position}{weight}")
    words = [
        "'{}':{}".format(token.replace("\\", "\\\\").replace("'", "''"), ",".join(found))
        for token, found in positions.items()
    ]
    levels = dict.fromkeys(level for code in ipc_codes for level in ipc_levels(code))
    return " ".join([*words, *(f"'{ipc_lexeme(level)}'" for level in levels)])


def _joined(values: Iterable[str]) -> str:
    return "|" + "|".join(dict.fromkeys(values)) + "|"


def search_row(listing: Listing) -> dict[str, Any]:
    """The filter and sort keys of a published listing."""
    assert listing.id is not None
    assert listing.published_at is not None
    offers = listing.offers
    return {
        "listing_id": listing.id,
        "owner_id": listing.owner_id,
        "published_at": listing.published_at,
        "kinds": _joined(str(patent.kind) for patent in listing.patents),
        "royalty_types": _joined(str(offer.royalty_type) for offer in offers),
        "ipc_codes": _joined(code for patent in listing.patents for code in patent.ipc_codes),
        "min_upfront_fee": min(
            (offer.upfront_fee or Decimal(0) for offer in offers), default=Decimal(0)
        ),
        "min_royalty_rate": min(
            (offer.royalty_rate or Decimal(0) for offer in offers), default=Decimal(0)
        ),
        "term_end_date": min(
            patents.term_end_date(PatentKind(patent.kind), patent.filing_date)
            for patent in listing.patents
        ),
    }


def index_listing(*, session: Session, listing: Listing) -> Document | None:
    """Bring the listing's index entry in step with it: present with its current words and keys
    while published, absent otherwise. The listings service calls this in the same transaction
    as every change of status, text or patents. Returns the words indexed (None when not
    published)."""
    assert listing.id is not None
    sqlite = dialect_name(session) == "sqlite"
    if not sqlite:
        # Two transactions re-indexing one listing (a patent edit racing a withdrawal) would both
        # find no entry and both insert it: the listing's row lock puts them one after the other.
        session.execute(
            sa.select(col(Listing.id)).where(col(Listing.id) == listing.id).with_for_update()
        )
    session.execute(sa.delete(ListingSearch).where(col(ListingSearch.listing_id) == listing.id))
    if sqlite:
        session.execute(
            sa.delete(listing_search_fts).where(listing_search_fts.c.rowid == listing.id)
        )
    if listing.status != ListingStatus.published:
        return None
    document = document_of(
        title=listing.title,
        description=listing.description,
        patent_texts=[(patent.title, patent.abstract) for patent in listing.patents],
    )
    insert_entries(session, [(search_row(listing), document)])
    return document


def insert_entries(session: Session, entries: Sequence[tuple[dict[str, Any], Document]]) -> None:
    """Insert index entries for listings that have none (bulk: the reindex command)."""
    if not entries:
        return
    if dialect_name(session) == "sqlite":
        session.execute(sa.insert(ListingSearch), [row for row, _ in entries])
        session.execute(
            sa.insert(listing_search_fts),
            [
                {
                    "rowid": row["listing_id"],
                    "title": " ".join(document.title),
                    "body": " ".join(document.body),
                }
                for row, document in entries
            ],
        )
        return
    session.execute(
        sa.insert(ListingSearch).values(
            search_vector=sa.cast(sa.bindparam("vector_literal"), SearchVector())
        ),
        [
            {**row, "vector_literal": tsvector_literal(document, split_joined(row["ipc_codes"]))}
            for row, document in entries
        ],
    )


def reindex_all(*, session: Session, batch_size: int = 500) -> int:
    """Rebuild the whole index from the listings (after the migration, or to repair it)."""
    session.execute(sa.delete(ListingSearch))
    if dialect_name(session) == "sqlite":
        session.execute(sa.delete(listing_search_fts))
    ids = session.scalars(
        select(col(Listing.id))
        .where(Listing.status == ListingStatus.published)
        .order_by(col(Listing.id))
    ).all()
    for start in range(0, len(ids), batch_size):
        batch = session.scalars(
            select(Listing).where(col(Listing.id).in_(ids[start : start + batch_size]))
        )
        insert_entries(
            session,
            [
                (
                    search_row(listing),
                    document_of(
                        title=listing.title,
                        description=listing.description,
                        patent_texts=[(p.title, p.abstract) for p in listing.patents],
                    ),
                )
                for listing in batch
            ],
        )
        session.flush()
        session.expunge_all()
    return len(ids)


# Searching -------------------------------------------------------------------------------------


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


@dataclass(slots=True)
class _Candidate:
    listing_id: int
    score: float | None
    kinds: str
    royalty_types: str
    ipc_codes: str
    owner_kind: str
    region: str | None


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


def ipc_codes_pattern(ipc: str) -> str:
    """The LIKE pattern that finds the IPC prefix (or full symbol) ``ipc`` in an index row's
    ``"|code|code|"`` string."""
    pattern = ipc_like_pattern(normalize_ipc_prefix(ipc))
    tail = "" if pattern.endswith("%") else "|%"
    return f"%|{pattern}{tail}"


def filter_conditions(
    session: Session, filters: SearchFilters, *, today: date
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.ipc and dialect_name(session) == "postgresql":
        # An index lookup: a rare prefix would otherwise scan every listing's codes.
        lexeme = _quoted(ipc_lexeme(normalize_ipc_prefix(filters.ipc)), "'")
        conditions.append(col(LS.search_vector).op("@@")(_tsquery(lexeme)))
    elif filters.ipc:
        conditions.append(col(LS.ipc_codes).like(ipc_codes_pattern(filters.ipc)))
    if filters.kind is not None:
        conditions.append(col(LS.kinds).like(f"%|{filters.kind}|%"))
    if filters.royalty_type is not None:
        conditions.append(col(LS.royalty_types).like(f"%|{filters.royalty_type}|%"))
    if filters.owner_id is not None:
        conditions.append(col(LS.owner_id) == filters.owner_id)
    if filters.owner_kind is not None:
        conditions.append(col(Organization.kind) == filters.owner_kind)
    if filters.region is not None:
        conditions.append(col(Organization.region) == filters.region)
    if filters.max_upfront_fee is not None:
        conditions.append(col(LS.min_upfront_fee) <= fee_bound(filters.max_upfront_fee))
    if filters.max_royalty_rate is not None:
        conditions.append(col(LS.min_royalty_rate) <= rate_bound(filters.max_royalty_rate))
    if filters.min_remaining_years is not None:
        conditions.append(
            col(LS.term_end_date) >= patents.add_years(today, filters.min_remaining_years)
        )
    if filters.published_after is not None:
        start = datetime.combine(filters.published_after, datetime.min.time(), tzinfo=UTC)
        conditions.append(col(LS.published_at) >= start)
    return conditions


def _quoted(term: str, quote: str) -> str:
    return quote + term.replace(quote, quote * 2) + quote


def _match(
    session: Session,
    terms: Sequence[str],
    *,
    any_term: bool,
    at_least: int | None = None,
    in_title: bool | None = None,
    title_index: bool = True,
) -> sa.ColumnElement[bool]:
    """Listings with every word (or, with ``any_term``, some word; or ``at_least`` of them, in
    any combination); with ``in_title`` True only those with some of the words in their title
    part, with False only those with none there."""
    sqlite = dialect_name(session) == "sqlite"
    words = [_quoted(t, '"' if sqlite else "'") for t in terms]
    required = at_least if at_least is not None else (1 if any_term else len(words))
    groups: Iterable[Sequence[str]]
    if required >= len(words):
        groups = [words]
    elif required <= 1:
        groups = [[word] for word in words]
    else:
        groups = combinations(words, required)
    if sqlite:
        expression = " OR ".join("(" + " AND ".join(group) + ")" for group in groups)
        if in_title is not None:
            title = "title : (" + " OR ".join(words) + ")"
            expression = f"({expression}) {'AND' if in_title else 'NOT'} {title}"
        return sa.literal_column(FTS_TABLE).op("MATCH")(sa.literal(expression))
    query = " | ".join("(" + " & ".join(group) + ")" for group in groups)
    if in_title:
        in_title_part = sa.literal_column(TITLE_VECTOR_SQL).op("@@")(
            sa.cast(sa.literal(" | ".join(words)), TSQUERY)
        )
        matching = col(LS.search_vector).op("@@")(_tsquery(query))
        # One index finds the rows and the other condition is checked on them: left to itself
        # the planner ANDs both bitmaps, and the one of a common word costs tens of ms at a
        # million listings. The title index (see TITLE_INDEX) when the words are common, the
        # main one when the query is selective anyway.
        if title_index:
            return sa.and_(in_title_part, matching.is_(sa.true()))
        return sa.and_(matching, in_title_part.is_(sa.true()))
    if in_title is False:
        # Weight A labels the title part of the vector (see tsvector_literal).
        query = f"({query}) & !(" + " | ".join(f"{word}:A" for word in words) + ")"
    return col(LS.search_vector).op("@@")(_tsquery(query))


def _tsquery(query: str) -> sa.Cast[Any]:
    return sa.cast(sa.literal(query), TSQUERY)


def _rank_query(terms: Sequence[str], *, any_term: bool) -> sa.Cast[Any]:
    return _tsquery((" | " if any_term else " & ").join(_quoted(t, "'") for t in terms))


def _score_sqlite(padded_terms: Sequence[str], title: str, body: str, *, any_term: bool) -> float:
    """The same weights as on PostgreSQL, and like ts_rank independent of the rest of the
    corpus, so that a listing keeps its score (and a relevance cursor its place) while others
    are added. An any-word match is scaled by its share of the words (see ``find_candidates``).
    The terms come padded with a space each side (once per search, not per listing)."""
    title, body = f" {title} ", f" {body} "
    raw = 0.0
    found = 0
    for term in padded_terms:
        in_title, in_body = title.count(term), body.count(term)
        found += bool(in_title or in_body)
        raw += TITLE_WEIGHT * math.log1p(in_title) + BODY_WEIGHT * math.log1p(in_body)
    score = raw / len(padded_terms)
    return score * found / len(padded_terms) if any_term else score


def _term_share(terms: Sequence[str]) -> sa.ColumnElement[Any]:
    """The share of ``terms`` a listing's words contain (PostgreSQL)."""
    found: sa.ColumnElement[Any] = sa.literal(0)
    for term in terms:
        contains = col(LS.search_vector).op("@@")(_tsquery(_quoted(term, "'")))
        found = found + sa.cast(contains, sa.Integer)
    return sa.cast(found, sa.Float) / len(terms)


def find_candidates(
    session: Session,
    *,
    terms: Sequence[str],
    any_term: bool,
    conditions: Sequence[sa.ColumnElement[bool]],
    limit: int,
    at_least: Sequence[str] | None = None,
    at_least_count: int = 1,
    exclude: Sequence[int] = (),
) -> list[_Candidate]:
    """At most ``limit`` listings matching the words and conditions, with their text score: the
    rank by word frequency, title above body; for an any-word match times the share of the words
    the listing contains, so that a listing with more of them ranks above one that repeats a
    single frequent word.

    With words, those with a word in their title part come first, because they outrank every
    listing with the words in its body alone: the bounded set holds the best matches whenever
    the title matches fit in it, not an arbitrary ``limit`` of them.

    ``at_least`` narrows an any-word match to listings with ``at_least_count`` of those words
    (the key words of a long text); ``exclude`` leaves out listings already found. Neither
    changes the score."""
    narrowing: dict[str, Any] = {
        "at_least": at_least,
        "at_least_count": at_least_count,
        "exclude": exclude,
    }
    if not terms:
        return _fetch_candidates(session, conditions=conditions, limit=limit, **narrowing)
    narrowing["title_index"] = _common(session, terms, any_term=any_term)
    found = _fetch_candidates(
        session,
        terms=terms,
        any_term=any_term,
        in_title=True,
        conditions=conditions,
        limit=limit,
        **narrowing,
    )
    if len(found) < limit:
        found += _fetch_candidates(
            session,
            terms=terms,
            any_term=any_term,
            in_title=False,
            conditions=conditions,
            limit=limit - len(found),
            **narrowing,
        )
    return found


# A query that matches at least this share of listings finds its title matches by the title
# index; a more selective one by the main index.
TITLE_INDEX_SHARE = 0.02


def _common(session: Session, terms: Sequence[str], *, any_term: bool) -> bool:
    """Whether the words, by PostgreSQL's statistics, match at least ``TITLE_INDEX_SHARE`` of
    the listings (every word: the rarest one's share; any word: the sum). Words missing from
    the statistics count as rare."""
    shares = common_word_shares(session, terms)
    found = [shares.get(term, 0.0) for term in terms]
    share = min(1.0, sum(found)) if any_term else min(found)
    return share >= TITLE_INDEX_SHARE


def _fetch_candidates(
    session: Session,
    *,
    terms: Sequence[str] = (),
    any_term: bool = False,
    in_title: bool | None = None,
    conditions: Sequence[sa.ColumnElement[bool]],
    limit: int,
    at_least: Sequence[str] | None = None,
    at_least_count: int = 1,
    exclude: Sequence[int] = (),
    title_index: bool = True,
) -> list[_Candidate]:
    sqlite = dialect_name(session) == "sqlite"
    columns: list[Any] = [
        col(LS.listing_id),
        col(LS.kinds),
        col(LS.royalty_types),
        col(LS.ipc_codes),
        # As the plain string it is stored as: converting 2,000 of them to the enum and back
        # is a visible part of a search.
        sa.type_coerce(col(Organization.kind), sa.String()),
        col(Organization.region),
    ]
    statement = sa.select(*columns).join(Organization, col(Organization.id) == col(LS.owner_id))
    if terms:
        statement = statement.where(
            _match(session, terms, any_term=any_term, in_title=in_title, title_index=title_index)
        )
        if at_least:
            statement = statement.where(
                _match(session, at_least, any_term=True, at_least=at_least_count)
            )
        if sqlite:
            statement = statement.join(
                listing_search_fts, listing_search_fts.c.rowid == col(LS.listing_id)
            ).add_columns(listing_search_fts.c.title, listing_search_fts.c.body)
        else:
            rank: sa.ColumnElement[Any] = sa.func.ts_rank(
                col(LS.search_vector), _rank_query(terms, any_term=any_term)
            )
            if any_term and len(terms) > 1:
                rank = rank * _term_share(terms)
            statement = statement.add_columns(rank)
    if exclude:
        statement = statement.where(sa.not_(any_of(session, col(LS.listing_id), exclude)))
    # Plain rows from the connection: the ORM's result handling costs more than the rows.
    rows = session.connection().execute(statement.where(*conditions).limit(limit)).all()
    if not terms:
        return [_Candidate(r[0], None, r[1], r[2], r[3], r[4], r[5]) for r in rows]
    if sqlite:
        padded = [f" {term} " for term in terms]
        return [
            _Candidate(
                r[0],
                round(_score_sqlite(padded, r[6], r[7], any_term=any_term), SCORE_DIGITS),
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
            )
            for r in rows
        ]
    return [
        _Candidate(r[0], round(float(r[6]), SCORE_DIGITS), r[1], r[2], r[3], r[4], r[5])
        for r in rows
    ]


def _counts(counter: Counter[str] | Counter[str | None]) -> list[FacetCount]:
    """Most frequent first; no value (an owner without a region) is not a facet."""
    present = [(value, count) for value, count in counter.items() if value]
    return [
        FacetCount(value=value, count=count)
        for value, count in sorted(present, key=lambda item: (-item[1], item[0]))
    ]


def split_joined(joined: str) -> list[str]:
    return [value for value in joined.split("|") if value]


def _expand(joined_counts: Counter[str], values_of: Callable[[str], Iterable[str]]) -> Counter[str]:
    """Counts of the values inside "|a|b|" strings, from counts of the strings (few distinct)."""
    counter: Counter[str] = Counter()
    for joined, count in joined_counts.items():
        for value in dict.fromkeys(values_of(joined)):
            counter[value] += count
    return counter


_IPC_CODES = attrgetter("ipc_codes")
_KINDS = attrgetter("kinds")
_ROYALTY_TYPES = attrgetter("royalty_types")
_OWNER_KIND = attrgetter("owner_kind")
_REGION = attrgetter("region")


def _facets(candidates: Sequence[_Candidate], *, ipc: str | None, exact: bool) -> Facets:
    # map() over attribute getters: the candidates are counted at C speed, five times.
    codes = Counter(map(_IPC_CODES, candidates))
    classes: Counter[str] = Counter()
    if ipc:
        section = normalize_ipc_prefix(ipc)[:1]
        classes = _expand(
            codes, lambda j: (c[:3] for c in split_joined(j) if c.startswith(section))
        )
    return Facets(
        kind=_counts(_expand(Counter(map(_KINDS, candidates)), split_joined)),
        royalty_type=_counts(_expand(Counter(map(_ROYALTY_TYPES, candidates)), split_joined)),
        owner_kind=_counts(Counter(map(_OWNER_KIND, candidates))),
        region=_counts(Counter(map(_REGION, candidates))),
        ipc_section=_counts(_expand(codes, lambda j: (c[:1] for c in split_joined(j)))),
        ipc_class=_counts(classes),
        exact=exact,
    )


def _corrected_term(session: Session, word: str) -> tuple[str, str] | None:
    """The most frequent indexed word one edit away from ``word``: (its stem, its spelling)."""
    variants = tokenizer.edit_variants(word)
    if not variants:
        return None
    if dialect_name(session) == "sqlite":
        counts = _variant_counts_sqlite(session, list(variants))
    else:
        counts = _frequent_variants(session, list(variants)) or _variant_counts_postgresql(
            session, list(variants)
        )
    best = max(variants, key=lambda stem: counts.get(stem, 0))
    return (best, variants[best]) if counts.get(best, 0) else None


def _variant_counts_sqlite(session: Session, variants: list[str]) -> dict[str, float]:
    """How many listings have each variant, counted up to a cap, in one statement (a few
    hundred variants one statement each cost ten times more)."""
    rows = session.execute(
        sa.text(
            "SELECT v.value, (SELECT count(*) FROM (SELECT 1 FROM "  # noqa: S608 - a constant
            f"{FTS_TABLE} WHERE {FTS_TABLE} MATCH "
            "'\"' || replace(v.value, '\"', '\"\"') || '\"' "
            f"LIMIT {_FUZZY_COUNT_CAP})) FROM json_each(:terms) AS v"
        ),
        {"terms": json.dumps(variants)},
    ).all()
    return {str(term): int(count) for term, count in rows if count}


def common_word_shares(session: Session, words: Sequence[str]) -> dict[str, float]:
    """The share of listings that have each of ``words`` that is among the index's most common
    words (PostgreSQL's statistics; none on SQLite, or before the first ANALYZE)."""
    if dialect_name(session) != "postgresql" or not words:
        return {}
    # Read once per session: a search and a matching ask for the same words several times.
    known: dict[str, float | None] = session.info.setdefault("common_word_shares", {})
    missing = [word for word in dict.fromkeys(words) if word not in known]
    if missing:
        found = _frequent_variants(session, missing)
        known.update({word: found.get(word) for word in missing})
    return {word: share for word in words if (share := known[word]) is not None}


def _frequent_variants(session: Session, variants: list[str]) -> dict[str, float]:
    """The variants among the index's most common words, with their share of listings, from
    the planner's statistics (ANALYZE): no index read at all. Any of them outnumbers every
    word that is not among them, so when one is, the most frequent is the correction. Counting
    a frequent word in the index instead builds a bitmap of all its listings, the bulk of a
    correction's cost at a million listings."""
    rows = session.execute(
        sa.text(
            "SELECT u.term, u.share FROM pg_stats AS s, "
            "unnest(CAST(CAST(s.most_common_elems AS text) AS text[]), "
            "s.most_common_elem_freqs) AS u(term, share) "
            "WHERE s.schemaname = current_schema() AND s.tablename = :table "
            "AND s.attname = 'search_vector' AND u.term = ANY(CAST(:terms AS text[]))"
        ),
        {"table": LS.__tablename__, "terms": variants},
    ).all()
    return {str(term): float(share) for term, share in rows if share}


def _variant_counts_postgresql(session: Session, variants: list[str]) -> dict[str, float]:
    """Which variants are indexed at all (one GIN probe each), then how often (bounded): cheap
    when every variant is rare, which is the case when none is among the most common words."""
    rows = session.execute(
        sa.text(
            "WITH indexed AS (SELECT v.term FROM unnest(CAST(:terms AS text[])) AS v(term) "
            "WHERE EXISTS (SELECT 1 FROM listing_search s "
            "WHERE s.search_vector @@ CAST(quote_literal(v.term) AS tsquery))) "
            "SELECT i.term, (SELECT count(*) FROM (SELECT 1 FROM listing_search s "
            "WHERE s.search_vector @@ CAST(quote_literal(i.term) AS tsquery) "
            "LIMIT :cap) AS c) FROM indexed AS i"
        ),
        {"terms": variants, "cap": _FUZZY_COUNT_CAP},
    ).all()
    return {str(term): int(count) for term, count in rows}


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
    candidates: Sequence[_Candidate], *, limit: int, cursor: str | None
) -> tuple[list[SearchHit], str | None]:
    ranked = sorted(candidates, key=lambda c: (-(c.score or 0.0), -c.listing_id))
    if cursor is not None:
        position = _decode(cursor, SearchSort.relevance)
        score, after = position.get("score"), position["id"]
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise InvalidCursor("The cursor is not one this API issued for this sort.")
        ranked = [
            c
            for c in ranked
            if (c.score or 0.0) < score or ((c.score or 0.0) == score and c.listing_id < after)
        ]
    page = ranked[:limit]
    next_cursor = None
    if len(ranked) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            {"sort": SearchSort.relevance.value, "score": last.score or 0.0, "id": last.listing_id}
        )
    return [SearchHit(c.listing_id, c.score) for c in page], next_cursor


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
    key: Any = col(LS.published_at) if sort is SearchSort.newest else col(LS.min_upfront_fee)
    statement = (
        sa.select(col(LS.listing_id), key)
        .join(Organization, col(Organization.id) == col(LS.owner_id))
        .where(*conditions)
    )
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
    rows = session.execute(statement.limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last_id, last_key = page[-1]
        encoded = last_key.isoformat() if sort is SearchSort.newest else str(last_key)
        next_cursor = encode_cursor({"sort": sort.value, "key": encoded, "id": last_id})
    return [SearchHit(row[0], scores.get(row[0])) for row in page], next_cursor


def search_listings(
    *,
    session: Session,
    q: str | None = None,
    filters: SearchFilters = SearchFilters(),
    sort: SearchSort | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> SearchResult:
    """Published listings matching every word of ``q`` (or, when none match them all, any
    word; or, for one English word that matches nothing, the closest indexed spelling) and the
    filters, ranked, with facet counts over the candidate set."""
    bound = get_settings().search_candidate_limit
    sort = sort or (SearchSort.relevance if q else SearchSort.newest)
    plan_each_search(session)
    conditions = filter_conditions(session, filters, today=clock.today())
    terms = tokenizer.query_terms(q) if q else []
    corrected: str | None = None
    any_term = False
    if q and not terms:
        empty = Facets(exact=True)
        return SearchResult([], None, empty, 0, False, terms=[])

    def find(words: Sequence[str], any_word: bool) -> list[_Candidate]:
        return find_candidates(
            session, terms=words, any_term=any_word, conditions=conditions, limit=bound
        )

    candidates = find(terms, False)
    if q and not candidates and len(terms) > 1:
        any_term = True
        candidates = find(terms, True)
    if q and not candidates and len(terms) == 1:
        word = tokenizer.normalize(q).strip()
        if _FUZZY_WORD.fullmatch(word):
            found = _corrected_term(session, word)
            if found is not None:
                stem, spelling = found
                retry = find([stem], False)
                if retry:
                    terms, corrected, candidates = [stem], spelling, retry
    exact = len(candidates) < bound
    facets = _facets(candidates, ipc=filters.ipc, exact=exact)
    if sort is SearchSort.relevance and terms:
        hits, next_cursor = _page_by_relevance(candidates, limit=limit, cursor=cursor)
    else:
        if sort is SearchSort.relevance:
            sort = SearchSort.newest
        match = _match(session, terms, any_term=any_term) if terms else None
        hits, next_cursor = _page_by_key(
            session,
            sort=sort,
            match=match,
            conditions=conditions,
            limit=limit,
            cursor=cursor,
            scores={c.listing_id: c.score for c in candidates},
        )
    return SearchResult(
        hits=hits,
        next_cursor=next_cursor,
        facets=facets,
        total=len(candidates),
        total_is_lower_bound=not exact,
        terms=terms,
        corrected_query=corrected,
        matched="any" if any_term else "all",
    )


def listing_highlights(listing: ListingPublic, terms: Sequence[str]) -> list[Highlight]:
    """Where the words of a search appear in a listing (for the listings of one page)."""
    fields: list[tuple[str, int | None, str | None]] = [
        ("title", None, listing.title),
        ("description", None, listing.description),
    ]
    for patent in listing.patents:
        fields.append(("patent_title", patent.id, patent.title))
        fields.append(("patent_abstract", patent.id, patent.abstract))
    return [
        Highlight(field=name, patent_id=patent_id, snippet=excerpt)
        for name, patent_id, excerpt in highlights.highlights(fields, terms)
    ]
