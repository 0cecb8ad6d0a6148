"""How much of a standing query a listing covers, by the relevance core: the rule behind the
saved-search alerts and the demand view, so that they judge a listing as the search ranks it.

A standing query (a saved search's words, a need's words) waits for listings: unlike a search,
it is judged one listing at a time, without the rest of the ranking. Its words weigh their
inverse document frequency now (``relevance.idf`` over ``relevance.document_frequencies``), so
that boilerplate (方法, 装置, system, method) weighs little and a rare technical term much;
a word no listing has yet weighs as a word in one listing (the query waits for it). A listing's
coverage of the query is its BM25F score (``relevance.text_score``: title part above body,
length-normalised, saturating) over the score of a listing with every word once in a title of
the reference length, capped at 1: every word in a typical title covers it fully, every word
once in an abstract about two thirds, and only its commonest words very little."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlmodel import Session

from marketplace.matching import relevance

# The BM25F saturation of a word found once in a title of the reference length: what counts
# as covering a word fully.
_FULL = relevance.text_score(
    {"w": 1.0}, " ".join(["w", *["-"] * (round(relevance.TITLE_LENGTH) - 1)]), ""
).score


def term_weights(session: Session, terms: Iterable[str]) -> dict[str, float]:
    """Each word's weight (IDF) by the listings indexed now, in one look-up for all of them."""
    unique = list(dict.fromkeys(terms))
    if not unique:
        return {}
    frequencies = relevance.document_frequencies(session, unique)
    total = max(relevance.listing_count(session), 1)
    # A word no listing has yet weighs as a word that one listing has: as it will when the
    # listing the query waits for comes (the words of a listing just indexed count it too).
    return {term: relevance.idf(total, max(frequencies.get(term, 0), 1)) for term in unique}


class ListingWords:
    """A listing's words as indexed (space-separated title part and body), with the BM25F
    saturation of each word asked about, computed once: a publication weighs the same words
    for many saved searches."""

    __slots__ = ("_body", "_saturation", "_title")

    def __init__(self, title_words: str, body_words: str) -> None:
        self._title = title_words
        self._body = body_words
        self._saturation: dict[str, float] = {}

    @classmethod
    def of(cls, title: Sequence[str], body: Sequence[str]) -> "ListingWords":
        return cls(" ".join(title), " ".join(body))

    def saturation(self, term: str) -> float:
        found = self._saturation.get(term)
        if found is None:
            found = relevance.text_score({term: 1.0}, self._title, self._body).score
            self._saturation[term] = found
        return found


@dataclass(frozen=True, slots=True)
class Coverage:
    """The share of the query's weight the listing covers (0 to 1), and the words it has, in
    the query's order."""

    share: float
    matched: list[str]


def coverage(weights: Mapping[str, float], terms: Sequence[str], words: ListingWords) -> Coverage:
    """The listing's coverage of the query ``terms`` (each weighing ``weights[term]``)."""
    unique = list(dict.fromkeys(terms))
    total = sum(weights[term] for term in unique)
    if total <= 0 or _FULL <= 0:
        return Coverage(0.0, [])
    score = 0.0
    matched: list[str] = []
    for term in unique:
        saturation = words.saturation(term)
        if saturation > 0:
            score += weights[term] * saturation
            matched.append(term)
    return Coverage(round(min(1.0, score / (_FULL * total)), relevance.SCORE_DIGITS), matched)
