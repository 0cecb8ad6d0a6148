"""Saved searches, and the alerts they raise when a relevant listing is published.

A saved search keeps ``q`` and the filters of the listing search. Its words are segmented once,
when it is saved, into ``saved_search_term`` (an inverted index: word → saved searches), and its
filters are copied into ``filter_*`` columns. When a listing is published,
:func:`alert_on_publish` runs in the publication's transaction, with the words just indexed.
The database picks the candidates: one query the saved searches with any of the listing's words
(a saved need: two of them, ``required_terms``), one more those without words, both only among
the saved searches whose filters the listing satisfies (:func:`satisfied_filters`). Cost grows
with the saved searches that share a word with the listing, and with a scan of those without
words inside the database.

Relevance is the search's (``coverage``, built on ``relevance``): the candidates' words are
weighed by the corpus (IDF) in one look-up, and a saved search alerts when the listing's BM25F
score covers at least ``ALERT_COVERAGE`` of its words' weight: a listing that the search would
rank near the top for the saved query, not one that shares only its commonest words (方法,
system). A word no listing has yet weighs as a rare word, since the saved search waits for it.
The alert names the words the listing has and the share it covers.

Across languages, as the search: when saved, a saved search keeps the IPC subclasses that the
search's best matches for its words share, with each one's share of their vote
(``relevance.feedback_model``, over the search's own text candidates), in the inverted index
``saved_search_class``.
A listing written in the other language than its words, which no word of them reaches, alerts
it when it is in one of those subclasses with at least ``ALERT_CLASS_SHARE`` of the vote: a
field many of the best matches are in, where the search brings such a listing in by its class.
The alert names that subclass. A saved search whose words no listing had when it was saved has
its classes weighed at its first alert, as do those saved before classes were kept.

Each organization with matching saved searches gets one ``saved_search.matched`` event per
published listing, all written by one INSERT; the publisher is never alerted about its own
listing. A listing published again after a withdrawal is a new publication and alerts again.

SME needs: a saved need (``need_id``) is a saved search whose words are the need's key words (its
first six, title first) and which alerts on a listing with two of them that covers at least
``NEED_ALERT_COVERAGE`` of their weight: a need is a description, not a query. Closing the need
pauses it."""

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.config import get_settings
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.listings.models import Listing, ListingStatus
from marketplace.matching import coverage, relevance, search, search_index, tokenizer
from marketplace.matching.candidates import ipc_codes_pattern
from marketplace.matching.errors import (
    InvalidSavedSearch,
    NeedClosed,
    NeedNotFound,
    SavedSearchLimitReached,
    SavedSearchNotFound,
)
from marketplace.matching.models import (
    MAX_REMAINING_YEARS,
    MAX_TERM_LENGTH,
    NEED_ALERT_TERMS,
    NeedStatus,
    SavedSearch,
    SavedSearchClass,
    SavedSearchCreate,
    SavedSearchQuery,
    SavedSearchTerm,
    SavedSearchUpdate,
    TechnologyNeed,
)
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents import service as patents

# Words of a listing looked up per query (well under SQLite's limit on bound parameters).
_TERM_BATCH = 2_000


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def filters_of(query: SavedSearchQuery) -> search.SearchFilters:
    """The saved search's filters as the search takes them."""
    return search.SearchFilters.of(query)


def filter_columns(query: SavedSearchQuery) -> dict[str, Any]:
    """The values of the saved search's ``filter_*`` columns (see ``SavedSearch``)."""
    return {
        "filter_ipc_pattern": ipc_codes_pattern(query.ipc) if query.ipc else None,
        "filter_kind": query.kind,
        "filter_owner_id": query.owner_id,
        "filter_owner_kind": query.owner_kind,
        "filter_region": query.region,
        "filter_royalty_type": query.royalty_type,
        "filter_max_upfront_fee": search.fee_bound(query.max_upfront_fee),
        "filter_max_royalty_rate": search.rate_bound(query.max_royalty_rate),
        "filter_min_remaining_years": query.min_remaining_years,
    }


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
    query = SavedSearchQuery.model_validate(data.model_dump(exclude={"name", "need_id"}))
    need = None
    if data.need_id is not None:
        if query.q is not None:
            raise InvalidSavedSearch("Give q or need_id, not both.", field="need_id")
        need = _own_open_need(session, data.need_id, organization)
        terms = [term for term in need.key_terms() if len(term) <= MAX_TERM_LENGTH]
        if not terms:
            raise InvalidSavedSearch("The need has no searchable words.", field="need_id")
        query.q = " ".join(terms)
        required = min(NEED_ALERT_TERMS, len(terms))
    else:
        terms = tokenizer.query_terms(query.q) if query.q else []
        # Any of its words makes a candidate, as in the search; the weight it covers decides.
        required = min(1, len(terms))
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
        required_terms=required,
        need_id=need.id if need is not None else None,
        **filter_columns(query),
    )
    session.add(saved)
    session.flush()
    assert saved.id is not None
    session.add_all(SavedSearchTerm(term=term, saved_search_id=saved.id) for term in terms)
    session.flush()
    classes = evidence_classes(session, terms, query)
    if classes is not None:
        _keep_classes(session, saved.id, terms, classes)
    return saved


def query_in_chinese(terms: Sequence[str]) -> bool | None:
    """Whether the words are all Chinese (True) or none of them is (False); None for words in
    both languages, which reach listings in both already."""
    chinese = {tokenizer.is_cjk(term) for term in terms}
    return next(iter(chinese)) if len(chinese) == 1 else None


def evidence_classes(
    session: Session, terms: Sequence[str], query: SavedSearchQuery
) -> dict[str, float] | None:
    """The IPC subclasses the search's best text matches for ``terms`` (within the saved
    filters) share, each with its share of their vote, as the search weighs them now
    (``relevance.feedback_model``: the search's own text candidates, without the listings the
    classes would bring, which do not vote); None while no listing has the words."""
    if not terms:
        return None
    conditions = search.filter_conditions(session, filters_of(query), today=clock.today())
    model = relevance.feedback_model(
        session, terms, conditions=conditions, bound=get_settings().search_candidate_limit
    )
    if model.top_text <= 0:
        return None
    return model.classes


def _keep_classes(
    session: Session, saved_search_id: int, terms: Sequence[str], classes: dict[str, float]
) -> None:
    """Record the saved search's classes, unless they were recorded meanwhile (a concurrent
    publication weighing them too). Only a query in one language bridges to the other by
    them."""
    now = clock.now()
    recorded = session.execute(
        sa.update(SavedSearch)
        .where(col(SavedSearch.id) == saved_search_id)
        .where(col(SavedSearch.classes_weighed_at).is_(None))
        .values(classes_weighed_at=now)
        .execution_options(synchronize_session=False)
    )
    if recorded.rowcount != 1:  # type: ignore[attr-defined]
        return
    chinese = query_in_chinese(terms)
    held = session.identity_map.get(
        sa.inspect(SavedSearch).identity_key_from_primary_key((saved_search_id,))
    )
    if isinstance(held, SavedSearch):
        set_committed_value(held, "classes_weighed_at", now)
    if chinese is not None and classes:
        session.execute(
            sa.insert(SavedSearchClass),
            [
                {
                    "subclass": subclass,
                    "saved_search_id": saved_search_id,
                    "share": share,
                    "listing_in_chinese": not chinese,
                }
                for subclass, share in classes.items()
            ],
        )


def _own_open_need(session: Session, need_id: int, organization: Organization) -> TechnologyNeed:
    need = session.get(TechnologyNeed, need_id)
    if need is None or need.organization_id != organization.id:
        raise NeedNotFound(f"Technology need {need_id} does not exist.")
    if need.status != NeedStatus.open:
        raise NeedClosed(f"Technology need {need_id} is closed.")
    return need


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
    session.execute(
        sa.delete(SavedSearchClass).where(col(SavedSearchClass.saved_search_id) == saved.id)
    )
    session.delete(saved)
    session.flush()


# Alerting --------------------------------------------------------------------------------------


def _unset_or(column: Any, condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.or_(col(column).is_(None), condition)


def years_in_force(term_end: date, *, today: date) -> int:
    """The most whole years, up to the most a saved search may ask for, that a term ending on
    ``term_end`` still runs from ``today``; -1 once it has ended. ``min_remaining_years`` passes
    exactly when it is at most this, since ``add_years`` only grows with the years."""
    years = -1
    while years < MAX_REMAINING_YEARS and patents.add_years(today, years + 1) <= term_end:
        years += 1
    return years


def _parameter(column: Any, name: str, *, expanding: bool = False) -> sa.BindParameter[Any]:
    """A parameter that binds as ``column`` does (a scaled decimal, an enum, a timestamp)."""
    return sa.bindparam(name, type_=column.type, expanding=expanding)


def _filter_conditions() -> list[sa.ColumnElement[bool]]:
    """Conditions on ``saved_search``: its filters pass the listing whose values are the
    statement's parameters (``_filter_values``). The search's SQL conditions turned around:
    there the filter is known and the listings are rows; here the listing is known and the
    saved searches are rows. An owner without a region binds NULL, which no region equals."""
    S = SavedSearch  # noqa: N806 (the table, as in SQL)
    return [
        _unset_or(
            S.filter_ipc_pattern,
            sa.bindparam("ipc_codes", type_=sa.Text).like(col(S.filter_ipc_pattern)),
        ),
        _unset_or(
            S.filter_kind,
            col(S.filter_kind).in_(_parameter(S.filter_kind, "kinds", expanding=True)),
        ),
        _unset_or(
            S.filter_royalty_type,
            col(S.filter_royalty_type).in_(
                _parameter(S.filter_royalty_type, "royalty_types", expanding=True)
            ),
        ),
        _unset_or(
            S.filter_owner_id, col(S.filter_owner_id) == _parameter(S.filter_owner_id, "owner_id")
        ),
        _unset_or(
            S.filter_owner_kind,
            col(S.filter_owner_kind) == _parameter(S.filter_owner_kind, "owner_kind"),
        ),
        _unset_or(S.filter_region, col(S.filter_region) == _parameter(S.filter_region, "region")),
        _unset_or(
            S.filter_max_upfront_fee,
            col(S.filter_max_upfront_fee)
            >= _parameter(S.filter_max_upfront_fee, "min_upfront_fee"),
        ),
        _unset_or(
            S.filter_max_royalty_rate,
            col(S.filter_max_royalty_rate)
            >= _parameter(S.filter_max_royalty_rate, "min_royalty_rate"),
        ),
        _unset_or(
            S.filter_min_remaining_years,
            col(S.filter_min_remaining_years)
            <= _parameter(S.filter_min_remaining_years, "years_in_force"),
        ),
        col(S.active).is_(True),
        # The publisher is never alerted about its own listing.
        col(S.organization_id) != _parameter(S.organization_id, "publisher_id"),
    ]


def _filter_values(row: dict[str, Any], *, owner: Organization, today: date) -> dict[str, Any]:
    """The parameters of ``_filter_conditions`` for the listing with this index row
    (``search_index.search_row``) and owner."""
    return {
        "ipc_codes": row["ipc_codes"],
        "kinds": search_index.split_joined(row["kinds"]),
        "royalty_types": search_index.split_joined(row["royalty_types"]),
        "owner_id": row["owner_id"],
        "owner_kind": owner.kind,
        "region": owner.region,
        "min_upfront_fee": row["min_upfront_fee"],
        "min_royalty_rate": row["min_royalty_rate"],
        "years_in_force": years_in_force(row["term_end_date"], today=today),
        "publisher_id": row["owner_id"],
    }


@dataclass(frozen=True, slots=True)
class Match:
    """A saved search that a published listing matches (read as plain columns: a publication
    may match thousands of saved searches, and needs none of them as objects), with the words
    of it the listing has and the share of its weight they cover (1 without words), and the
    IPC subclass by which a listing in the other language matched it (None: by its words)."""

    id: int
    organization_id: int
    name: str
    terms: list[str]
    matched_terms: list[str]
    coverage: float
    matched_class: str | None = None


# A saved search alerts on a listing that covers at least this share of its words' weight
# (``coverage``): as much as half of its words, by weight, in a title. A saved need, a
# description rather than a query, alerts on two of its six key words that carry at least a
# sixth of their weight (one key word's worth): two of its commonest words are not enough.
ALERT_COVERAGE = 0.5
NEED_ALERT_COVERAGE = 0.15
# A listing in the other language alerts by a subclass that at least this share of the saved
# query's best matches vote for. Tuned on the development data (benchmarks/eval_relevance.py,
# alerts; relevant: sharing an IPC subclass with the query record): across languages F1 is
# flat between 0.3 (best) and 0.4, 0.01 below it, where precision is 0.87 rather than 0.79 to
# 0.82, with an eighth to a fifth fewer alerts; at 0.5 recall falls to 0.70, F1 by 0.02 to 0.06.
ALERT_CLASS_SHARE = 0.4

_MATCH_COLUMNS = (
    col(SavedSearch.id),
    col(SavedSearch.organization_id),
    col(SavedSearch.name),
    col(SavedSearch.terms),
    col(SavedSearch.need_id),
    col(SavedSearch.classes_weighed_at),
)


@dataclass(frozen=True, slots=True)
class _Statements:
    by_words: sa.Executable
    chosen: sa.Executable
    without_words: sa.Executable
    by_class: sa.Executable
    alerted: sa.Executable


@cache
def _statements() -> _Statements:
    """The statements of alerting, built once with the listing's values as parameters: each
    publication reuses them as compiled (building and keying them anew cost more than running
    them, which a bulk declaration of hundreds of listings pays per listing)."""
    conditions = _filter_conditions()
    candidates = (
        sa.select(
            col(SavedSearchTerm.saved_search_id),
            sa.func.count(),
            sa.func.min(col(SavedSearch.required_terms)),
        )
        .join(SavedSearch, col(SavedSearch.id) == col(SavedSearchTerm.saved_search_id))
        .where(
            col(SavedSearchTerm.term).in_(_parameter(SavedSearchTerm.term, "terms", expanding=True))
        )
        .where(*conditions)
        .group_by(col(SavedSearchTerm.saved_search_id))
    )
    chosen = sa.select(*_MATCH_COLUMNS).where(
        col(SavedSearch.id).in_(_parameter(SavedSearch.id, "ids", expanding=True))
    )
    without_words = (
        sa.select(*_MATCH_COLUMNS).where(col(SavedSearch.term_count) == 0).where(*conditions)
    )
    by_class = (
        sa.select(
            col(SavedSearchClass.saved_search_id),
            col(SavedSearchClass.subclass),
            col(SavedSearchClass.share),
        )
        .join(SavedSearch, col(SavedSearch.id) == col(SavedSearchClass.saved_search_id))
        .where(
            col(SavedSearchClass.subclass).in_(
                _parameter(SavedSearchClass.subclass, "subclasses", expanding=True)
            )
        )
        .where(
            col(SavedSearchClass.listing_in_chinese)
            == _parameter(SavedSearchClass.listing_in_chinese, "listing_in_chinese")
        )
        .where(col(SavedSearchClass.share) >= ALERT_CLASS_SHARE)
        .where(*conditions)
    )
    alerted = (
        sa.update(SavedSearch)
        .where(col(SavedSearch.id).in_(_parameter(SavedSearch.id, "ids", expanding=True)))
        .values(last_alerted_at=_parameter(SavedSearch.last_alerted_at, "alerted_at"))
        .execution_options(synchronize_session=False)
    )
    return _Statements(candidates, chosen, without_words, by_class, alerted)


def _matches(
    session: Session, *, document: search_index.Document, values: dict[str, Any]
) -> Iterator[Match]:
    """The saved searches whose filters pass the listing with ``document`` and filter
    ``values`` (``_filter_values``) and that it covers (see ``coverage``), then those without
    words whose filters pass it.

    The database picks the candidates, the saved searches with at least ``required_terms`` of
    the listing's words (the inverted index ``saved_search_term``); their words are then
    weighed by the corpus in one look-up, and each is kept when the listing covers enough of
    its weight, as the search would rank the listing near the top for it."""
    statements = _statements()
    found: Counter[int] = Counter()
    needed: dict[int, int] = {}
    for batch in _batched(sorted({*document.title, *document.body}), _TERM_BATCH):
        rows = session.execute(statements.by_words, {**values, "terms": list(batch)}).all()
        for saved_search_id, count, required in rows:
            found[saved_search_id] += count
            needed[saved_search_id] = required
    candidate_ids = sorted(ident for ident, count in found.items() if count >= needed[ident])
    candidates = [
        row
        for batch_ids in _batched(candidate_ids, _TERM_BATCH)
        for row in session.execute(statements.chosen, {"ids": list(batch_ids)})
    ]
    weights = coverage.term_weights(session, (term for row in candidates for term in row.terms))
    words = coverage.ListingWords.of(document.title, document.body)
    # Many saved searches ask for the same words: each set of words is weighed once.
    covered_by: dict[tuple[str, ...], coverage.Coverage] = {}
    by_words: set[int] = set()
    # The text candidates that do not cover enough: a class may still alert them.
    partly: dict[int, coverage.Coverage] = {}
    unweighed: list[Any] = []
    for row in candidates:
        key = tuple(row.terms)
        covered = covered_by.get(key)
        if covered is None:
            covered = covered_by[key] = coverage.coverage(weights, row.terms, words)
        enough = NEED_ALERT_COVERAGE if row.need_id is not None else ALERT_COVERAGE
        if covered.share >= enough:
            by_words.add(row.id)
            if row.classes_weighed_at is None:
                unweighed.append(row)
            yield Match(
                row.id, row.organization_id, row.name, row.terms, covered.matched, covered.share
            )
        else:
            partly[row.id] = covered
    # A listing its words cover now exists: the search has best matches to weigh classes by.
    for row in unweighed:
        _weigh_classes(session, row.id, row.terms)
    yield from _matches_by_class(
        session,
        document=document,
        values=values,
        exclude=by_words,
        partly=partly,
        statements=statements,
    )
    without_words = session.execute(
        statements.without_words.execution_options(yield_per=_TERM_BATCH), values
    )
    yield from (Match(row.id, row.organization_id, row.name, [], [], 1.0) for row in without_words)


def _weigh_classes(session: Session, saved_search_id: int, terms: Sequence[str]) -> None:
    """Weigh the classes of a saved search not weighed yet, with its saved filters."""
    saved_query = session.execute(
        sa.select(col(SavedSearch.query)).where(col(SavedSearch.id) == saved_search_id)
    ).scalar_one()
    classes = evidence_classes(session, terms, SavedSearchQuery.model_validate(saved_query))
    if classes is not None:
        _keep_classes(session, saved_search_id, terms, classes)


def _matches_by_class(
    session: Session,
    *,
    document: search_index.Document,
    values: dict[str, Any],
    exclude: set[int],
    partly: dict[int, coverage.Coverage],
    statements: _Statements,
) -> Iterator[Match]:
    """The saved searches in the other language than the listing (by its title part, as the
    search tells them) that its IPC subclasses alert (see ``ALERT_CLASS_SHARE``), whose
    filters pass it, but not those in ``exclude`` (already matched by their words); ``partly``:
    what the listing covers of the candidates by words that it did not cover enough."""
    subclasses = sorted(relevance.subclasses_of(search_index.split_joined(values["ipc_codes"])))
    if not subclasses:
        return
    listing_in_chinese = any(tokenizer.is_cjk(word) for word in document.title)
    best: dict[int, tuple[float, str]] = {}
    rows = session.execute(
        statements.by_class,
        {**values, "subclasses": subclasses, "listing_in_chinese": listing_in_chinese},
    )
    for saved_search_id, subclass, share in rows:
        if saved_search_id in exclude:
            continue
        # The strongest evidence, ties to the first subclass (as relevance.class_evidence).
        held = best.get(saved_search_id)
        if held is None or (-share, subclass) < (-held[0], held[1]):
            best[saved_search_id] = (share, subclass)
    for batch_ids in _batched(sorted(best), _TERM_BATCH):
        for row in session.execute(statements.chosen, {"ids": list(batch_ids)}):
            covered = partly.get(row.id, coverage.Coverage(0.0, []))
            yield Match(
                row.id,
                row.organization_id,
                row.name,
                row.terms,
                covered.matched,
                covered.share,
                best[row.id][1],
            )


def alert_on_publish(
    *, session: Session, listing: Listing, document: search_index.Document | None = None
) -> list[Match]:
    """Record a ``saved_search.matched`` event for each organization with saved searches that
    the newly published listing matches; returns those saved searches. ``document`` is the
    listing's indexed words (from ``search_index.index_listing``), computed when not given."""
    if listing.status != ListingStatus.published:
        return []
    assert listing.id is not None
    if document is None:
        document = search_index.listing_document(listing)
    owner = session.get_one(Organization, listing.owner_id)
    values = _filter_values(search_index.search_row(listing), owner=owner, today=clock.today())
    matched = sorted(
        _matches(session, document=document, values=values),
        key=lambda found: found.id,
    )
    by_organization: dict[int, list[Match]] = {}
    for found in matched:
        by_organization.setdefault(found.organization_id, []).append(found)
    events.record_many(
        session,
        type=EventType.saved_search_matched,
        events=[
            events.NewEvent(
                recipient_id=organization_id,
                subject=f"listing:{listing.id}",
                payload={
                    "saved_search_id": searches[0].id,
                    "name": searches[0].name,
                    "matched_terms": searches[0].matched_terms,
                    "listing_id": listing.id,
                    "title": listing.title,
                    "saved_searches": [
                        {
                            "id": saved.id,
                            "name": saved.name,
                            "matched_terms": saved.matched_terms,
                            "coverage": saved.coverage,
                            "matched_class": saved.matched_class,
                        }
                        for saved in searches
                    ],
                },
            )
            for organization_id, searches in by_organization.items()
        ],
    )
    now = clock.now()
    alerted = _statements().alerted
    for batch in _batched([found.id for found in matched], _TERM_BATCH):
        session.execute(alerted, {"ids": list(batch), "alerted_at": now})
    # The saved searches this session has loaded learn the time too. Looked up by id: the
    # "evaluate" synchronization would walk every object of the session for each publication,
    # thousands in a bulk declaration.
    mapper = sa.inspect(SavedSearch)
    for found in matched:
        held = session.identity_map.get(mapper.identity_key_from_primary_key((found.id,)))
        if isinstance(held, SavedSearch):
            set_committed_value(held, "last_alerted_at", now)
    return matched
