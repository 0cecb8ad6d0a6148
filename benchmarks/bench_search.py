"""Figures for listing search: latency of typical queries and throughput under concurrent
clients, against the real server over loopback HTTP.

What it does, in order:

1. creates a database of its own: a temporary SQLite file by default, or, given a PostgreSQL
   URL, a database ``benchsearch_<random>`` on that server (the one named in the URL is only used
   to connect);
2. applies the migrations;
3. generates N published listings, each of one patent with one offer, with Chinese titles and
   abstracts built from a vocabulary of technical terms (frequent and rare ones, Zipf-like),
   English sentences in some, IPC codes, kinds, owners in ten provinces; the words are segmented
   (jieba) and stemmed in parallel worker processes, exactly as the app indexes them; the rows
   go in by COPY on PostgreSQL (GIN indexes built after the load, then VACUUM ANALYZE) and by
   multi-row inserts on SQLite;
4. adds an SME with four technology needs; starts ``marketplace serve`` and times each query,
   and each need's matches, one request at a time (median, p95), then runs concurrent clients
   for a while and reports throughput; then times the same without HTTP (the service alone);
5. drops the database (unless ``--keep``).

``--existing URL`` measures a database that an earlier ``--keep`` run left, without loading
anything (after a change to the search code, say): steps 1-3 and 5 are skipped.

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_search.py                      # SQLite, 100,000 listings
    .venv/bin/python benchmarks/bench_search.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # 1,000,000
    .venv/bin/python benchmarks/bench_search.py --listings 100000 --requests 200 --clients 8

Searches are timed cold: the servers' cache of first pages is off, so that each repeat of a
query ranks afresh.

Speed is reported, never asserted; a response other than 200, or a query expected to match that
returns nothing, counts as an error and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    API,
    PASSWORD,
    PROVINCES,
    admin_user,
    application_number,
    bench_database,
    credit_code,
    migrate,
    ms,
    percentile,
    running_server,
)
from marketplace.audit import recorder as audit_recorder
from marketplace.matching import search as matching
from marketplace.matching import search_index
from marketplace.models import metadata
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.service import term_end_date

CHUNK = 2_000
ORGANIZATIONS = 300
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

# (Chinese term, English term, IPC codes it goes with); earlier terms are drawn more often.
TERMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("电池", "battery", ("H01M 10/0525", "H01M 4/58")),
    ("芯片", "chip", ("H01L 21/02", "H01L 23/48")),
    ("传感器", "sensor", ("G01D 5/353", "G01N 27/12")),
    ("人工智能", "artificial intelligence", ("G06N 3/08", "G06N 20/00")),
    ("控制系统", "control system", ("G05B 19/418", "G05B 13/02")),
    ("锂离子电池", "lithium-ion battery", ("H01M 10/0525",)),
    ("图像识别", "image recognition", ("G06V 10/82", "G06T 7/00")),
    ("神经网络", "neural network", ("G06N 3/04", "G06N 3/08")),
    ("光伏", "photovoltaic", ("H02S 40/30", "H01L 31/04")),
    ("储能", "energy storage", ("H02J 3/32", "H02J 7/00")),
    ("电动汽车", "electric vehicle", ("B60L 53/10", "B60L 58/12")),
    ("催化剂", "catalyst", ("B01J 23/42", "B01J 21/06")),
    ("复合材料", "composite material", ("C08K 3/04", "C08L 63/00")),
    ("半导体", "semiconductor", ("H01L 29/78", "H01L 21/02")),
    ("机器人", "robot", ("B25J 9/16", "B25J 11/00")),
    ("无人机", "drone", ("B64C 39/02", "B64U 10/13")),
    ("物联网", "internet of things", ("H04L 67/12", "H04W 4/70")),
    ("区块链", "blockchain", ("H04L 9/32", "G06Q 20/38")),
    ("天线", "antenna", ("H01Q 1/38", "H01Q 21/00")),
    ("石墨烯", "graphene", ("C01B 32/182",)),
    ("疫苗", "vaccine", ("A61K 39/12", "A61P 31/14")),
    ("医疗器械", "medical device", ("A61B 5/00", "A61M 5/142")),
    ("污水处理", "wastewater treatment", ("C02F 3/30", "C02F 1/44")),
    ("涂层", "coating", ("C09D 5/08", "C23C 14/06")),
    ("合金", "alloy", ("C22C 38/02", "C22C 21/00")),
    ("激光雷达", "lidar", ("G01S 17/89", "G01S 7/481")),
    ("自动驾驶", "autonomous driving", ("B60W 60/00", "G05D 1/02")),
    ("碳纳米管", "carbon nanotube", ("C01B 32/158",)),
    ("基因编辑", "gene editing", ("C12N 15/113", "C12N 9/22")),
    ("逆变器", "inverter", ("H02M 7/5387",)),
    ("热管理", "thermal management", ("H01M 10/613", "F28D 15/02")),
    ("充电桩", "charging pile", ("B60L 53/31",)),
    ("封装", "packaging", ("H01L 23/31", "B65D 81/26")),
    ("边缘计算", "edge computing", ("G06F 9/50", "H04L 67/10")),
    ("语音识别", "speech recognition", ("G10L 15/16", "G10L 15/22")),
    ("知识图谱", "knowledge graph", ("G06F 16/36",)),
)
WEIGHTS = [1.0 / (rank + 1) for rank in range(len(TERMS))]
SUBJECTS = ("制备方法", "控制方法", "检测装置", "系统及方法", "结构", "组件", "设备")
QUALITIES = ("效率", "稳定性", "安全性", "寿命", "精度", "可靠性")
EN_QUALITIES = ("efficiency", "stability", "safety", "service life", "accuracy")
ROYALTY_TYPES = ("lump_sum", "running", "hybrid", "per_unit")
ORG_KINDS = ("university", "research_institute", "enterprise")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    params: dict[str, str]


QUERIES = (
    Query("zh 2-char word (电池)", {"q": "电池"}),
    Query("zh 2-char word (芯片)", {"q": "芯片"}),
    Query("zh rare word (碳纳米管)", {"q": "碳纳米管"}),
    Query("en word (batteries)", {"q": "batteries"}),
    Query("mixed (电池 thermal)", {"q": "电池 thermal"}),
    Query(
        "filtered (电池, ipc H01M, fee<=100k)",
        {"q": "电池", "ipc": "H01M", "max_upfront_fee": "100000"},
    ),
    Query("sort=newest (芯片)", {"q": "芯片", "sort": "newest"}),
    Query("sort=price (传感器)", {"q": "传感器", "sort": "price"}),
    Query("browse ipc G06F, newest", {"ipc": "G06F"}),
    Query("typo (baterry->battery? one edit: batery)", {"q": "batery"}),
)


def _rows(start: int, end: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """The rows of listings ``start`` … ``end - 1`` (ids from 1), with their index entries."""
    rng = random.Random(seed * 1_000_003 + start)
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in LISTING_TABLES}
    for listing_id in range(start, end):
        picked = rng.choices(TERMS, weights=WEIGHTS, k=4)
        main, second, third, fourth = picked
        type_digit = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        kind = {1: PatentKind.invention, 2: PatentKind.utility_model, 3: PatentKind.design}[
            type_digit
        ]
        filing = date(2014, 1, 1) + timedelta(days=rng.randrange(0, 365 * 9))
        title = f"一种{second[0]}{main[0]}的{rng.choice(SUBJECTS)}"
        abstract = (
            f"本发明公开了一种{main[0]}\uff0c包括{second[0]}和{third[0]}\uff0c"
            f"能够提高{fourth[0]}的{rng.choice(QUALITIES)}。"
        )
        if rng.random() < 0.4:
            abstract += (
                f" A {main[1]} with {third[1]} that improves the "
                f"{rng.choice(EN_QUALITIES)} of the {fourth[1]}."
            )
        codes = list(dict.fromkeys([rng.choice(main[2]), rng.choice(second[2])]))
        owner = 1 + rng.randrange(ORGANIZATIONS)
        published = NOW - timedelta(minutes=(end - listing_id) * 3 + rng.randrange(3))
        royalty_type = rng.choice(ROYALTY_TYPES)
        upfront = (
            Decimal(rng.randrange(1_000, 2_000_000)).quantize(Decimal("1.00"))
            if royalty_type in ("lump_sum", "hybrid")
            else None
        )
        rate = (
            Decimal(rng.randrange(50, 1_500)) / 100
            if royalty_type in ("running", "hybrid")
            else None
        )
        add_published_listing(
            tables,
            listing_id=listing_id,
            owner=owner,
            kind=kind,
            type_digit=type_digit,
            filing=filing,
            title=title,
            abstract=abstract,
            codes=codes,
            published=published,
            royalty_type=royalty_type,
            upfront=upfront,
            rate=rate,
            per_unit_fee=Decimal("12.50") if royalty_type == "per_unit" else None,
            term_years=3,
        )
    return tables


LISTING_TABLES = ("patent", "patent_ipc", "listing", "listing_patent", "offer", "search")


def add_published_listing(
    tables: dict[str, list[dict[str, Any]]],
    *,
    listing_id: int,
    owner: int,
    kind: PatentKind,
    type_digit: int,
    filing: date,
    title: str,
    abstract: str,
    codes: list[str],
    published: datetime,
    royalty_type: str,
    upfront: Decimal | None,
    rate: Decimal | None,
    per_unit_fee: Decimal | None,
    term_years: int,
) -> None:
    """The rows of one published one-patent listing with one offer, and its search-index entry
    (segmented by the app's own tokenizer), appended to ``tables``."""
    tables["patent"].append(
        {
            "id": listing_id,
            "owner_id": owner,
            "application_number": application_number(filing.year, type_digit, listing_id),
            "kind": kind.value,
            "filing_date": filing,
            "title": title,
            "abstract": abstract,
            "legal_status": "granted",
            "grant_date": filing + timedelta(days=500),
            "fee_paid_until": TODAY + timedelta(days=200),
            "publicly_funded": False,
            "main_ipc": codes[0],
            "open_license_listing_id": None,
            "inventors": [],
            "co_owners": [],
            "created_at": published,
            "updated_at": published,
        }
    )
    for position, code in enumerate(codes):
        tables["patent_ipc"].append({"patent_id": listing_id, "position": position, "code": code})
    tables["listing"].append(
        {
            "id": listing_id,
            "owner_id": owner,
            "title": title,
            "description": None,
            "status": "published",
            # Office-style numbers as a patentee would enter them.
            "announcement_number": f"KF{published:%Y}{listing_id:08d}",
            "announcement_date": published.date(),
            "announcement_source": "office",
            "published_at": published,
            "warnings": [],
            "annual_fee_reduction_percent": Decimal("15.00"),
            "withdrawal_consents": [],
            "fee_reductions": [],
            "created_at": published,
            "updated_at": published,
        }
    )
    tables["listing_patent"].append({"listing_id": listing_id, "patent_id": listing_id})
    tables["offer"].append(
        {
            "id": listing_id,
            "listing_id": listing_id,
            "royalty_type": royalty_type,
            "upfront_fee": upfront,
            "royalty_rate": rate,
            "per_unit_fee": per_unit_fee,
            "minimum_annual": None,
            "currency": "CNY",
            "term_years": term_years,
            "field_of_use": None,
            "territory": "mainland China",
            "created_at": published,
            "updated_at": published,
        }
    )
    document = search_index.document_of(
        title=title, description=None, patent_texts=[(title, abstract)]
    )
    tables["search"].append(
        {
            "listing_id": listing_id,
            "owner_id": owner,
            "published_at": published,
            "kinds": f"|{kind.value}|",
            "royalty_types": f"|{royalty_type}|",
            "ipc_codes": "|" + "|".join(codes) + "|",
            "min_upfront_fee": upfront or Decimal(0),
            "min_royalty_rate": rate or Decimal(0),
            "term_end_date": term_end_date(kind, filing),
            "search_vector": search_index.tsvector_literal(document, codes),
            "title_words": " ".join(document.title),
            "body_words": " ".join(document.body),
        }
    )


def _generate(task: tuple[int, int, int]) -> dict[str, list[dict[str, Any]]]:
    return _rows(*task)


def _organizations() -> list[dict[str, Any]]:
    rows = []
    for number in range(1, ORGANIZATIONS + 1):
        province, division = PROVINCES[number % len(PROVINCES)]
        kind = ORG_KINDS[number % len(ORG_KINDS)]
        rows.append(
            {
                "id": number,
                "name": f"{province} {kind.replace('_', ' ')} {number}",
                "kind": kind,
                "country": "CN",
                "region": province,
                "credit_code": credit_code(
                    "12" if kind != "enterprise" else "91", division, number
                ),
                "verification": "verified",
                "created_at": NOW,
            }
        )
    return rows


COPY_TABLES = ("patent", "patent_ipc", "listing", "listing_patent", "offer")


class Loader:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"

    def load(self, listings: int, workers: int, seed: int) -> float:
        started = time.perf_counter()
        with self.engine.begin() as connection:
            connection.execute(metadata.tables["organization"].insert(), _organizations())
            if self.postgresql:
                connection.exec_driver_sql("DROP INDEX ix_listing_search_search_vector")
                connection.exec_driver_sql("DROP INDEX ix_listing_search_title_vector")
        tasks = [
            (start, min(start + CHUNK, listings + 1), seed)
            for start in range(1, listings + 1, CHUNK)
        ]
        done = 0
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            for tables in pool.imap_unordered(_generate, tasks):
                self._write(tables)
                done += len(tables["listing"])
                if done % 50_000 < CHUNK:
                    rate = done / (time.perf_counter() - started)
                    print(f"  {done:,} listings loaded ({rate:,.0f}/s)", flush=True)
        if self.postgresql:
            with self.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
                connection.exec_driver_sql(
                    "CREATE INDEX ix_listing_search_search_vector ON listing_search "
                    "USING gin (search_vector)"
                )
                connection.exec_driver_sql(
                    "CREATE INDEX ix_listing_search_title_vector ON listing_search "
                    "USING gin (ts_filter(search_vector, '{a}'))"
                )
                connection.exec_driver_sql("VACUUM ANALYZE")
        return time.perf_counter() - started

    def _write(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        search = tables["search"]
        if self.postgresql:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for name in COPY_TABLES:
                    self._copy(cursor, name, tables[name])
                columns = [c.name for c in metadata.tables["listing_search"].columns]
                self._copy(cursor, "listing_search", search, columns)
                raw.commit()
            finally:
                raw.close()
            return
        with self.engine.begin() as connection:
            for name in COPY_TABLES:
                connection.execute(metadata.tables[name].insert(), tables[name])
            table = metadata.tables["listing_search"]
            connection.execute(
                table.insert(),
                [
                    {c.name: row[c.name] for c in table.columns if c.name != "search_vector"}
                    for row in search
                ],
            )
            connection.execute(
                sa.text("INSERT INTO listing_search_fts(rowid, title, body) VALUES (:i, :t, :b)"),
                [
                    {"i": r["listing_id"], "t": r["title_words"], "b": r["body_words"]}
                    for r in search
                ],
            )

    @staticmethod
    def _copy(
        cursor: Any, name: str, rows: list[dict[str, Any]], columns: Sequence[str] | None = None
    ) -> None:
        import json

        names = list(columns or rows[0].keys())
        with cursor.copy(f"COPY {name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [json.dumps(row[c]) if isinstance(row[c], list) else row[c] for c in names]
                )


def time_queries(
    client: httpx.Client, requests: int
) -> tuple[list[tuple[str, float, float, int]], int]:
    rows = []
    errors = 0
    for query in QUERIES:
        for _ in range(3):  # warm up
            client.get(f"{API}/listings", params={**query.params, "limit": "20"})
        timings = []
        total = 0
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get(f"{API}/listings", params={**query.params, "limit": "20"})
            timings.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200 or not response.json()["items"]:
                errors += 1
            else:
                total = response.json()["total"]
        timings.sort()
        rows.append((query.name, statistics.median(timings), percentile(timings, 0.95) or 0, total))
    return rows, errors


def _filters(params: dict[str, str]) -> tuple[str | None, Any, Any]:
    from marketplace.matching.models import SearchSort

    filters = matching.SearchFilters(
        ipc=params.get("ipc"),
        max_upfront_fee=Decimal(params["max_upfront_fee"]) if "max_upfront_fee" in params else None,
    )
    sort = SearchSort(params["sort"]) if "sort" in params else None
    return params.get("q"), filters, sort


def time_in_process(url: str, requests: int) -> list[tuple[str, float, float]]:
    """The search service alone (candidates, ranking, facets, one page of ids), without HTTP
    and without rendering the page's listings."""
    from sqlmodel import Session

    from marketplace.db import create_db_engine

    engine = create_db_engine(url)
    rows = []
    try:
        for query in QUERIES:
            q, filters, sort = _filters(query.params)
            timings = []
            for attempt in range(requests + 3):
                with Session(engine) as session:
                    began = time.perf_counter()
                    matching.search_listings(
                        session=session, q=q, filters=filters, sort=sort, limit=20
                    )
                    if attempt >= 3:
                        timings.append((time.perf_counter() - began) * 1000)
            timings.sort()
            rows.append((query.name, statistics.median(timings), percentile(timings, 0.95) or 0))
    finally:
        engine.dispose()
    return rows


NEEDS = (
    ("Chinese", "电池热管理", "电动自行车电池包需要散热和热管理方案", ["H01M"], None),
    (
        "English",
        "battery cooling",
        "We need a battery thermal management design to license.",
        [],
        None,
    ),
    (
        "mixed, IPC hints",
        "芯片 packaging",
        "先进封装 chip packaging for sensors",
        ["H01L", "G01"],
        None,
    ),
    ("with budget", "传感器 sensor", "低成本传感器 low-cost sensor module", ["G01D"], "200000"),
)


SME_EMAIL = "sme@bench.example"


def add_needs(url: str) -> list[tuple[str, int]]:
    """A verified SME with a user (password ``PASSWORD``) and the needs of ``NEEDS``: (name, id)
    of each need. An earlier run's SME on the same database is reused."""
    from sqlmodel import Session

    from marketplace.accounts.models import (
        Organization,
        OrganizationKind,
        User,
        Verification,
    )
    from marketplace.db import create_db_engine
    from marketplace.matching import needs
    from marketplace.matching.models import NeedCreate

    engine = create_db_engine(url)
    try:
        with Session(engine) as session:
            code = credit_code("91", "330106", 999_999)
            sme = session.scalars(
                sa.select(Organization).where(Organization.credit_code == code)
            ).first()
            if sme is None:
                # The loader copied organizations with their ids, past the id sequence.
                last_id = session.scalar(sa.select(sa.func.max(Organization.id))) or 0
                sme = Organization(
                    id=last_id + 1,
                    name="Bench SME",
                    kind=OrganizationKind.enterprise,
                    country="CN",
                    region="Zhejiang",
                    credit_code=code,
                    verification=Verification.verified,
                )
                session.add(sme)
                session.flush()
            if session.scalars(sa.select(User).where(User.email == SME_EMAIL)).first() is None:
                assert sme.id is not None
                session.add(
                    admin_user(organization_id=sme.id, email=SME_EMAIL, full_name="Bench SME buyer")
                )
            need_ids = []
            for name, title, description, ipc_codes, budget in NEEDS:
                need = needs.create_need(
                    session=session,
                    organization=sme,
                    data=NeedCreate(
                        title=title,
                        description=description,
                        ipc_codes=ipc_codes,
                        budget_max=Decimal(budget) if budget else None,
                        expected_annual_sales=Decimal("2000000"),
                        region="Zhejiang",
                    ),
                )
                assert need.id is not None
                need_ids.append((name, need.id))
            session.commit()
    finally:
        engine.dispose()
    return need_ids


def time_matches_over_http(
    client: httpx.Client, need_ids: list[tuple[str, int]], requests: int
) -> tuple[list[tuple[str, float, float, int]], int]:
    """`GET /needs/{id}/matches` as the SME calls it."""
    response = client.post(
        f"{API}/auth/token",
        data={"grant_type": "password", "username": SME_EMAIL, "password": PASSWORD},
    )
    if response.status_code != 200:
        raise SystemExit(f"error: no token for the SME: {response.text[:300]}")
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    rows = []
    errors = 0
    for name, need_id in need_ids:
        timings = []
        found = 0
        for attempt in range(requests + 3):
            began = time.perf_counter()
            response = client.get(
                f"{API}/needs/{need_id}/matches", params={"limit": "20"}, headers=headers
            )
            if attempt >= 3:
                timings.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200 or not response.json()["items"]:
                errors += 1
            else:
                found = response.json()["candidates"]
        timings.sort()
        rows.append((name, statistics.median(timings), percentile(timings, 0.95) or 0, found))
    return rows, errors


def time_matching(
    url: str, need_ids: list[tuple[str, int]], requests: int
) -> list[tuple[float, float]]:
    """The blended ranking of a need's matches without HTTP: the bounded candidates, each
    factor, the cost estimate and the page of 20."""
    from sqlmodel import Session

    from marketplace.db import create_db_engine
    from marketplace.matching import need_matching, needs

    engine = create_db_engine(url)
    rows = []
    try:
        for _, need_id in need_ids:
            timings = []
            for attempt in range(requests + 3):
                with Session(engine) as session:
                    need = session.get_one(needs.TechnologyNeed, need_id)
                    began = time.perf_counter()
                    need_matching.match_need(session=session, need=need, limit=20)
                    if attempt >= 3:
                        timings.append((time.perf_counter() - began) * 1000)
            timings.sort()
            rows.append((statistics.median(timings), percentile(timings, 0.95) or 0))
    finally:
        engine.dispose()
    return rows


def throughput(base_url: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    timings: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def work(number: int) -> None:
        nonlocal errors
        rng = random.Random(number)
        with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client:
            while time.perf_counter() < deadline:
                query = rng.choice(QUERIES)
                began = time.perf_counter()
                response = client.get(f"{API}/listings", params={**query.params, "limit": "20"})
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    timings.append(elapsed)
                    if response.status_code != 200:
                        errors += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    timings.sort()
    return (
        len(timings) / elapsed,
        statistics.median(timings) if timings else 0.0,
        percentile(timings, 0.95) or 0.0,
        errors,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite file)")
    parser.add_argument(
        "--listings", type=int, help="default 1,000,000 on PostgreSQL, 100,000 on SQLite"
    )
    parser.add_argument("--requests", type=int, default=100, help="timed requests per query")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--server-workers",
        type=int,
        default=2,
        help="the server's worker processes (2, as the Dockerfile runs it)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput run length")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="indexing processes"
    )
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--existing",
        metavar="URL",
        help="measure this database, left by an earlier --keep run, instead of loading one",
    )
    return parser.parse_args(argv)


def _measure(url: str, args: argparse.Namespace) -> tuple[Any, ...]:
    need_ids = add_needs(url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-srv-"))
    with running_server(url, workdir, workers=args.server_workers) as server:
        with httpx.Client(base_url=server.base_url, timeout=60.0, trust_env=False) as client:
            rows, errors = time_queries(client, args.requests)
            match_rows, match_errors = time_matches_over_http(client, need_ids, args.requests)
        rate, median, p95, failed = throughput(server.base_url, args.clients, args.seconds)
    service_rows = time_in_process(url, args.requests)
    match_service_rows = time_matching(url, need_ids, args.requests)
    figures = (rows, service_rows, match_rows, match_service_rows)
    return figures, errors + match_errors + failed, (rate, median, p95)


def _load_and_measure(args: argparse.Namespace) -> tuple[str, int, tuple[Any, ...]]:
    postgresql = args.database_url is not None
    listings = args.listings or (1_000_000 if postgresql else 100_000)
    label = "PostgreSQL" if postgresql else "SQLite"
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-"))
    with bench_database(args.database_url, workdir, args.keep, name="bench_search") as database:
        url = database.url
        print(f"{label}: migrating, then loading {listings:,} listings …", flush=True)
        migrate(url)
        engine = sa.create_engine(url)
        try:
            seconds = Loader(engine).load(listings, args.workers, args.seed)
        finally:
            engine.dispose()
        print(
            f"loaded and indexed {listings:,} listings in {seconds:,.0f} s "
            f"({listings / seconds:,.0f}/s with {args.workers} processes)"
        )
        return label, listings, _measure(url, args)


def _measure_existing(url: str, args: argparse.Namespace) -> tuple[str, int, tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            table = metadata.tables["listing_search"]
            listings = connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0
    finally:
        engine.dispose()
    label = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"
    print(f"{label}: measuring the {listings:,} listings already indexed", flush=True)
    return label, listings, _measure(url, args)


def main(argv: Sequence[str] | None = None) -> int:
    # Sessions opened here record audited changes, as the app\'s and the commands\' do.
    audit_recorder.install()
    # Every figure is of a search ranked afresh: the servers' cache of first pages would answer
    # each repeat of a timed query from memory (bench_throughput.py reports it warm too).
    os.environ["MARKETPLACE_SEARCH_RESULTS_SECONDS"] = "0"
    from marketplace.config import get_settings

    get_settings.cache_clear()
    args = parse_args(argv)
    if args.existing:
        label, listings, figures = _measure_existing(args.existing, args)
    else:
        label, listings, figures = _load_and_measure(args)
    (rows, service_rows, match_rows, match_service_rows), errors, (rate, median, p95) = figures
    print(f"\n{label}, {listings:,} listings, {args.requests} requests per query, limit 20")
    print(f"{'query':44} {'HTTP median / p95 ms':>22} {'service median / p95 ms':>25} {'total':>7}")
    for (name, median_ms, p95_ms, total), (_, s_median, s_p95) in zip(
        rows, service_rows, strict=True
    ):
        http = f"{ms(median_ms)} / {ms(p95_ms)}"
        service = f"{ms(s_median)} / {ms(s_p95)}"
        print(f"{name:44} {http:>22} {service:>25} {total:>7}")
    print(
        f"\nthroughput, {args.clients} clients, {args.server_workers} server workers, "
        f"{args.seconds:.0f} s, mixed queries: "
        f"{rate:,.1f} req/s, median {ms(median)} ms, p95 {ms(p95)} ms"
    )
    print(
        f"\nmatching a need (GET /needs/{{id}}/matches), {args.requests} calls per need, limit 20"
    )
    print(f"{'need':44} {'HTTP median / p95 ms':>22} {'service median / p95 ms':>25} {'cands':>7}")
    for (name, median_ms, p95_ms, candidates), (s_median, s_p95) in zip(
        match_rows, match_service_rows, strict=True
    ):
        http = f"{ms(median_ms)} / {ms(p95_ms)}"
        service = f"{ms(s_median)} / {ms(s_p95)}"
        print(f"{name:44} {http:>22} {service:>25} {candidates:>7}")
    if errors:
        print(f"{errors} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
