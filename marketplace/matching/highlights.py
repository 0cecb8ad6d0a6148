"""Snippets of the matched fields with the matched words in ``<em>…</em>``, computed for the
listings of one page only. Text outside the marks is HTML-escaped, so a snippet can be shown
as HTML as it is."""

import html
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from marketplace.matching import tokenizer

SNIPPET_CHARS = 160
_CONTEXT_BEFORE = 40
# The words of a text are its runs of ASCII and full-width letters and digits; each of those
# characters as ``tokenizer.normalize`` turns it (NFKC, then lower case): one
# character for one, so a folded text keeps its positions, its words are exactly the runs of
# ``[a-z0-9]`` and each of them reads as its word normalized.
_FOLDED = str.maketrans(
    {
        **{chr(code): chr(code + 32) for code in range(ord("A"), ord("Z") + 1)},
        **{chr(0xFF10 + n): chr(ord("0") + n) for n in range(10)},
        **{chr(0xFF21 + n): chr(ord("a") + n) for n in range(26)},
        **{chr(0xFF41 + n): chr(ord("a") + n) for n in range(26)},
    }
)
# A word and its stem differ at most in the stem's last two letters (dying → die, ugly →
# ugli, possibility → possibl; tests hold it over every suffix of the stemmer): a word whose
# stem is a term starts with the term less its last three letters, so only such words are
# stemmed, and a field without them costs one scan of its text.
STEM_CHANGE = 3


def folded(text: str) -> str:
    """The text with the characters of words normalized as the index reads them (ASCII text,
    most of them, is only lower-cased)."""
    return text.lower() if text.isascii() else text.translate(_FOLDED)


@lru_cache(maxsize=1024)
def _candidate_words(english: frozenset[str]) -> re.Pattern[str]:
    """The words of a folded text that may stem to one of ``english``."""
    starts = sorted({term[: max(0, len(term) - STEM_CHANGE)] for term in english})
    # At the start of a word (a start of three letters or fewer is empty: every word).
    alternatives = "|".join(re.escape(start) for start in starts)
    return re.compile(f"(?<![a-z0-9])(?=[a-z0-9])(?:{alternatives})[a-z0-9]*")


def _english_spans(text: str, english: frozenset[str]) -> Iterator[tuple[int, int]]:
    """The spans of the words whose stem is among ``english``, in order, found as they are
    read: a snippet stops reading past its end."""
    for word in _candidate_words(english).finditer(folded(text)):
        if tokenizer.stem(word.group()) in english:
            yield word.span()


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True, slots=True)
class _Terms:
    """A search's words split once for all the fields of a page: Chinese ones are found as
    they are written, English ones by their stems."""

    chinese: tuple[str, ...]
    english: frozenset[str]

    @classmethod
    def of(cls, terms: Sequence[str]) -> "_Terms":
        return cls(
            chinese=tuple(term for term in terms if tokenizer.is_cjk(term)),
            english=frozenset(term for term in terms if not tokenizer.is_cjk(term)),
        )


def _spans_before(text: str, terms: _Terms, *, window: int) -> tuple[list[tuple[int, int]], int]:
    """The matched spans (unmerged) and where an excerpt of ``window`` characters from
    ``_CONTEXT_BEFORE`` before the first of them ends (the text's length without a match).
    English words past that end are not read: no span starting there shows."""
    spans: list[tuple[int, int]] = []
    for term in terms.chinese:
        start = text.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = text.find(term, start + len(term))
    found = _english_spans(text, terms.english) if terms.english else iter(())
    first_english = next(found, None)
    if first_english is not None:
        spans.append(first_english)
    end = len(text)
    if spans:
        first = min(spans)[0]
        end = min(end, max(0, first - _CONTEXT_BEFORE) + window)
    for span in found:
        if span[0] >= end:
            break
        spans.append(span)
    return spans, end


# What html.escape changes: a text without any of them is its own escape.
_HTML_SPECIAL = re.compile("[&<>\"']")


def _unchanged(text: str) -> str:
    return text


def snippet(text: str, terms: Sequence[str]) -> str | None:
    """An excerpt around the first match, or None when the text has none."""
    return _snippet(text, _Terms.of(terms))


def _snippet(text: str, terms: _Terms) -> str | None:
    found, end = _spans_before(text, terms, window=SNIPPET_CHARS)
    if not found:
        return None
    spans = _merged(found)
    start = max(0, spans[0][0] - _CONTEXT_BEFORE)
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
    split = _Terms.of(terms)
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
