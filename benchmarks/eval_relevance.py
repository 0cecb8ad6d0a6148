"""Relevance of listing search and of need matching on real patent records, against a plain
BM25 baseline over the same words.

What it does, in order:

1. reads the development data folder given as the first argument (JSON Lines patent records:
   title, abstract, IPC codes; see that folder's README) and samples up to ``--per-file``
   records of each file; a record with Chinese and English sides (the bilingual file) is listed
   in one language, chosen at random, so that no listing has a translated twin; a record
   without a title is titled by the first sentence of its abstract;
2. creates a database of its own (a temporary SQLite file by default, or a database
   ``eval_relevance_<random>`` on the PostgreSQL server of ``--database-url``) and migrates it;
3. imports the records as a verified university would, through the import workflow (JSON
   Lines, in chunks), and declares them open licenses through the bulk declaration workflow
   (published, one listing per patent), so that the search index is built by the app itself;
4. picks ``--queries`` query records per language among those with an IPC subclass, and runs
   each record's title (a) as ``GET /api/v1/listings?q=<title>`` does (``search_listings``,
   relevance order, pages followed by cursor up to ``DEPTH`` listings) and (b) as a technology
   need (title = the query, ``match_need``);
5. computes a plain BM25 ranking (k1 = 1.2, b = 0.75, any word, over title and abstract as the
   index segments them, no field weights) for the same query over the same listings;
6. reports precision@10 and nDCG@10 per query language, within the language (``zh``, ``en``),
   across languages (``zh->en``: a Chinese query's ranking restricted to English listings, and
   the reverse), and over all listings, for the three methods, with the chance level (the share
   of relevant listings) of each;
7. alerts (``--alerts`` query records per language, the first of the same sample): saves each
   record's title as an SME's saved search (``create_saved_search``), then runs the alerting of
   a publication (``alert_on_publish``) for every listing, in a transaction rolled back, and
   reports the precision and recall of the alerts (pooled over the queries), within the
   language and across languages (where only the IPC subclasses of the saved search alert),
   for each ``ALERT_CLASS_SHARE`` of ``ALERT_THRESHOLDS``.
   The listings were there when the searches were saved (their words count in the weights and
   the votes), whereas a real alert is on a listing published later.

A listing is relevant to a query when they share an IPC subclass (``H01M``); the query's own
listing is left out of its ranking. The figures are means over the queries (a short ranking
counts its empty places as misses).

Usage (from the project root)::

    .venv/bin/python benchmarks/eval_relevance.py ../shared/data              # SQLite
    .venv/bin/python benchmarks/eval_relevance.py ../shared/data \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/eval_relevance.py ../shared/data --per-file 1000 \\
        --queries 100 --json out.json
    .venv/bin/python benchmarks/eval_relevance.py ../shared/data --queries 1 --alerts 100
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import application_number, bench_database, credit_code, migrate
from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind, Verification
from marketplace.audit import recorder as audit_recorder
from marketplace.config import get_settings
from marketplace.db import create_db_engine
from marketplace.listings.bulk_models import (
    BulkAnnouncement,
    BulkDeclarationCreate,
)
from marketplace.listings.models import (
    Listing,
    ListingPatent,
    OfferCreate,
    RoyaltyType,
)
from marketplace.matching import (
    need_matching,
    needs,
    saved_searches,
    search,
    tokenizer,
)
from marketplace.matching.errors import InvalidSavedSearch
from marketplace.matching.models import (
    NeedCreate,
    SavedSearchClass,
    SavedSearchCreate,
    SearchSort,
)
from marketplace.patents.import_models import ImportFormat
from marketplace.patents.models import Patent
from marketplace.sessions import transaction
from marketplace.workflows import declarations, imports

K = 10
# How deep each method's ranking is read: enough to restrict it to one language.
DEPTH = 200
PAGE = 100
MATCH_LIMIT = 100
BULK = 500
LANGUAGES = ("zh", "en")
METHODS = ("bm25", "search", "matching")
VIEWS = ("same", "cross", "all")
# The alerts report: the shares of a saved search's class vote tried as ALERT_CLASS_SHARE. The
# lowest is the least share a class is kept with (relevance.FEEDBACK_MIN_SHARE).
ALERT_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
ALERT_VIEWS = ("same", "cross")
DEFAULT_FILES = (
    "cn_a01_agri_patents.jsonl",
    "cn_heat_recovery_abstracts.jsonl",
    "en_heat_recovery_abstracts.jsonl",
    "bilingual_green_aviation_patents.jsonl",
    "cn_kppatent_unlabeled.jsonl",
)
MAX_TITLE = 200
# After a Chinese full stop, semicolon, exclamation or question mark, or ". ".
_SENTENCE_END = re.compile("(?<=[\u3002\uff1b;!?\uff01\uff1f])|(?<=\\.)\\s")


# Metrics ---------------------------------------------------------------------------------------


def precision_at_k(ranking: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Share of the first ``k`` places taken by relevant listings (empty places are misses)."""
    return sum(1 for item in ranking[:k] if item in relevant) / k


def ndcg_at_k(ranking: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Binary-gain nDCG: DCG of the ranking over that of an ideal one (0 without relevant)."""
    ideal = sum(1 / math.log2(place + 2) for place in range(min(k, len(relevant))))
    if ideal == 0:
        return 0.0
    found = sum(
        1 / math.log2(place + 2) for place, item in enumerate(ranking[:k]) if item in relevant
    )
    return found / ideal


# Records ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    key: str
    lang: str
    title: str
    abstract: str
    subclasses: frozenset[str]
    ipc_codes: list[str]
    patent_id: int | None = None
    listing_id: int | None = None


def first_sentence(text: str) -> str:
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()
    return sentence[:MAX_TITLE].strip()


def _codes(raw: dict[str, Any], key: str) -> list[str]:
    """The record's codes as full symbols: the API takes no bare subclass, so ``A01K`` (all
    that file 1 gives) is imported as ``A01K 1/00``; relevance reads subclasses only."""
    codes = [code.strip() for code in raw.get(key) or [] if isinstance(code, str)]
    return [code if " " in code else f"{code} 1/00" for code in codes if code]


def read_record(raw: dict[str, Any], rng: random.Random) -> Record | None:
    """One listing's text and classes from a data file's record (None when it has no text)."""
    lang = raw.get("lang", "zh")
    title, abstract = raw.get("title") or "", raw.get("abstract") or ""
    if raw.get("title_en") and raw.get("title_zh") and rng.random() < 0.5:
        lang, title, abstract = "en", raw["title_en"], raw.get("abstract_en") or ""
    title = title.strip()[:MAX_TITLE] or first_sentence(abstract)
    if not title:
        return None
    codes = _codes(raw, "ipc")
    subclasses = frozenset(code.replace(" ", "")[:4] for code in codes if len(code) >= 4)
    return Record(
        key=str(raw.get("source_id")),
        lang=lang,
        title=title,
        abstract=abstract.strip()[:20_000],
        subclasses=subclasses,
        ipc_codes=codes[:20],
    )


def read_records(folder: Path, per_file: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    found: list[Record] = []
    for name in DEFAULT_FILES:
        path = folder / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as lines:
            raws = [json.loads(line) for line in lines if line.strip()]
        rng.shuffle(raws)
        kept = 0
        for raw in raws:
            if kept >= per_file:
                break
            record = read_record(raw, rng)
            if record is not None:
                found.append(record)
                kept += 1
    return found


# Loading through the services ------------------------------------------------------------------


def import_lines(records: Sequence[Record], first_serial: int) -> bytes:
    """The records as a university's JSON Lines import file: granted, fees paid."""
    lines = []
    for index, record in enumerate(records):
        lines.append(
            json.dumps(
                {
                    "application_number": application_number(2018, 1, first_serial + index),
                    "title": record.title,
                    "abstract": record.abstract or None,
                    "filing_date": "2018-03-01",
                    "grant_date": "2020-06-01",
                    "legal_status": "granted",
                    "fee_paid_until": "2027-02-28",
                    "ipc_codes": record.ipc_codes,
                    "inventors": ["Li Wei"],
                },
                ensure_ascii=False,
            )
        )
    return ("\n".join(lines) + "\n").encode()


def _organization(session: Session, name: str, kind: OrganizationKind, serial: int) -> int:
    organization = Organization(
        name=name,
        kind=kind,
        country="CN",
        region="Zhejiang",
        credit_code=credit_code(
            "12" if kind != OrganizationKind.enterprise else "91", "330106", serial
        ),
        verification=Verification.verified,
    )
    session.add(organization)
    session.flush()
    assert organization.id is not None
    return organization.id


def load(engine: sa.Engine, records: Sequence[Record]) -> tuple[int, float, float]:
    """Import and declare every record; returns the SME's id and the seconds each step took."""

    @contextmanager
    def sessions() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            yield from transaction(session)

    with sessions() as session:
        university = _organization(session, "Eval University", OrganizationKind.university, 1)
        sme = _organization(session, "Eval Enterprise", OrganizationKind.enterprise, 2)
        session.commit()
    started = time.perf_counter()
    outcome = imports.import_patents(
        sessions=sessions,
        owner_id=university,
        stream=io.BytesIO(import_lines(records, 1)),
        file_format=ImportFormat.jsonl,
    )
    import_seconds = time.perf_counter() - started
    if outcome.failed:
        raise SystemExit(f"error: {outcome.failed} records refused: {outcome.errors[:3]}")
    with Session(engine) as session:
        rows = session.execute(sa.select(col(Patent.application_number), col(Patent.id)))
        numbers: dict[str, int] = {str(number): int(patent_id) for number, patent_id in rows}
    for index, record in enumerate(records):
        record.patent_id = numbers[application_number(2018, 1, 1 + index)]
    del numbers
    started = time.perf_counter()
    offer = OfferCreate(
        royalty_type=RoyaltyType.lump_sum, upfront_fee=Decimal(50_000), term_years=3
    )
    for start in range(0, len(records), BULK):
        with sessions() as session:
            owner = session.get_one(Organization, university)
            result = declarations.declare_in_bulk(
                session=session,
                owner=owner,
                data=BulkDeclarationCreate(
                    patent_ids=[r.patent_id or 0 for r in records[start : start + BULK]],
                    offer=offer,
                    publish=True,
                    # As the office would announce them: one number per declaration.
                    announcements=[
                        BulkAnnouncement(
                            patent_id=r.patent_id or 0,
                            announcement_number=f"KF{start + n:010d}",
                            announcement_date=clock.today(),
                        )
                        for n, r in enumerate(records[start : start + BULK])
                    ],
                ),
            )
            if result.published != len(records[start : start + BULK]):
                raise SystemExit(f"error: declarations refused: {result.results[:3]}")
            session.commit()
    declare_seconds = time.perf_counter() - started
    attach_listings(engine, records)
    return sme, import_seconds, declare_seconds


def attach_listings(engine: sa.Engine, records: Sequence[Record]) -> None:
    """Each record's patent and listing, by the application number it was imported under."""
    with Session(engine) as session:
        rows = session.execute(
            sa.select(
                col(Patent.application_number), col(Patent.id), col(ListingPatent.listing_id)
            ).join(ListingPatent, col(ListingPatent.patent_id) == col(Patent.id))
        ).all()
    found = {number: (patent_id, listing_id) for number, patent_id, listing_id in rows}
    for index, record in enumerate(records):
        record.patent_id, record.listing_id = found[application_number(2018, 1, 1 + index)]


def existing_sme(engine: sa.Engine) -> int:
    with Session(engine) as session:
        sme = session.scalars(
            sa.select(col(Organization.id)).where(
                col(Organization.kind) == OrganizationKind.enterprise
            )
        ).one()
    assert sme is not None
    return sme


# The baseline ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Bm25:
    """Plain BM25 over each listing's words (title and abstract as the index segments them)."""

    k1: float = 1.2
    b: float = 0.75
    postings: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    lengths: dict[int, int] = field(default_factory=dict)

    def add(self, listing_id: int, text: str) -> None:
        words = tokenizer.index_tokens(text)
        self.lengths[listing_id] = len(words)
        for word, count in Counter(words).items():
            self.postings[word][listing_id] = count

    def rank(self, query: str, depth: int) -> list[int]:
        total = len(self.lengths)
        average = sum(self.lengths.values()) / max(total, 1)
        scores: dict[int, float] = defaultdict(float)
        for word in tokenizer.query_terms(query):
            found = self.postings.get(word)
            if not found:
                continue
            idf = math.log(1 + (total - len(found) + 0.5) / (len(found) + 0.5))
            for listing_id, count in found.items():
                norm = self.k1 * (1 - self.b + self.b * self.lengths[listing_id] / average)
                scores[listing_id] += idf * count * (self.k1 + 1) / (count + norm)
        return [i for i, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))][:depth]


# The app's rankings ----------------------------------------------------------------------------


def search_ranking(session: Session, query: str, depth: int) -> list[int]:
    """``GET /listings?q=<query>`` in relevance order, pages followed by cursor."""
    found: list[int] = []
    cursor = None
    while len(found) < depth:
        result = search.search_listings(
            session=session, q=query, sort=SearchSort.relevance, limit=PAGE, cursor=cursor
        )
        found += [hit.listing_id for hit in result.hits]
        cursor = result.next_cursor
        if cursor is None:
            break
    return found[:depth]


def matching_ranking(session: Session, sme: Organization, query: str) -> list[int]:
    need = needs.create_need(
        session=session,
        organization=sme,
        data=NeedCreate(title=query[:300], description=query[:5_000]),
    )
    matches = need_matching.match_need(session=session, need=need, limit=MATCH_LIMIT)
    return [match.listing.id for match in matches.items]


# The evaluation --------------------------------------------------------------------------------


def pick_queries(records: Sequence[Record], per_language: int, seed: int) -> list[Record]:
    rng = random.Random(seed + 1)
    chosen: list[Record] = []
    for lang in LANGUAGES:
        labelled = [r for r in records if r.lang == lang and r.subclasses]
        rng.shuffle(labelled)
        chosen += labelled[:per_language]
    return chosen


def listing_facts(
    records: Sequence[Record],
) -> tuple[dict[int, str], dict[int, frozenset[str]]]:
    """Each listed record's language and IPC subclasses, by its listing id."""
    language_of: dict[int, str] = {}
    classes_of: dict[int, frozenset[str]] = {}
    for record in records:
        assert record.listing_id is not None
        language_of[record.listing_id] = record.lang
        classes_of[record.listing_id] = record.subclasses
    return language_of, classes_of


def evaluate(
    engine: sa.Engine, sme_id: int, records: Sequence[Record], queries: Sequence[Record]
) -> dict[str, Any]:
    language_of, classes_of = listing_facts(records)
    all_ids = list(language_of)
    baseline = Bm25()
    for record in records:
        assert record.listing_id is not None
        baseline.add(record.listing_id, f"{record.title} {record.abstract}")
    figures: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    chance: dict[tuple[str, str], list[float]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    with Session(engine) as session:
        sme = session.get_one(Organization, sme_id)
        for query in queries:
            started = time.perf_counter()
            rankings = {"bm25": baseline.rank(query.title, DEPTH)}
            seconds["bm25"].append(time.perf_counter() - started)
            started = time.perf_counter()
            rankings["search"] = search_ranking(session, query.title, DEPTH)
            seconds["search"].append(time.perf_counter() - started)
            started = time.perf_counter()
            rankings["matching"] = matching_ranking(session, sme, query.title)
            seconds["matching"].append(time.perf_counter() - started)
            relevant = {
                listing_id
                for listing_id, classes in classes_of.items()
                if listing_id != query.listing_id and classes & query.subclasses
            }
            other = "en" if query.lang == "zh" else "zh"
            # Each view: its label and the language of the listings it keeps (None: all).
            views: dict[str, tuple[str, str | None]] = {
                "same": (query.lang, query.lang),
                "cross": (f"{query.lang}->{other}", other),
                "all": (f"{query.lang}->all", None),
            }
            for view, (label, lang) in views.items():
                pool = [
                    i for i in all_ids if i != query.listing_id and lang in (None, language_of[i])
                ]
                in_view = {i for i in relevant if lang in (None, language_of[i])}
                chance[(label, view)].append(len(in_view) / max(len(pool), 1))
                for method, ranking in rankings.items():
                    kept = [
                        i
                        for i in ranking
                        if i != query.listing_id and lang in (None, language_of.get(i))
                    ]
                    figures[(label, view, method)].append(
                        (precision_at_k(kept, in_view), ndcg_at_k(kept, in_view))
                    )
        session.rollback()
    table: dict[str, Any] = {}
    for (label, view, method), values in sorted(figures.items()):
        row = table.setdefault(
            label, {"queries": len(values), "chance p@10": _mean(chance[(label, view)])}
        )
        row[method] = {
            "p@10": _mean([p for p, _ in values]),
            "ndcg@10": _mean([n for _, n in values]),
        }
    timing = {
        method: {"mean_ms": 1000 * _mean(values), "p95_ms": 1000 * _p95(values)}
        for method, values in seconds.items()
    }
    return {"table": table, "seconds": timing}


# Alerts ----------------------------------------------------------------------------------------


@contextmanager
def alert_class_share(share: float) -> Iterator[None]:
    """Alerting with ``ALERT_CLASS_SHARE`` set to ``share`` (its statements are built once with
    it, so they are built anew on the way in and out)."""
    held = saved_searches.ALERT_CLASS_SHARE
    saved_searches.ALERT_CLASS_SHARE = share
    saved_searches._statements.cache_clear()
    try:
        yield
    finally:
        saved_searches.ALERT_CLASS_SHARE = held
        saved_searches._statements.cache_clear()


def evaluate_alerts(
    engine: sa.Engine, records: Sequence[Record], queries: Sequence[Record]
) -> dict[str, Any]:
    """Save each query record's title as an SME's saved search (``create_saved_search``), then
    publish-alert every listing (``alert_on_publish``, in a transaction rolled back), and count
    which saved searches each listing alerts, by its words or by its class, per threshold.

    The classes alert only at or above ``ALERT_CLASS_SHARE``; alerting runs once with the lowest
    threshold tried, and a listing alerted by a class at it alerts at a higher threshold when
    the share of that class (the best of the listing's, as the alert picks it) reaches it."""
    language_of, classes_of = listing_facts(records)
    # For each saved search: the query record; then what alerted it, by words or by class.
    query_of: dict[int, Record] = {}
    by_words: dict[int, set[int]] = defaultdict(set)
    by_class: dict[int, dict[int, float]] = defaultdict(dict)
    saved_queries = 0
    seconds: dict[str, list[float]] = defaultdict(list)
    skipped = 0
    per_organization = get_settings().saved_searches_per_organization
    current = saved_searches.ALERT_CLASS_SHARE
    with Session(engine) as session, alert_class_share(min(ALERT_THRESHOLDS)):
        sme: Organization | None = None
        for index, query in enumerate(queries):
            if index % per_organization == 0:
                sme_id = _organization(
                    session, f"Eval Saver {index}", OrganizationKind.enterprise, 1_000 + index
                )
                sme = session.get_one(Organization, sme_id)
            assert sme is not None
            data = SavedSearchCreate(name=f"query {index}", q=query.title[:200])
            started = time.perf_counter()
            try:
                saved = saved_searches.create_saved_search(
                    session=session, organization=sme, data=data
                )
            except InvalidSavedSearch:
                skipped += 1
                continue
            seconds["save"].append(time.perf_counter() - started)
            assert saved.id is not None
            query_of[saved.id] = query
            saved_queries += 1
        share_statement = sa.select(
            col(SavedSearchClass.saved_search_id),
            col(SavedSearchClass.subclass),
            col(SavedSearchClass.share),
        )
        share_of = {
            (ident, subclass): share for ident, subclass, share in session.execute(share_statement)
        }
        listings = session.scalars(sa.select(Listing).order_by(col(Listing.id))).all()
        for listing in listings:
            assert listing.id is not None
            started = time.perf_counter()
            matched = saved_searches.alert_on_publish(session=session, listing=listing)
            seconds["alert"].append(time.perf_counter() - started)
            for match in matched:
                if match.id not in query_of:
                    continue
                if match.matched_class is None:
                    by_words[match.id].add(listing.id)
                else:
                    key = (match.id, match.matched_class)
                    if key not in share_of:
                        # Classes weighed at this alert (none of the query's words had a listing
                        # when it was saved).
                        share_of |= {
                            (ident, subclass): share
                            for ident, subclass, share in session.execute(share_statement)
                        }
                    by_class[match.id][listing.id] = share_of[key]
        session.rollback()
    # (query language, view, threshold) -> [alerted, relevant alerted, relevant]
    counts: dict[tuple[str, str, float], list[int]] = defaultdict(lambda: [0, 0, 0])
    pool: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for saved_search_id, query in query_of.items():
        for listing_id, lang in language_of.items():
            if listing_id == query.listing_id:
                continue
            view = "same" if lang == query.lang else "cross"
            is_relevant = bool(classes_of[listing_id] & query.subclasses)
            pool[(query.lang, view)][0] += 1
            pool[(query.lang, view)][1] += is_relevant
            class_share = by_class[saved_search_id].get(listing_id)
            for threshold in ALERT_THRESHOLDS:
                is_alerted = listing_id in by_words[saved_search_id] or (
                    class_share is not None and class_share >= threshold
                )
                tally = counts[(query.lang, view, threshold)]
                tally[0] += is_alerted
                tally[1] += is_alerted and is_relevant
                tally[2] += is_relevant
    table: dict[str, Any] = {}
    for lang in LANGUAGES:
        other = "en" if lang == "zh" else "zh"
        for view in ALERT_VIEWS:
            label = lang if view == "same" else f"{lang}->{other}"
            queries_here = sum(1 for q in query_of.values() if q.lang == lang)
            listings_here, relevant_here = pool[(lang, view)]
            row: dict[str, Any] = {
                "queries": queries_here,
                "chance precision": relevant_here / max(listings_here, 1),
            }
            for threshold in ALERT_THRESHOLDS:
                alerted, hits, relevant = counts[(lang, view, threshold)]
                precision = hits / alerted if alerted else 0.0
                recall = hits / relevant if relevant else 0.0
                row[f"{threshold:.1f}"] = {
                    "alerts per query": alerted / max(queries_here, 1),
                    "precision": precision,
                    "recall": recall,
                    "f1": _f1(precision, recall),
                }
            table[label] = row
    timing = {
        step: {"mean_ms": 1000 * _mean(values), "p95_ms": 1000 * _p95(values)}
        for step, values in seconds.items()
    }
    return {
        "table": table,
        "saved queries": saved_queries,
        "skipped queries": skipped,
        "current threshold": current,
        "seconds": timing,
    }


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{report['listings']:,} listings ({report['by_language']})")
    print(f"database: {report['database']}")
    print(
        f"import {report['import_per_second']:,.0f} patents/s; "
        f"declaration {report['declare_per_second']:,.0f} listings/s"
    )
    header = f"{'queries':<10} {'n':>4} {'chance':>7}"
    for method in METHODS:
        header += f" {method + ' p@10':>14} {method + ' nDCG':>14}"
    print(header + f" {'search/bm25':>12} {'match/bm25':>11}")
    for label, row in report["table"].items():
        line = f"{label:<10} {row['queries']:>4} {row['chance p@10']:>7.3f}"
        for method in METHODS:
            line += f" {row[method]['p@10']:>14.3f} {row[method]['ndcg@10']:>14.3f}"
        base = row["bm25"]["p@10"] or float("nan")
        line += f" {row['search']['p@10'] / base:>12.2f} {row['matching']['p@10'] / base:>11.2f}"
        print(line)
    for method, timing in report["seconds"].items():
        print(f"{method}: mean {timing['mean_ms']:.1f} ms, p95 {timing['p95_ms']:.1f} ms a query")


def print_alerts(alerts: dict[str, Any]) -> None:
    print(
        f"\nsaved searches: {alerts['saved queries']} ({alerts['skipped queries']} queries "
        "without searchable words skipped)"
    )
    print("alerts: precision / recall / F1 (alerts per query) by ALERT_CLASS_SHARE")
    header = f"{'queries':<10} {'n':>4} {'chance':>7}"
    for threshold in ALERT_THRESHOLDS:
        header += f" {threshold:>24.1f}"
    print(header)
    for label, row in alerts["table"].items():
        line = f"{label:<10} {row['queries']:>4} {row['chance precision']:>7.3f}"
        for threshold in ALERT_THRESHOLDS:
            cell = row[f"{threshold:.1f}"]
            line += (
                f" {cell['precision']:>5.3f}/{cell['recall']:.3f}/{cell['f1']:.3f}"
                f" ({cell['alerts per query']:>5.1f})"
            )
        print(line)
    for step, timing in alerts["seconds"].items():
        print(f"{step}: mean {timing['mean_ms']:.1f} ms, p95 {timing['p95_ms']:.1f} ms")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the development data folder")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create a temporary database on (default: a SQLite file)",
    )
    parser.add_argument("--per-file", type=int, default=1_000, help="records read per file")
    parser.add_argument("--queries", type=int, default=150, help="query records per language")
    parser.add_argument(
        "--alerts",
        type=int,
        default=30,
        help="query records per language saved as searches for the alerts report (0: none)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--existing",
        metavar="URL",
        help="evaluate a database an earlier --keep run loaded with the same data, "
        "--per-file and --seed (after a change to the ranking), loading nothing",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} is not a folder")
    if args.per_file < 1 or args.queries < 1:
        parser.error("--per-file and --queries must be at least 1")
    if args.alerts < 0:
        parser.error("--alerts must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    # Sessions opened here record audited changes, as the app's and the commands' do.
    audit_recorder.install()
    args = parse_args(argv)
    records = read_records(args.data, args.per_file, args.seed)
    if not records:
        raise SystemExit(f"error: no records in {args.data}")
    queries = pick_queries(records, args.queries, args.seed)
    savers = pick_queries(records, args.alerts, args.seed)
    if args.existing:
        engine = create_db_engine(args.existing)
        try:
            attach_listings(engine, records)
            report = evaluate(engine, existing_sme(engine), records, queries)
            if savers:
                report["alerts"] = evaluate_alerts(engine, records, savers)
        finally:
            engine.dispose()
        import_seconds = declare_seconds = float("nan")
        postgresql = args.existing.startswith("postgresql")
    else:
        workdir = Path(tempfile.mkdtemp(prefix="marketplace-eval-relevance-"))
        with bench_database(args.database_url, workdir, args.keep, name="eval_relevance") as db:
            migrate(db.url)
            engine = create_db_engine(db.url)
            try:
                sme_id, import_seconds, declare_seconds = load(engine, records)
                report = evaluate(engine, sme_id, records, queries)
                if savers:
                    report["alerts"] = evaluate_alerts(engine, records, savers)
            finally:
                engine.dispose()
        postgresql = db.postgresql
    report |= {
        "database": "PostgreSQL" if postgresql else "SQLite",
        "listings": len(records),
        "by_language": dict(Counter(r.lang for r in records)),
        "import_per_second": len(records) / import_seconds,
        "declare_per_second": len(records) / declare_seconds,
    }
    print_report(report)
    if "alerts" in report:
        print_alerts(report["alerts"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
