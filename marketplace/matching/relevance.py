"""The relevance model shared by the listing search and the need matching: BM25F over each
listing's indexed words, with corpus statistics, and the IPC subclasses of the best text matches
as evidence.

- Each word of a query weighs its inverse document frequency (IDF): a word most listings have
  (方法, 装置, system, method) counts little, a rare technical term much. The document
  frequencies come from the database: on SQLite from the FTS5 vocabulary table, which FTS5 keeps
  in the transaction of each index change; on PostgreSQL from an index probe counted up to a
  cap for a rare word and from the planner's statistics (ANALYZE) for the most common words.
- A listing's score sums, over the query's words it contains, IDF x a saturating function of
  the word's weighted frequency (title part ``TITLE_WEIGHT``, body ``BODY_WEIGHT``), normalised
  by the part's length against a reference length (BM25F). Any word matches: a listing with
  more and rarer words ranks first.
- Candidates are bounded by the weight of what they can match: the words are taken rarest
  first while their document frequencies add up to no more than the candidate bound, and the
  candidates are the listings with any of them. A listing with none of them has only words
  common enough that it could not outrank the ones found.
- The IPC subclasses shared by the best text matches (pseudo-relevance feedback) raise the
  listings in them, whatever their language: a Chinese query finds English listings of its
  field, and the reverse.

The weights a query was ranked with (a ``QueryModel``) travel in its relevance cursor, so that
later pages rank with the same weights while listings are added: pages never repeat or skip.
"""

import functools
import heapq
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlmodel import Session, col

from marketplace.matching import tokenizer
from marketplace.matching.candidates import (
    SearchCandidate,
    class_lexemes,
    common_word_shares,
    find_candidates,
    quoted,
)
from marketplace.matching.models import ListingSearch
from marketplace.matching.search_index import dialect_name, split_joined

LS = ListingSearch

# BM25F: field weights, length normalisation and saturation.
TITLE_WEIGHT = 3.0
BODY_WEIGHT = 1.0
TITLE_B = 0.5
BODY_B = 0.75
K1 = 1.2
# Reference lengths (in indexed words) of a title part and a body: fixed rather than the
# corpus averages, so that a listing's score does not move when others are added.
TITLE_LENGTH = 12.0
BODY_LENGTH = 120.0

# Pseudo-relevance feedback: how many of the best text matches vote for IPC subclasses, the
# smallest share of that vote a subclass needs, how many subclasses count, and how much a
# listing in one adds to its score (relative to the best text match).
FEEDBACK_HITS = 10
FEEDBACK_MIN_SHARE = 0.2
FEEDBACK_CLASSES = 3
CLASS_WEIGHT = 0.5

# PostgreSQL: a word's listings are counted up to this many; a word with more is common, and
# its share comes from the planner's statistics when it is among the most common words.
COUNT_CAP = 5_000
SCORE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class QueryModel:
    """How a query ranks: each word's IDF, the words that pick candidates, the IPC subclasses
    that count as evidence with their weight, and the text score that normalises the rest."""

    weights: dict[str, float]
    retrieval: list[str]
    classes: dict[str, float] = field(default_factory=dict)
    top_text: float = 0.0

    def encode(self) -> dict[str, Any]:
        return {
            "w": self.weights,
            "r": self.retrieval,
            "c": self.classes,
            "t": self.top_text,
        }

    @classmethod
    def decode(cls, value: Any) -> "QueryModel | None":
        """A model from a cursor; None when it is not one this module wrote."""
        if not isinstance(value, dict):
            return None
        weights, retrieval = value.get("w"), value.get("r")
        classes, top = value.get("c"), value.get("t")
        if not (
            isinstance(weights, dict)
            and isinstance(retrieval, list)
            and isinstance(classes, dict)
            and _number(top)
            and len(weights) <= 200
            and len(classes) <= FEEDBACK_CLASSES + 20
            and all(isinstance(k, str) and _number(v) for k, v in weights.items())
            and all(isinstance(k, str) and _number(v) for k, v in classes.items())
            and all(isinstance(term, str) and term in weights for term in retrieval)
        ):
            return None
        return cls(
            weights={k: float(v) for k, v in weights.items()},
            retrieval=list(retrieval),
            classes={k: float(v) for k, v in classes.items()},
            top_text=float(top or 0.0),
        )


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < 1e9
    )


# Corpus statistics --------------------------------------------------------------------------


def listing_count(session: Session) -> int:
    """How many listings are indexed (PostgreSQL: the planner's estimate once analysed)."""
    if dialect_name(session) == "postgresql":
        # Read once per session, as the common words are (candidates.common_word_shares): it
        # changes only when the table is analyzed or vacuumed.
        if "listing_estimate" not in session.info:
            session.info["listing_estimate"] = session.execute(
                sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
                {"table": LS.__tablename__},
            ).scalar()
        estimate = session.info["listing_estimate"]
        if estimate is not None and estimate >= 1_000:
            return int(estimate)
    return int(session.execute(sa.select(sa.func.count()).select_from(LS)).scalar_one())


def document_frequencies(session: Session, terms: Sequence[str]) -> dict[str, int]:
    """How many listings have each word (0 for a word no listing has)."""
    if not terms:
        return {}
    if dialect_name(session) == "sqlite":
        rows = session.execute(
            sa.text(
                "SELECT term, doc FROM listing_search_fts_vocab WHERE term IN :terms"
            ).bindparams(sa.bindparam("terms", expanding=True)),
            {"terms": list(terms)},
        ).all()
        found = {str(term): int(doc) for term, doc in rows}
        return {term: found.get(term, 0) for term in terms}
    total = listing_count(session)
    shares = common_word_shares(session, list(terms))
    counts: dict[str, int] = {}
    for term in terms:
        if term in shares:
            counts[term] = max(1, round(shares[term] * total))
            continue
        counts[term] = int(
            session.execute(_capped_count(), {"word": quoted(term, "'")}).scalar_one()
        )
    return counts


@functools.cache
def _capped_count() -> sa.Select[int]:
    """How many listings have the tsquery ``word`` (a parameter), counted up to
    ``COUNT_CAP``: built once, as building it cost more Python than running it."""
    word = sa.cast(sa.bindparam("word", type_=sa.String()), TSQUERY)
    return sa.select(sa.func.count()).select_from(
        sa.select(sa.literal(1))
        .select_from(LS)
        .where(col(LS.search_vector).op("@@")(word))
        .limit(COUNT_CAP)
        .subquery()
    )


def idf(total: int, frequency: int) -> float:
    """BM25's inverse document frequency (never negative)."""
    return math.log(1 + (total - frequency + 0.5) / (frequency + 0.5))


def query_model(session: Session, terms: Sequence[str], *, bound: int) -> QueryModel:
    """The weights of a query's words, and the words that pick its candidates: rarest first,
    while their listings add up to no more than ``bound`` (at least the rarest word). Words no
    listing has are left out."""
    frequencies = document_frequencies(session, terms)
    total = max(listing_count(session), 1)
    present = {term: count for term, count in frequencies.items() if count > 0}
    weights = {term: round(idf(total, count), SCORE_DIGITS) for term, count in present.items()}
    retrieval: list[str] = []
    budget = 0
    for term in sorted(present, key=lambda t: (present[t], t)):
        if retrieval and budget + present[term] > bound:
            break
        retrieval.append(term)
        budget += present[term]
    return QueryModel(weights=weights, retrieval=retrieval)


# Scores -------------------------------------------------------------------------------------


@dataclass(slots=True)
class TextScore:
    score: float
    matched: list[str]


# A listing's text score and the words it matched, as a ranking keeps them (a tuple: hundreds
# per search, each cheaper to make than an object).
Scored = tuple[float, list[str]]


def text_score(weights: Mapping[str, float], title_words: str, body_words: str) -> TextScore:
    """BM25F of a listing's words (space-separated, as indexed) against the query's weights."""
    return TextScore(*text_scorer(weights)(title_words, body_words))


def text_scorer(weights: Mapping[str, float]) -> Callable[[str, str], Scored]:
    """``text_score`` for one query, its words padded once rather than once per listing."""
    padded_terms = [(f" {term} ", term, weight) for term, weight in weights.items()]

    def score_of(title_words: str, body_words: str) -> Scored:
        title, body = f" {title_words} ", f" {body_words} "
        title_norm = 1 - TITLE_B + TITLE_B * (title_words.count(" ") + 1) / TITLE_LENGTH
        body_norm = (
            1 - BODY_B + BODY_B * ((body_words.count(" ") + 1) if body_words else 0) / BODY_LENGTH
        )
        score = 0.0
        matched: list[str] = []
        for padded, term, weight in padded_terms:
            in_title = title.count(padded)
            in_body = body.count(padded)
            if in_title or in_body:
                frequency = TITLE_WEIGHT * in_title / title_norm + BODY_WEIGHT * in_body / body_norm
                score += weight * frequency / (K1 + frequency)
                matched.append(term)
        return round(score, SCORE_DIGITS), matched

    return score_of


def subclasses_of(ipc_codes: Iterable[str]) -> set[str]:
    """The IPC subclasses (``H01M``) of a listing's codes."""
    return {code[:4] for code in ipc_codes if len(code) >= 4}


def feedback_classes(ranked: Sequence[tuple[float, Iterable[str]]]) -> dict[str, float]:
    """The IPC subclasses that the best text matches share, each with its share of their vote
    (a match votes in proportion to its score against the best one's), at most
    ``FEEDBACK_CLASSES``."""
    votes: dict[str, float] = {}
    top = ranked[0][0] if ranked else 0.0
    if top <= 0:
        return {}
    considered = ranked[:FEEDBACK_HITS]
    for score, codes in considered:
        for subclass in subclasses_of(codes):
            votes[subclass] = votes.get(subclass, 0.0) + score / top
    total = sum(score / top for score, _ in considered)
    shares = {c: v / total for c, v in votes.items() if v / total >= FEEDBACK_MIN_SHARE}
    best = sorted(shares, key=lambda c: (-shares[c], c))[:FEEDBACK_CLASSES]
    return {c: round(shares[c], 4) for c in best}


def class_evidence(
    classes: Mapping[str, float], ipc_codes: Iterable[str]
) -> tuple[float, str | None]:
    """The strongest evidence a listing's subclasses give: its share, and the subclass."""
    best, which = 0.0, None
    for subclass in sorted(subclasses_of(ipc_codes)):
        share = classes.get(subclass, 0.0)
        if share > best:
            best, which = share, subclass
    return best, which


def combined_score(model: QueryModel, text: float, ipc_codes: Iterable[str]) -> float:
    """The listing's relevance: its text score over the best one's, plus ``CLASS_WEIGHT`` x the
    evidence of its subclasses."""
    share, _ = class_evidence(model.classes, ipc_codes)
    normalised = text / model.top_text if model.top_text > 0 else 0.0
    return round(normalised + CLASS_WEIGHT * share, SCORE_DIGITS)


@functools.lru_cache(maxsize=65_536)
def _sorted_subclasses(ipc_codes: str) -> tuple[str, ...]:
    return tuple(sorted(subclasses_of(split_joined(ipc_codes))))


def _class_evidence_of(classes: Mapping[str, float], ipc_codes: str) -> tuple[float, str | None]:
    """``class_evidence`` of an index row's ``"|code|code|"`` string."""
    best, which = 0.0, None
    for subclass in _sorted_subclasses(ipc_codes):
        share = classes.get(subclass, 0.0)
        if share > best:
            best, which = share, subclass
    return best, which


_SCORE = operator.attrgetter("score")
_LISTING_ID = operator.attrgetter("candidate.listing_id")


def _sort_best_first(ranked: list["Ranked"]) -> None:
    """Best first, ties newer listing first: two stable sorts on keys read in C, cheaper than
    one on a (-score, -id) key built in Python for each of 1,500 listings."""
    ranked.sort(key=_LISTING_ID, reverse=True)
    ranked.sort(key=_SCORE, reverse=True)


# Ranking ------------------------------------------------------------------------------------


def _other_language(terms: Sequence[str]) -> bool | None:
    """Whether the other language than the query's is Chinese (True: an English query) or
    English (False: a Chinese query); None for a query in both."""
    chinese = [tokenizer.is_cjk(term) for term in terms]
    if chinese and all(chinese):
        return False
    if chinese and not any(chinese):
        return True
    return None


# Listings fetched for each IPC subclass of evidence, beyond the text candidates.
CLASS_CANDIDATES = 200


@dataclass(slots=True)
class Ranked:
    """A candidate with its relevance, its text score, the words it matched and the subclass
    that raised it (None when none did)."""

    candidate: SearchCandidate
    score: float
    text: float
    matched: list[str]
    subclass: str | None


@dataclass(slots=True)
class Ranking:
    model: QueryModel
    ranked: list[Ranked]
    # False when more listings have the words than the bound admitted.
    complete: bool


def text_bound(bound: int) -> int:
    """The text candidates' part of a ranking's ``bound``: a quarter is left for the listings
    that the IPC subclasses of evidence bring."""
    return bound - bound // 4


def text_candidates(
    session: Session,
    model: QueryModel,
    *,
    conditions: Sequence[sa.ColumnElement[bool]],
    limit: int,
    exclude: Sequence[int] = (),
) -> list[SearchCandidate]:
    """At most ``limit`` listings with the query's words: those with its retrieval words, then,
    while there is room, those with its commoner words (title matches first, see
    ``find_candidates``)."""
    found: list[SearchCandidate] = []
    if model.retrieval:
        found = find_candidates(
            session,
            terms=model.retrieval,
            any_term=True,
            conditions=conditions,
            limit=limit,
            exclude=exclude,
        )
    common = [term for term in model.weights if term not in model.retrieval]
    if common and len(found) < limit:
        # Room left: the listings with the commoner words, those with one in the title first.
        found += find_candidates(
            session,
            terms=common,
            any_term=True,
            conditions=conditions,
            limit=limit - len(found),
            exclude=[*exclude, *(c.listing_id for c in found)],
        )
    return found


def with_feedback(
    model: QueryModel, scored: Sequence[tuple[SearchCandidate, Scored]]
) -> QueryModel:
    """The model with the IPC subclasses that the best of the ``scored`` text candidates share,
    and the best text score, which normalises the others."""
    # Only the best few vote (and the best one normalises): no need to sort them all, nor to
    # build a sort key for each; only for those scoring at least the FEEDBACK_HITS-th best.
    best_scores = heapq.nlargest(FEEDBACK_HITS, [text[0] for _, text in scored])
    least = best_scores[-1] if best_scores else 0.0
    by_text = sorted(
        (pair for pair in scored if pair[1][0] >= least),
        key=lambda pair: (-pair[1][0], -pair[0].listing_id),
    )[:FEEDBACK_HITS]
    top = by_text[0][1][0] if by_text else 0.0
    classes = feedback_classes([(text, split_joined(c.ipc_codes)) for c, (text, _) in by_text])
    return replace(model, classes=classes, top_text=top)


def feedback_model(
    session: Session,
    terms: Sequence[str],
    *,
    conditions: Sequence[sa.ColumnElement[bool]],
    bound: int,
) -> QueryModel:
    """The model ``rank`` ranks ``terms`` by within ``bound`` (the words' weights, the IPC
    subclasses of the best text matches, the best text score), without fetching the listings
    those subclasses bring, which do not vote."""
    limit = text_bound(bound)
    model = query_model(session, terms, bound=limit)
    found = text_candidates(session, model, conditions=conditions, limit=limit)
    score_of = text_scorer(model.weights)
    return with_feedback(model, [(c, score_of(c.title_words, c.body_words)) for c in found])


def rank(
    session: Session,
    *,
    terms: Sequence[str],
    conditions: Sequence[sa.ColumnElement[bool]],
    bound: int,
    hints: Iterable[str] = (),
    model: QueryModel | None = None,
    exclude: Sequence[int] = (),
    class_candidates: int = CLASS_CANDIDATES,
) -> Ranking:
    """The listings meeting ``conditions``, ranked for ``terms`` (and IPC ``hints``), best
    first (ties: newer listing first). ``model``: the weights of an earlier page (a cursor),
    so that this page ranks alike; otherwise built from the corpus now."""
    fresh = model is None
    limit = text_bound(bound)
    if model is None:
        model = query_model(session, terms, bound=limit)
    found = text_candidates(session, model, conditions=conditions, limit=limit, exclude=exclude)
    complete = len(found) < limit
    score_of = text_scorer(model.weights)
    scored = [(c, score_of(c.title_words, c.body_words)) for c in found]
    if fresh:
        model = with_feedback(model, scored)
    seen = [*exclude, *(c.listing_id for c in found)]
    # A need's IPC hints bring their listings too; they count in its own IPC factor, not here.
    hinted = sorted(subclasses_of(hints))
    # Fetches by IPC subclass: the subclass, the script of the title part it asks for (None:
    # either), and whether a listing needs some of the words.
    fetches: list[tuple[str, bool | None, bool]] = []
    other_chinese = _other_language(terms)
    evidence = [*model.classes, *(c for c in hinted if c not in model.classes)]
    for subclass in evidence:
        if subclass in hinted:
            # A class the need asked for: its listings come in whatever their words.
            fetches.append((subclass, None, False))
        elif other_chinese is not None:
            # A listing the words did not reach comes in by its class alone when it is written
            # in the other language.
            fetches.append((subclass, other_chinese, False))
    if not complete:
        # In the query's own language the words are the better evidence: a listing comes in
        # with some of them, and only when the text candidates were cut short (otherwise they
        # are all among them already). After every class's other-language listings, so that
        # those keep their room.
        for subclass in evidence:
            if subclass not in hinted:
                fetches.append((subclass, None, True))
    # The statistics of the classes the fetches with words weigh (see find_candidates), read in
    # one look-up rather than one per fetch.
    common_word_shares(
        session,
        [
            lexeme
            for subclass, title_in_chinese, needs_words in fetches
            if needs_words
            for lexeme in class_lexemes(subclass, title_in_chinese=title_in_chinese)
        ],
    )
    for subclass, title_in_chinese, needs_words in fetches:
        room = min(class_candidates, bound - len(scored))
        if room <= 0:
            break
        for candidate in find_candidates(
            session,
            terms=list(model.weights) if needs_words else [],
            any_term=True,
            conditions=conditions,
            limit=room,
            exclude=seen,
            ipc=subclass,
            title_in_chinese=title_in_chinese,
        ):
            text_scored = score_of(candidate.title_words, candidate.body_words)
            if needs_words and text_scored[0] <= 0:
                continue
            seen.append(candidate.listing_id)
            scored.append((candidate, text_scored))
    ranked = []
    top_text = model.top_text
    classes = model.classes
    # As combined_score, with each distinct set of codes read once (many listings share
    # theirs) and none read when no subclass counts as evidence.
    evidence_of: dict[str, tuple[float, str | None]] = {}
    no_evidence: tuple[float, str | None] = (0.0, None)
    for candidate, (text, matched) in scored:
        if classes:
            codes = candidate.ipc_codes
            raised = evidence_of.get(codes)
            if raised is None:
                raised = evidence_of[codes] = _class_evidence_of(classes, codes)
        else:
            raised = no_evidence
        normalised = text / top_text if top_text > 0 else 0.0
        ranked.append(
            Ranked(
                candidate,
                round(normalised + CLASS_WEIGHT * raised[0], SCORE_DIGITS),
                text,
                matched,
                raised[1],
            )
        )
    _sort_best_first(ranked)
    return Ranking(model=model, ranked=ranked, complete=complete)
