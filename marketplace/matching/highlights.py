"""Snippets of the matched fields with the matched words in ``<em>…</em>``, computed for the
listings of one page only. Text outside the marks is HTML-escaped, so a snippet can be shown
as HTML as it is."""

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from marketplace.matching import tokenizer

SNIPPET_CHARS = 160
_CONTEXT_BEFORE = 40
# The words of a text are its runs of ASCII and full-width letters and digits. Folding turns
# each of those characters into what ``tokenizer.normalize`` (NFKC, then lower case) makes of
# it, one character for one: a folded text keeps its positions, its words are exactly its runs
# of ``[a-z0-9]``, and each of them reads as its word normalized.
_FOLDED = str.maketrans(
    {
        **{chr(code): chr(code + 32) for code in range(ord("A"), ord("Z") + 1)},
        **{chr(0xFF10 + n): chr(ord("0") + n) for n in range(10)},
        **{chr(0xFF21 + n): chr(ord("a") + n) for n in range(26)},
        **{chr(0xFF41 + n): chr(ord("a") + n) for n in range(26)},
    }
)
# A stem differs from the start of its word in its last two letters at most (dying → die,
# ugly → ugli, possibility → possibl; tests check it over the stemmer's suffixes, alone and in
# pairs): a word whose stem is a term starts with the term less its last three letters, so
# only such words are stemmed, and a field without any costs one scan of its text.
STEM_CHANGE = 3


def folded(text: str) -> str:
    """The text with the characters of words normalized as the index reads them (ASCII text,
    most of them, is only lower-cased)."""
    return text.lower() if text.isascii() else text.translate(_FOLDED)


@dataclass(frozen=True, slots=True)
class _Terms:
    """A search's words split once for all the fields of a page: Chinese ones are found as
    they are written, English ones by their stems, among the words of a folded text that
    ``english_candidates`` finds."""

    chinese: tuple[str, ...]
    english: frozenset[str]
    english_candidates: re.Pattern[str]


@lru_cache(maxsize=1024)
def _split(terms: tuple[str, ...]) -> _Terms:
    english = frozenset(term for term in terms if not tokenizer.is_cjk(term))
    starts = sorted({term[: max(0, len(term) - STEM_CHANGE)] for term in english})
    # At the start of a word (the start of a term of three letters or fewer is empty: every
    # word is a candidate).
    alternatives = "|".join(re.escape(start) for start in starts)
    return _Terms(
        chinese=tuple(term for term in terms if tokenizer.is_cjk(term)),
        english=english,
        english_candidates=re.compile(f"(?<![a-z0-9])(?=[a-z0-9])(?:{alternatives})[a-z0-9]*"),
    )


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _spans(text: str, terms: _Terms) -> list[tuple[int, int]]:
    """The spans of the matched words (unmerged). The English words are read in one scan of
    the folded text, which finds the few that may stem to a term (a long text's matches past
    its snippet's end cost a look-up of a cached stem each, then are cut off)."""
    spans: list[tuple[int, int]] = []
    if terms.english:
        english, stem = terms.english, tokenizer.stem
        spans = [
            word.span()
            for word in terms.english_candidates.finditer(folded(text))
            if stem(word.group()) in english
        ]
    for term in terms.chinese:
        start = text.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = text.find(term, start + len(term))
    return spans


# What html.escape changes: a text without any of them is its own escape.
_HTML_SPECIAL = re.compile("[&<>\"']")


def _unchanged(text: str) -> str:
    return text


def snippet(text: str, terms: Sequence[str]) -> str | None:
    """An excerpt around the first match, or None when the text has none: from
    ``_CONTEXT_BEFORE`` characters before it, ``SNIPPET_CHARS`` long."""
    return _snippet(text, _split(tuple(terms)))


def _snippet(text: str, terms: _Terms) -> str | None:
    found = _spans(text, terms)
    if not found:
        return None
    spans = _merged(found)
    start = max(0, spans[0][0] - _CONTEXT_BEFORE)
    end = min(len(text), start + SNIPPET_CHARS)
    escape = html.escape if _HTML_SPECIAL.search(text, start, end) else _unchanged
    parts: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for span_start, span_end in spans:
        if span_start >= end:
            break
        span_end = min(span_end, end)
        parts.append(escape(text[cursor:span_start]))
        parts.append(f"<em>{escape(text[span_start:span_end])}</em>")
        cursor = span_end
    parts.append(escape(text[cursor:end]))
    parts.append("…" if end < len(text) else "")
    return "".join(parts)


def highlights(
    fields: Iterable[tuple[str, int | None, str | None]], terms: Sequence[str]
) -> list[tuple[str, int | None, str]]:
    """(field, patent id, snippet) for each field that contains a matched word."""
    found: list[tuple[str, int | None, str]] = []
    if not terms:
        return found
    split = _split(tuple(terms))
    # A listing of one patent often has the patent's title as its own: its snippet is made once.
    excerpts: dict[str, str | None] = {}
    for name, patent_id, text in fields:
        if not text:
            continue
        if text in excerpts:
            excerpt = excerpts[text]
        else:
            excerpt = excerpts[text] = _snippet(text, split)
        if excerpt is not None:
            found.append((name, patent_id, excerpt))
    return found
