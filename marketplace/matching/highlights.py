"""Snippets of the matched fields with the matched words in ``<em>…</em>``, computed for the
listings of one page only. Text outside the marks is HTML-escaped, so a snippet can be shown
as HTML as it is."""

import html
import re
from collections.abc import Iterable, Sequence

from marketplace.matching import tokenizer

SNIPPET_CHARS = 160
_CONTEXT_BEFORE = 40
_WORD = re.compile(r"[A-Za-z0-9\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+")


def _spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    chinese = [term for term in terms if tokenizer.is_cjk(term)]
    english = {term for term in terms if not tokenizer.is_cjk(term)}
    spans: list[tuple[int, int]] = []
    for term in chinese:
        start = text.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = text.find(term, start + len(term))
    if english:
        for word in _WORD.finditer(text):
            if tokenizer.stem(tokenizer.normalize(word.group())) in english:
                spans.append(word.span())
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, terms: Sequence[str]) -> str | None:
    """An excerpt around the first match, or None when the text has none."""
    spans = _spans(text, terms)
    if not spans:
        return None
    start = max(0, spans[0][0] - _CONTEXT_BEFORE)
    end = min(len(text), start + SNIPPET_CHARS)
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
