"""The spelling fallback of the listing search: a single English word that matches nothing is
retried with the indexed word one edit away that is most likely meant: one that keeps the first
letter, then the most frequent."""

import json
import re

import sqlalchemy as sa
from sqlmodel import Session

from marketplace.matching import tokenizer
from marketplace.matching.candidates import frequent_words
from marketplace.matching.models import FTS_TABLE
from marketplace.matching.search_index import dialect_name

_FUZZY_WORD = re.compile(r"[a-z]{4,20}")
_FUZZY_COUNT_CAP = 1_000


def corrected_term(session: Session, word: str) -> tuple[str, str] | None:
    """The most frequent indexed word one edit away from ``word``: (its stem, its spelling).
    None for a word that is not one English word of 4 to 20 letters, or has no such neighbour.

    On PostgreSQL the planner's statistics come first: any of the index's most common words
    outnumbers every word that is not among them, so when a variant is one, the most frequent
    is the correction, found without reading the index (counting a frequent word in the index
    builds a bitmap of all its listings, the bulk of a correction's cost at a million
    listings)."""
    if not _FUZZY_WORD.fullmatch(word):
        return None
    variants = tokenizer.edit_variants(word)
    if not variants:
        return None
    if dialect_name(session) == "sqlite":
        counts = _variant_counts_sqlite(session, list(variants))
    else:
        counts = frequent_words(session, list(variants)) or _variant_counts_postgresql(
            session, list(variants)
        )
    best = max(variants, key=lambda stem: _likelihood(word, stem, variants[stem], counts))
    return (best, variants[best]) if counts.get(best, 0) else None


def _likelihood(
    word: str, stem: str, spelling: str, counts: dict[str, float]
) -> tuple[bool, float, str]:
    """How likely an indexed variant is the word meant: one that keeps the first letter (a
    typing slip rarely changes it: ``batery`` is ``battery``, not ``matery``, whose stem is
    that of ``materials``), then the more frequent, then (a tie) the first in alphabetical
    order, never the order the variants were generated in."""
    return (spelling[:1] == word[:1], counts.get(stem, 0), _reversed(stem))


def _reversed(stem: str) -> str:
    # max() picks the largest key: the inverted code points make the alphabetically first win.
    return "".join(chr(0x10FFFF - ord(c)) for c in stem)


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
