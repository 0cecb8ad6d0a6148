"""Snippets of the matched fields with the matched words in ``<em>…</em>``, computed for the
listings of one page only. Text outside the marks is HTML-escaped, so a snippet can be shown
as HTML as it is."""

import html
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from marketplace.matching import tokenizer

SNIPPET_CHARS = 160
_CONTEXT_BEFORE = 40
_WORD = re.compile(r"[A-Za-z0-9\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+")


@lru_cache(maxsize=65_536)
def _word_stem(word: str) -> str:
    """A word of the text as the index has it (most words of a page's texts recur)."""
    return tokenizer.stem(tokenizer.normalize(word))


def _english_spans(text: str, english: set[str]) -> Iterator[tuple[int, int]]:
    """The spans of the words whose stem is among ``english``, in order, found as they are
    read: a snippet stops reading past its end."""
    for word in _WORD.finditer(text):
        if _word_stem(word.group()) in english:
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


def _spans_before(
    text: str, terms: Sequence[str], *, window: int | None
) -> tuple[list[tuple[int, int]], int]:
    """The matched spans (unmerged) and where an excerpt of ``window`` characters from
    ``_CONTEXT_BEFORE`` before the first of them ends (the text's length without a window or a
    match). English words past that end are not read: no span starting there shows."""
    chinese = [term for term in terms if tokenizer.is_cjk(term)]
    english = {term for term in terms if not tokenizer.is_cjk(term)}
    spans: list[tuple[int, int]] = []
    for term in chinese:
        start = text.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = text.find(term, start + len(term))
    found = _english_spans(text, english) if english else iter(())
    first_english = next(found, None)
    if first_english is not None:
        spans.append(first_english)
    end = len(text)
    if window is not None and spans:
        first = min(spans)[0]
        end = min(end, max(0, first - _CONTEXT_BEFORE) + window)
    for span in found:
        if span[0] >= end:
            break
        spans.append(span)
    return spans, end


def snippet(text: str, terms: Sequence[str]) -> str | None:
    """An excerpt around the first match, or None when the text has none."""
    found, end = _spans_before(text, terms, window=SNIPPET_CHARS)
    if not found:
        return None
    spans = _merged(found)
    start = max(0, spans[0][0] - _CONTEXT_BEFORE)
    parts: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for span_start, span_end in spans:
        if span_start >= end:
            break
        span_end = min(span_end, end)
        parts.append(html.escape(text[cursor:span_start]))
        parts.append(f"<em>{html.escape(text[span_start:span_end])}</em>")
        cursor = span_end
    parts.append(html.escape(text[cursor:end]))
    parts.append("…" if end < len(text) else "")
    return "".join(parts)


def highlights(
    fields: Iterable[tuple[str, int | None, str | None]], terms: Sequence[str]
) -> list[tuple[str, int | None, str]]:
    """(field, patent id, snippet) for each field that contains a matched word."""
    found: list[tuple[str, int | None, str]] = []
    if not terms:
        return found
    for name, patent_id, text in fields:
        excerpt = snippet(text, terms) if text else None
        if excerpt is not None:
            found.append((name, patent_id, excerpt))
    return found
