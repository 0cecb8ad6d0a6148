"""Which published listings contain the words of a search: the bounded candidate sets that the
relevance model (``relevance``) scores, each with its indexed words and facet keys.

Listings with a word in their title part are fetched first, so that when more listings have the
words than the bound admits, the set holds those where the words weigh most."""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlmodel import Session, col

from marketplace.accounts.models import Organization
from marketplace.matching import tokenizer
from marketplace.matching.models import (
    FTS_TABLE,
    TITLE_VECTOR_SQL,
    ListingSearch,
    listing_search_fts,
)
from marketplace.matching.search_index import dialect_name, ipc_lexeme, title_script_lexeme
from marketplace.patents.identifiers import ipc_like_pattern, normalize_ipc_prefix

LS = ListingSearch


def plan_each_search(session: Session) -> None:
    """Plan the transaction's statements for their own words (PostgreSQL). psycopg prepares a
    statement it has run five times, and PostgreSQL then settles on a generic plan, which
    ignores how frequent the words are: at a million listings a 50 ms match became 350 ms."""
    if dialect_name(session) == "postgresql":
        session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


@dataclass(slots=True)
class SearchCandidate:
    """A listing that matches, with its text score (None without words) and its facet keys."""

    listing_id: int
    score: float | None
    kinds: str
    royalty_types: str
    ipc_codes: str
    owner_kind: str
    region: str | None
    title_words: str = ""
    body_words: str = ""


def quoted(term: str, quote: str) -> str:
    """A word as a quoted term of a full-text query ('…' for PostgreSQL, "…" for FTS5)."""
    return quote + term.replace(quote, quote * 2) + quote


def word_match(
    session: Session,
    terms: Sequence[str],
    *,
    any_term: bool,
    at_least: int | None = None,
    in_title: bool | None = None,
    title_index: bool = True,
    lexemes: Sequence[str] = (),
) -> sa.ColumnElement[bool]:
    """Listings with every word (or, with ``any_term``, some word; or ``at_least`` of them, in
    any combination); with ``in_title`` True only those with some of the words in their title
    part, with False only those with none there. On PostgreSQL, ``lexemes`` (an IPC class, a
    title script: see ``class_lexemes``) are required in the same index lookup; SQLite has no
    such lexemes (the caller filters by ``ipc_condition``)."""
    sqlite = dialect_name(session) == "sqlite"
    words, title = word_queries(
        sqlite, terms, any_term=any_term, at_least=at_least, in_title=in_title, lexemes=lexemes
    )
    return _word_clause(
        sqlite,
        in_title=in_title,
        title_index=title_index,
        words=sa.literal(words),
        title=sa.literal(title) if in_title else None,
    )


def word_queries(
    sqlite: bool,
    terms: Sequence[str],
    *,
    any_term: bool,
    at_least: int | None = None,
    in_title: bool | None = None,
    lexemes: Sequence[str] = (),
) -> tuple[str, str]:
    """The full-text queries of ``word_match``: the index's (an FTS5 MATCH expression, or a
    PostgreSQL tsquery's text), and on PostgreSQL the title part's (some of the words)."""
    words = [quoted(t, '"' if sqlite else "'") for t in terms]
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
        return expression, ""
    query = " | ".join("(" + " & ".join(group) + ")" for group in groups)
    if lexemes:
        # In the words' own lookup (or their row check, when the title index finds the rows):
        # as a condition of its own the planner ANDs its bitmap with the words', and a common
        # class has hundreds of thousands of entries at a million listings (100 ms).
        query = f"({query}) & " + " & ".join(quoted(lexeme, "'") for lexeme in lexemes)
    if in_title is False:
        # Weight A labels the title part of the vector (see tsvector_literal).
        query = f"({query}) & !(" + " | ".join(f"{word}:A" for word in words) + ")"
    return query, " | ".join(words)


def _word_clause(
    sqlite: bool,
    *,
    in_title: bool | None,
    title_index: bool,
    words: sa.ColumnElement[str],
    title: sa.ColumnElement[str] | None = None,
) -> sa.ColumnElement[bool]:
    """``word_match``'s condition on the queries ``words`` and ``title`` (``word_queries``),
    given as values or as parameters of a statement built once."""
    if sqlite:
        return sa.literal_column(FTS_TABLE).op("MATCH")(words)
    # Parsed as given: PostgreSQL does not stem the words of a tsquery cast from text.
    matching = col(LS.search_vector).op("@@")(sa.cast(words, TSQUERY))
    if not in_title:
        return matching
    assert title is not None, "a title match needs the title part's query"
    in_title_part = sa.literal_column(TITLE_VECTOR_SQL).op("@@")(sa.cast(title, TSQUERY))
    # One index finds the rows and the other condition is checked on them: left to itself
    # the planner ANDs both bitmaps, and the one of a common word costs tens of ms at a
    # million listings. The title index, whose entries are a subset of the main one's,
    # unless a class in the query is selective where the words' titles are not (see
    # find_candidates).
    if title_index:
        return sa.and_(in_title_part, matching.is_(sa.true()))
    return sa.and_(matching, in_title_part.is_(sa.true()))


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
    ipc: str | None = None,
    title_in_chinese: bool | None = None,
) -> list[SearchCandidate]:
    """At most ``limit`` listings matching the words and conditions (and, with ``ipc``, under
    that IPC prefix, whose title part is or is not in Chinese as ``title_in_chinese`` says),
    with their indexed words (unscored: ``relevance`` scores them).

    With words, those with a word in their title part come first, because a word weighs most
    there: the bounded set holds the best matches whenever the title matches fit in it, not an
    arbitrary ``limit`` of them.

    ``at_least`` narrows an any-word match to listings with ``at_least_count`` of those words
    (the key words of a long text); ``exclude`` leaves out listings already found."""
    narrowing: dict[str, Any] = {
        "at_least": at_least,
        "at_least_count": at_least_count,
        "exclude": exclude,
        "title_in_chinese": title_in_chinese,
    }
    lexemes: list[str] = []
    if ipc is not None:
        if terms and dialect_name(session) == "postgresql":
            lexemes = class_lexemes(ipc, title_in_chinese=title_in_chinese)
        else:
            narrowing["in_class"] = ipc
    if not terms:
        return _fetch_candidates(session, conditions=conditions, limit=limit, **narrowing)
    narrowing["lexemes"] = lexemes
    # The title index finds the title matches of words alone: its entries for a word are never
    # more than the main index's, and far fewer for a word that titles rarely have (English
    # words in a catalogue of Chinese titles: the main index read 9,000 rows of `thermal` to
    # find none with it in the title, 30 ms at a million listings, and 4 s for `batteri`).
    # With a class, the main index finds the words and the class together unless both are
    # common.
    narrowing["title_index"] = not lexemes or _common(
        session, terms, any_term=any_term, lexemes=lexemes
    )
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


# A class fetch whose words and class each match at least this share of listings finds its
# title matches by the title index; a more selective one by the main index.
TITLE_INDEX_SHARE = 0.02


def _common(
    session: Session, terms: Sequence[str], *, any_term: bool, lexemes: Sequence[str] = ()
) -> bool:
    """Whether the words, by PostgreSQL's statistics, match at least ``TITLE_INDEX_SHARE`` of
    the listings (every word: the rarest one's share; any word: the sum), and so do each of the
    ``lexemes`` required with them. Words missing from the statistics count as rare."""
    shares = common_word_shares(session, [*terms, *lexemes])
    found = [shares.get(term, 0.0) for term in terms]
    share = min(1.0, sum(found)) if any_term else min(found)
    return min([share, *(shares.get(lexeme, 0.0) for lexeme in lexemes)]) >= TITLE_INDEX_SHARE


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a candidate fetch's statement is made of, apart from the values of its parameters:
    fetches of one shape without further conditions run one statement, built once."""

    sqlite: bool
    with_words: bool
    # Where the words are asked for (see word_match).
    in_title: bool | None
    title_index: bool
    with_key_words: bool
    with_exclude: bool
    # An IPC class as a condition of its own (see ipc_condition), and the script of the titles.
    with_class: bool
    title_in_chinese: bool | None


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
    lexemes: Sequence[str] = (),
    in_class: str | None = None,
    title_in_chinese: bool | None = None,
) -> list[SearchCandidate]:
    sqlite = dialect_name(session) == "sqlite"
    shape = _Shape(
        sqlite=sqlite,
        with_words=bool(terms),
        in_title=in_title,
        title_index=title_index,
        with_key_words=bool(terms and at_least),
        with_exclude=bool(exclude),
        with_class=in_class is not None,
        title_in_chinese=title_in_chinese if in_class is not None else None,
    )
    parameters: dict[str, Any] = {"limit": limit}
    if terms:
        parameters["words"], parameters["title_words"] = word_queries(
            sqlite, terms, any_term=any_term, in_title=in_title, lexemes=lexemes
        )
        if at_least:
            parameters["key_words"], _ = word_queries(
                sqlite, at_least, any_term=True, at_least=at_least_count
            )
    if exclude:
        parameters["exclude"] = _listed_value(sqlite, exclude)
    if in_class is not None:
        parameters["class_match"] = _class_match(sqlite, in_class, title_in_chinese)
    statement = (
        _candidate_statement(shape, tuple(conditions))
        if conditions
        else _reused_candidate_statement(shape)
    )
    # Plain rows from the connection: the ORM's result handling costs more than the rows.
    rows = session.connection().execute(statement, parameters).all()
    return [
        SearchCandidate(listing_id, None, kinds, royalty_types, codes, kind, region, title, body)
        for listing_id, kinds, royalty_types, codes, kind, region, title, body in rows
    ]


@functools.cache
def _reused_candidate_statement(shape: _Shape) -> sa.Select[Any]:
    """``_candidate_statement`` without conditions, built once per shape: building a statement
    (its subquery's columns above all) cost more Python than running it, three to four times
    per search."""
    return _candidate_statement(shape, ())


def _candidate_statement(
    shape: _Shape, conditions: tuple[sa.ColumnElement[bool], ...]
) -> sa.Select[Any]:
    """A candidate fetch with its values as parameters (``limit``, ``words``, ``title_words``,
    ``key_words``, ``exclude``, ``class_match``: see ``_fetch_candidates``)."""
    matching = _matching_rows(shape)
    if conditions:
        matching = matching.where(*conditions)
    # The owners are joined to the rows found, not in the search for them: joined there, the
    # planner misjudged how many rows a word and class check keeps, and for a few hundred it
    # read and materialised all 15,000 listings with a word in their title.
    found = matching.limit(sa.bindparam("limit", type_=sa.Integer())).subquery("found")

    # Named rather than proxied (found.c): proxying the subquery's columns was most of the
    # cost of building a fetch with conditions, which cannot be built once.
    def column(name: str) -> sa.ColumnElement[Any]:
        return sa.literal_column(f"found.{name}")

    return sa.select(
        column("listing_id"),
        column("kinds"),
        column("royalty_types"),
        column("ipc_codes"),
        # As the plain string it is stored as: converting hundreds of them to the enum and back
        # is a visible part of a search.
        sa.type_coerce(col(Organization.kind), sa.String()),
        col(Organization.region),
        column("title_words"),
        column("body_words"),
    ).select_from(found.join(Organization, col(Organization.id) == column("owner_id")))


@functools.cache
def _matching_rows(shape: _Shape) -> "sa.Select[int, int, str, str, str, str, str]":
    """The index rows of a fetch's shape (without its further conditions and limit), built once
    per shape."""
    statement = sa.select(
        col(LS.listing_id),
        col(LS.owner_id),
        col(LS.kinds),
        col(LS.royalty_types),
        col(LS.ipc_codes),
        col(LS.title_words),
        col(LS.body_words),
    )
    if shape.with_words:
        statement = statement.where(
            _word_clause(
                shape.sqlite,
                in_title=shape.in_title,
                title_index=shape.title_index,
                words=sa.bindparam("words", type_=sa.String()),
                title=sa.bindparam("title_words", type_=sa.String()),
            )
        )
        if shape.with_key_words:
            statement = statement.where(
                _word_clause(
                    shape.sqlite,
                    in_title=None,
                    title_index=True,
                    words=sa.bindparam("key_words", type_=sa.String()),
                )
            )
        if shape.sqlite:
            statement = statement.join(
                listing_search_fts, listing_search_fts.c.rowid == col(LS.listing_id)
            )
    if shape.with_exclude:
        statement = statement.where(sa.not_(_listed(shape.sqlite)))
    if shape.with_class:
        statement = statement.where(
            _class_clause(
                shape.sqlite,
                sa.bindparam("class_match", type_=sa.String()),
                title_in_chinese=shape.title_in_chinese,
            )
        )
    return statement


def _listed(sqlite: bool) -> sa.ColumnElement[bool]:
    """Listings among the ids of the ``exclude`` parameter, one array literal (its value from
    ``_listed_value``): a search excludes the 450 it found from each of its class fetches, and
    the driver adapting a list of ints element by element (SQLAlchemy rendering a parameter for
    each on SQLite) was a tenth of a cold search's Python time."""
    if sqlite:
        ids = sa.func.json_each(sa.bindparam("exclude", type_=sa.String()))
        return col(LS.listing_id).in_(sa.select(sa.column("value")).select_from(ids))
    # Untyped, so that PostgreSQL reads it as the array it is cast to once, when planning (a
    # text parameter would be converted again for every row).
    listing_ids = sa.bindparam("exclude", type_=sa.types.NullType())
    return col(LS.listing_id) == sa.any_(sa.cast(listing_ids, ARRAY(sa.Integer())))


def _listed_value(sqlite: bool, listing_ids: Sequence[int]) -> str:
    """The value of ``_listed``'s parameter: the ids as a JSON array, or on PostgreSQL as an
    array literal. int() keeps it a list of numbers whatever a caller passes."""
    numbers = ",".join(map(str, map(int, listing_ids)))
    return f"[{numbers}]" if sqlite else f"{{{numbers}}}"


def ipc_codes_pattern(ipc: str) -> str:
    """The LIKE pattern that finds the IPC prefix (or full symbol) ``ipc`` in an index row's
    ``"|code|code|"`` string."""
    pattern = ipc_like_pattern(normalize_ipc_prefix(ipc))
    tail = "" if pattern.endswith("%") else "|%"
    return f"%|{pattern}{tail}"


def class_lexemes(ipc: str, *, title_in_chinese: bool | None = None) -> list[str]:
    """The lexemes of the search vector (PostgreSQL) that mark listings under the IPC prefix
    ``ipc``, and with ``title_in_chinese`` those whose title part is (not) in Chinese."""
    lexemes = [ipc_lexeme(normalize_ipc_prefix(ipc))]
    if title_in_chinese is not None:
        lexemes.append(title_script_lexeme(title_in_chinese))
    return lexemes


def ipc_condition(
    session: Session, ipc: str, *, title_in_chinese: bool | None = None
) -> sa.ColumnElement[bool]:
    """Listings with a code under the IPC prefix ``ipc``; with ``title_in_chinese``, only those
    whose title part is written in Chinese (True) or has no Chinese at all (False)."""
    sqlite = dialect_name(session) == "sqlite"
    match = sa.literal(_class_match(sqlite, ipc, title_in_chinese))
    return _class_clause(sqlite, match, title_in_chinese=title_in_chinese)


def _class_match(sqlite: bool, ipc: str, title_in_chinese: bool | None) -> str:
    """What ``_class_clause`` matches a class by: the LIKE pattern of its codes, or on
    PostgreSQL the full-text query of its lexemes."""
    if sqlite:
        return ipc_codes_pattern(ipc)
    lexemes = class_lexemes(ipc, title_in_chinese=title_in_chinese)
    return " & ".join(quoted(lexeme, "'") for lexeme in lexemes)


def _class_clause(
    sqlite: bool, match: sa.ColumnElement[str], *, title_in_chinese: bool | None
) -> sa.ColumnElement[bool]:
    """``ipc_condition`` on ``match`` (``_class_match``), a value or a statement's parameter."""
    if not sqlite:
        # An index lookup: a rare prefix would otherwise scan every listing's codes. The script
        # goes in the same query, so that the index reads only the rarer of the two.
        return col(LS.search_vector).op("@@")(sa.cast(match, TSQUERY))
    in_class = col(LS.ipc_codes).like(match)
    if title_in_chinese is None:
        return in_class
    # A row filter, which narrows what the class's pattern already bounds.
    characters = f"*[{tokenizer.CJK_RANGES}]*"
    has_chinese = col(LS.title_words).op("GLOB", is_comparison=True)(characters)
    return sa.and_(in_class, has_chinese if title_in_chinese else sa.not_(has_chinese))


def common_word_shares(session: Session, words: Sequence[str]) -> dict[str, float]:
    """The share of listings that have each of ``words`` that is among the index's most common
    words (PostgreSQL's statistics; none on SQLite, or before the first ANALYZE)."""
    if dialect_name(session) != "postgresql" or not words:
        return {}
    # Read once per session: a search and a matching ask for the same words several times.
    known: dict[str, float | None] = session.info.setdefault("common_word_shares", {})
    missing = [word for word in dict.fromkeys(words) if word not in known]
    if missing:
        found = frequent_words(session, missing)
        known.update({word: found.get(word) for word in missing})
    return {word: share for word in words if (share := known[word]) is not None}


def frequent_words(session: Session, words: list[str]) -> dict[str, float]:
    """Those of ``words`` that are among the index's most common words, with their share of
    listings, from the planner's statistics (ANALYZE, PostgreSQL): no index read at all."""
    rows = session.execute(
        sa.text(
            "SELECT u.term, u.share FROM pg_stats AS s, "
            "unnest(CAST(CAST(s.most_common_elems AS text) AS text[]), "
            "s.most_common_elem_freqs) AS u(term, share) "
            "WHERE s.schemaname = current_schema() AND s.tablename = :table "
            "AND s.attname = 'search_vector' AND u.term = ANY(CAST(:terms AS text[]))"
        ),
        {"table": LS.__tablename__, "terms": words},
    ).all()
    return {str(term): float(share) for term, share in rows if share}
