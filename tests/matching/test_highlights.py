"""The snippets of a page's hits: only words that may stem to a search's word are stemmed, and
the snippets are those of reading and stemming every word of every field, as they were made
before (``_every_word_snippet`` below keeps that way as the reference)."""

import html
import itertools
import re
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.matching import highlights, tokenizer

_WORD = re.compile(r"[A-Za-z0-9\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+")


def _every_word_snippet(text: str, terms: Sequence[str]) -> str | None:
    """A snippet made by stemming every word of the text (the earlier implementation)."""
    chinese = [term for term in terms if tokenizer.is_cjk(term)]
    english = {term for term in terms if not tokenizer.is_cjk(term)}
    spans: list[tuple[int, int]] = []
    for term in chinese:
        start = text.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = text.find(term, start + len(term))
    found = (
        word.span()
        for word in _WORD.finditer(text)
        if english and tokenizer.stem(tokenizer.normalize(word.group())) in english
    )
    first_english = next(found, None)
    if first_english is not None:
        spans.append(first_english)
    end = len(text)
    if spans:
        end = min(end, max(0, min(spans)[0] - 40) + highlights.SNIPPET_CHARS)
    for span in found:
        if span[0] >= end:
            break
        spans.append(span)
    if not spans:
        return None
    spans.sort()
    merged: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        if merged and span_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(span_end, merged[-1][1]))
        else:
            merged.append((span_start, span_end))
    start = max(0, merged[0][0] - 40)
    parts = ["…" if start > 0 else ""]
    cursor = start
    for span_start, span_end in merged:
        if span_start >= end:
            break
        span_end = min(span_end, end)
        parts.append(html.escape(text[cursor:span_start]))
        parts.append(f"<em>{html.escape(text[span_start:span_end])}</em>")
        cursor = span_end
    parts.append(html.escape(text[cursor:end]))
    parts.append("…" if end < len(text) else "")
    return "".join(parts)


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


# Inflections that change a word's end (batteries → batteri, hoping → hope, dying → die),
# full-width letters, Chinese terms, HTML's special characters and characters NFKC changes.
_WORDS = [
    "battery",
    "Batteries",
    "BATTERY's",
    "batter",
    "hope",
    "hoping",
    "hoped",
    "hopping",
    "dying",
    "die",
    "lying",
    "skies",
    "sky",
    "ugly",
    "possibility",
    "possible",
    "relational",
    "generously",
    "sensors",
    "sensing",
    "neural",
    "neuron",
    "network",
    "networking",
    "18650",
    _full_width("battery"),
    _full_width("BATTERIES"),
    _full_width("18650"),
    "ﬁber",
    "cafe\u0301",
    "İstanbul",
    "锂离子电池",
    "电池",
    "一种",
    "传感器",
    "a",
    "<b>",
    "&amp;",
    '"quoted"',
]
_SEPARATORS = [" ", "", "-", "_", ", ", "。", "\n", "é", "①", "K"]
_TERMS = sorted(
    {tokenizer.stem(tokenizer.normalize(word)) for word in _WORDS if word.isascii()}
    | {"电池", "锂离子", "传感器", "die", "hope", "sky", "x", "", "Batteri", "e-mail"}
)

texts = st.lists(
    st.one_of(st.sampled_from(_WORDS), st.sampled_from(_SEPARATORS), st.text(max_size=6)),
    max_size=80,
).map("".join)
term_lists = st.lists(st.sampled_from(_TERMS), min_size=1, max_size=3, unique=True)


@settings(max_examples=1500)
@given(text=texts, terms=term_lists)
def test_snippets_are_those_of_stemming_every_word(text: str, terms: list[str]) -> None:
    assert highlights.snippet(text, terms) == _every_word_snippet(text, terms)


@settings(max_examples=300)
@given(texts=st.lists(texts, max_size=4), terms=term_lists)
def test_highlights_are_those_of_stemming_every_word(texts: list[str], terms: list[str]) -> None:
    # Fields repeat (a listing's title is often its patent's): each gets its snippet.
    fields = [(f"field{n}", n, text) for n, text in enumerate(texts + texts[:1])]
    expected = [
        (name, patent_id, excerpt)
        for name, patent_id, text in fields
        if text and (excerpt := _every_word_snippet(text, terms)) is not None
    ]
    assert highlights.highlights(fields, terms) == expected


def test_a_long_text_is_matched_as_every_word_is_stemmed() -> None:
    text = " ".join(_WORDS * 20)
    for terms in (["batteri"], ["hope", "电池"], ["die", "sky"], ["possibl"], ["zzz"]):
        assert highlights.snippet(text, terms) == _every_word_snippet(text, terms)


# The stemmer's suffixes, alone and in pairs, after stems of many shapes: the stem of a word
# differs from the word's start in fewer than STEM_CHANGE of its last letters.
_SUFFIX_TEXT = (
    "s es ies ied sses ss us ed eed eedly ing ingly edly ly y ys ying yed ational tional enci "
    "anci abli entli izer ization ation ations ator alism aliti alli fulness ousli ousness "
    "iveness iviti biliti bli ogi fulli lessli li icate iciti ical ful ness ative al ance ence "
    "er ic able ible ably ibly ability ibility ant ement ment ent ism ate iti ous ive ize ion e "
    "l ll at bl iz"
)
_SUFFIXES = _SUFFIX_TEXT.split()
_BASES: tuple[str, ...] = (
    "",
    "a",
    "y",
    "e",
    "hop",
    "batter",
    "dy",
    "sk",
    "gener",
    "commun",
    "arsen",
    "poss",
)
_BASES += ("sens", "say", "ye", "feed", "cri", "tr", "abat", "onl", "earl", "singl", "newsy")


def _common_start(first: str, second: str) -> int:
    return next(
        (n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
        min(len(first), len(second)),
    )


def test_a_word_starts_with_its_stem_less_its_last_letters() -> None:
    exceptions = ["skis", "skies", "dying", "lying", "tying", "idly", "gently", "ugly", "early"]
    exceptions += ["only", "singly", "sky", "news", "howe", "atlas", "cosmos", "bias", "andes"]
    words = [*exceptions, *_SUFFIXES]
    for base, suffixes in itertools.product(_BASES[:8], itertools.product(_SUFFIXES, repeat=2)):
        words.append(base + "".join(suffixes))
    for base, suffix in itertools.product(_BASES, _SUFFIXES):
        words.append(base + suffix)
    for word in words:
        stem = tokenizer.stem(word)
        assert len(stem) - _common_start(stem, word) < highlights.STEM_CHANGE, (word, stem)


def test_folding_keeps_positions_and_turns_word_characters_as_normalizing_does() -> None:
    characters = [chr(code) for code in range(0x10000)]
    word_characters = [ch for ch in characters if _WORD.fullmatch(ch)]
    for ch in word_characters:
        assert highlights.folded(ch) == tokenizer.normalize(ch)
        assert re.fullmatch("[a-z0-9]", highlights.folded(ch))
    text = "".join(characters)
    folded = highlights.folded(text)
    assert len(folded) == len(text)
    # Nothing else becomes a word character.
    assert [m.span() for m in re.finditer("[a-z0-9]+", folded)] == [
        m.span() for m in _WORD.finditer(text)
    ]
