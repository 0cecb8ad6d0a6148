"""Figures for the open-licensing core: search, detail, acceptance and license reads, measured
against the real server over loopback HTTP.

What it does, in order:

1. creates a database of its own: a temporary SQLite file by default, or, given a PostgreSQL
   URL, a temporary database ``bench_<random>`` on that server (the database named in the URL is
   only used to connect and is never touched);
2. applies the migrations (``alembic upgrade head``);
3. seeds it in bulk through the models' tables: universities, patents with IPC codes, one
   published listing per patent with one or two offers, verified enterprises with users;
4. starts ``marketplace serve`` on a free loopback port and waits for ``/healthz``;
5. signs enterprises in through the token endpoint (production Argon2 cost) and times it;
6. runs each scenario with ``--concurrency`` requests in flight and prints count, errors,
   median / p95 / p99 latency and throughput, plus the server's peak RSS and the database size;
7. stops the server and drops the database (unless ``--keep``).

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_core.py
    .venv/bin/python benchmarks/bench_core.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/bench_core.py --patents 100000 --requests 1000 --concurrency 16 \\
        --json bench.json

Every request that does not get the expected status counts as an error; errors are shown with
examples, and the exit status is 1 if any scenario had one. Speed is reported here, never
asserted in the test suite.
"""

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from harness import (  # the directory of this script
    API,
    GIVEN_NAMES,
    PASSWORD,
    PROVINCES,
    SURNAMES,
    BenchDatabase,
    application_number,
    bench_database,
    credit_code,
    migrate,
    ms,
    percentile,
    running_server,
)
from sqlalchemy.engine import Engine

from marketplace.accounts import security
from marketplace.accounts.models import OrganizationKind, UserRole, Verification
from marketplace.db import create_db_engine
from marketplace.listings.models import DEFAULT_TERRITORY, ListingStatus, RoyaltyType
from marketplace.models import metadata
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import LegalStatus
from marketplace.patents.service import add_years, term_end_date

# Bounds on every wait, so that a wedged server cannot hang the run.
REQUEST_TIMEOUT_S = 30.0
INSERT_CHUNK = 5_000
PAGES_PER_WALK = 10

# Words searched with ?q=: common ones (a few percent of listings each) and a rare one, which
# shows what a search costs when few rows match and the whole table has to be read.
COMMON_WORDS = ("battery", "neural", "catalyst", "sensor")
RARE_WORD = "perovskite"

# --------------------------------------------------------------------------------------------
# Synthetic but realistic data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Domain:
    weight: float
    ipc: tuple[str, ...]
    subjects: tuple[str, ...]
    approaches: tuple[str, ...]


# Technology fields of university patent portfolios, with real IPC symbols in all eight
# sections; the weights make G06F and H01M 10 frequent, as they are in Chinese university stock.
DOMAINS = (
    Domain(
        12,
        ("G06F 16/33", "G06F 16/9535", "G06F 30/20", "G06F 9/50", "G06F 21/62"),
        (
            "technical document retrieval",
            "distributed task scheduling",
            "privacy-preserving data sharing",
            "integrated circuit layout simulation",
            "scientific literature recommendation",
        ),
        ("dual encoders", "knowledge graphs", "federated learning", "a graph neural network"),
    ),
    Domain(
        8,
        ("G06N 3/08", "G06N 3/045", "G06N 20/00"),
        ("industrial defect detection", "traffic flow prediction", "speech enhancement"),
        ("a lightweight neural network", "attention mechanisms", "transfer learning"),
    ),
    Domain(
        6,
        ("G06T 7/00", "G06T 7/73", "G06T 5/50"),
        ("medical image segmentation", "point cloud registration", "low-light image enhancement"),
        ("multi-scale feature fusion", "a convolutional neural network", "self-supervision"),
    ),
    Domain(
        8,
        ("H01M 10/0525", "H01M 10/0562", "H01M 10/613", "H01M 10/6554", "H01M 10/44"),
        (
            "lithium-ion battery thermal management",
            "solid-state battery electrolyte",
            "battery state-of-charge estimation",
            "battery pack fast charging",
        ),
        ("phase-change materials", "halogen doping", "an extended Kalman filter", "liquid cooling"),
    ),
    Domain(
        5,
        ("H01M 4/583", "H01M 4/62", "H01M 4/36"),
        ("silicon-carbon anode material", "high-nickel cathode coating"),
        ("spray drying", "atomic layer deposition", "a carbon nanotube network"),
    ),
    Domain(
        5,
        ("H01L 31/18", "H01L 29/78", "H01L 21/02"),
        ("power semiconductor device", "thin-film solar cell", "wafer surface passivation"),
        ("trench gates", "low-temperature annealing", "silicon carbide substrates"),
    ),
    Domain(
        0.4,
        ("H10K 30/50", "H10K 85/50"),
        ("perovskite solar cell", "perovskite light-emitting diode"),
        ("interface passivation", "two-step spin coating"),
    ),
    Domain(
        7,
        ("H04L 9/32", "H04W 72/04", "H04L 67/10", "H04N 19/176"),
        (
            "identity authentication for IoT terminals",
            "wireless resource allocation",
            "edge computing offloading",
            "video coding",
        ),
        ("lightweight cryptography", "deep reinforcement learning", "blockchain records"),
    ),
    Domain(
        6,
        ("G01N 33/53", "G01N 21/65", "G01N 27/327"),
        (
            "rapid detection of pesticide residues",
            "microplastic identification in water",
            "glucose sensor",
        ),
        ("an electrochemical sensor", "surface-enhanced Raman spectroscopy", "aptamer probes"),
    ),
    Domain(
        9,
        ("A61K 31/4745", "A61K 9/127", "A61B 5/00", "A61B 8/08", "A61P 35/00"),
        (
            "targeted drug delivery to tumours",
            "wearable heart-rate monitoring",
            "ultrasound elastography",
            "liposome formulation of anticancer drugs",
        ),
        ("nanoparticle carriers", "a flexible sensor array", "deep learning", "pH-responsive gels"),
    ),
    Domain(
        5,
        ("C12N 15/113", "C12N 9/22", "C12Q 1/6883"),
        ("gene editing of crops", "enzyme production by fermentation", "disease gene screening"),
        ("CRISPR-Cas9", "directed evolution", "high-throughput sequencing"),
    ),
    Domain(
        7,
        ("C07D 401/04", "B01J 23/42", "B01J 35/39", "C02F 1/72"),
        (
            "wastewater treatment",
            "platinum catalyst preparation",
            "photocatalytic hydrogen production",
            "synthesis of heterocyclic intermediates",
        ),
        ("a supported catalyst", "advanced oxidation", "a single-atom catalyst", "flow chemistry"),
    ),
    Domain(
        4,
        ("B60L 53/00", "B60L 58/12", "B60W 30/09"),
        ("electric vehicle charging", "vehicle collision avoidance", "traction battery balancing"),
        ("a wireless charging coil", "model predictive control", "millimetre-wave radar"),
    ),
    Domain(
        4,
        ("E04B 1/98", "E01D 19/12", "E02D 17/20"),
        ("seismic isolation of buildings", "bridge deck reinforcement", "slope protection"),
        ("shape-memory alloy dampers", "ultra-high-performance concrete", "geogrids"),
    ),
    Domain(
        6,
        ("F24S 10/40", "F03D 7/04", "H02J 3/38", "H02J 7/00"),
        (
            "wind turbine pitch control",
            "microgrid power dispatch",
            "solar thermal collection",
            "energy storage scheduling",
        ),
        ("fuzzy control", "a heat-pipe collector", "a distributed optimisation algorithm"),
    ),
    Domain(
        4,
        ("A01G 9/24", "A01B 79/00", "A01N 43/56"),
        ("greenhouse climate control", "precision fertilisation", "fungicide composition"),
        ("soil moisture sensor networks", "drone imagery", "a synergistic formulation"),
    ),
    Domain(
        4,
        ("C04B 28/04", "C08L 67/04", "C22C 38/02"),
        ("low-carbon cement", "biodegradable packaging film", "high-strength steel"),
        ("industrial solid waste", "polylactic acid blending", "microalloying"),
    ),
    Domain(
        2,
        ("D01F 9/12", "D06M 11/83"),
        ("carbon fibre production", "antibacterial textile finishing"),
        ("polyacrylonitrile precursors", "silver nanoparticles"),
    ),
)
TITLE_PATTERNS = (
    "{Subject} method based on {approach}",
    "{Subject} device and method using {approach}",
    "System for {subject} with {approach}",
    "{Subject} using {approach}",
)
BENEFITS = (
    "improves accuracy by more than 10 percent over the prior art",
    "reduces energy consumption and production cost",
    "shortens processing time while keeping results stable",
    "is simple to manufacture and suited to large-scale production",
)
DEPARTMENTS = (
    "School of Materials Science",
    "School of Computer Science",
    "School of Energy Engineering",
    "School of Life Sciences",
    "School of Chemistry",
    "School of Civil Engineering",
    "School of Information Engineering",
)


@dataclass(slots=True)
class Seeded:
    rows: dict[str, int]
    seconds: float
    hash_seconds: float
    offer_ids: list[int]
    enterprise_emails: list[str]
    listing_count: int
    word_share: dict[str, float]
    argon2_parameters: str

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _max_term_years(term_end: date, today: date) -> int:
    """The longest whole-year term an offer may state (the rule of listings._check_term)."""
    years = 0
    while years < 20 and add_years(today, years) <= term_end:
        years += 1
    return years


def _money(low: int, high: int, rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(low, high, 1_000)).quantize(Decimal("0.01"))


def _offer_terms(rng: random.Random, max_years: int) -> dict[str, Any]:
    royalty_type = rng.choices(
        (RoyaltyType.lump_sum, RoyaltyType.running, RoyaltyType.hybrid, RoyaltyType.per_unit),
        weights=(35, 25, 30, 10),
    )[0]
    terms: dict[str, Any] = {
        "royalty_type": royalty_type,
        "upfront_fee": None,
        "royalty_rate": None,
        "per_unit_fee": None,
        "minimum_annual": None,
    }
    # Within the guidance (lump sums up to CNY 20 million, running royalties up to 20 %), so
    # that no listing carries a warning.
    if royalty_type is RoyaltyType.lump_sum:
        terms["upfront_fee"] = _money(50_000, 2_000_000, rng)
    elif royalty_type is RoyaltyType.running:
        terms["royalty_rate"] = Decimal(rng.randrange(100, 800)).scaleb(-2)
    elif royalty_type is RoyaltyType.hybrid:
        terms["upfront_fee"] = _money(20_000, 500_000, rng)
        terms["royalty_rate"] = Decimal(rng.randrange(50, 500)).scaleb(-2)
        terms["minimum_annual"] = _money(10_000, 100_000, rng)
    else:
        terms["per_unit_fee"] = Decimal(rng.randrange(50, 5_000)).scaleb(-2)
    terms["term_years"] = min(rng.choice((1, 2, 3, 5, 8, 10)), max_years)
    terms["field_of_use"] = rng.choice((None, None, "civil applications"))
    return terms


def build_rows(
    *,
    patents: int,
    universities: int,
    enterprises: int,
    password_hash: str,
    rng: random.Random,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float]]:
    """Every row to insert, keyed by table name (in foreign-key order), with explicit ids."""
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    rows: dict[str, list[dict[str, Any]]] = {
        name: []
        for name in (
            "organization",
            "user_account",
            "listing",
            "patent",
            "patent_ipc",
            "listing_patent",
            "offer",
        )
    }

    def organization(org_id: int, name: str, kind: OrganizationKind, prefix: str) -> None:
        province, division = PROVINCES[org_id % len(PROVINCES)]
        rows["organization"].append(
            {
                "id": org_id,
                "name": name,
                "kind": kind,
                "country": "CN",
                "region": province,
                "credit_code": credit_code(prefix, division, org_id),
                "verification": Verification.verified,
                "verified_at": now,
                "rejection_reason": None,
                "created_at": now,
            }
        )

    def user(org_id: int, email: str) -> None:
        rows["user_account"].append(
            {
                "id": org_id,
                "email": email,
                "full_name": f"{rng.choice(SURNAMES)} {rng.choice(GIVEN_NAMES)}",
                "organization_id": org_id,
                "role": UserRole.admin,
                "password_hash": password_hash,
                "is_active": True,
                "created_at": now,
                "last_login_at": None,
            }
        )

    university_ids = list(range(1, universities + 1))
    for org_id in university_ids:
        province, _ = PROVINCES[org_id % len(PROVINCES)]
        organization(
            org_id,
            f"{province} University of Technology No. {org_id}",
            OrganizationKind.university,
            "12",
        )
        user(org_id, f"tto@univ{org_id}.example.edu.cn")
    enterprise_emails: list[str] = []
    for org_id in range(universities + 1, universities + enterprises + 1):
        organization(
            org_id, f"Bench Technology Co., Ltd. No. {org_id}", OrganizationKind.enterprise, "91"
        )
        email = f"ip@sme{org_id}.example.com"
        user(org_id, email)
        enterprise_emails.append(email)

    weights = [domain.weight for domain in DOMAINS]
    texts: list[str] = []
    offer_id = 0
    for patent_id in range(1, patents + 1):
        domain = rng.choices(DOMAINS, weights=weights)[0]
        owner_id = rng.choice(university_ids)
        invention = rng.random() < 0.8
        kind = PatentKind.invention if invention else PatentKind.utility_model
        # Old enough to be granted, young enough to be in force for at least a year.
        age_days = rng.randrange(4 * 365, 14 * 365) if invention else rng.randrange(730, 9 * 365)
        filing = today - timedelta(days=age_days)
        grant = filing + timedelta(
            days=rng.randrange(400, 1_200) if invention else rng.randrange(150, 400)
        )
        term_end = term_end_date(kind, filing)
        subject = rng.choice(domain.subjects)
        approach = rng.choice(domain.approaches)
        title = rng.choice(TITLE_PATTERNS).format(
            Subject=subject[0].upper() + subject[1:], subject=subject, approach=approach
        )
        abstract = (
            f"The invention discloses a solution for {subject} using {approach}. "
            f"Compared with existing solutions it {rng.choice(BENEFITS)}."
        )
        texts.append(f"{title} {abstract}".lower())
        codes = [rng.choice(domain.ipc)]
        if rng.random() < 0.5:
            second = rng.choice(rng.choices(DOMAINS, weights=weights)[0].ipc)
            if second != codes[0]:
                codes.append(second)
        announced = today - timedelta(days=rng.randrange(0, 365))
        rows["listing"].append(
            {
                "id": patent_id,
                "title": title,
                "description": None if rng.random() < 0.5 else f"Open license offered: {title}.",
                "owner_id": owner_id,
                "status": ListingStatus.published,
                # Office-style numbers as a patentee would enter them.
                "announcement_number": f"KF{announced:%Y}{patent_id:08d}",
                "announcement_date": announced,
                "announcement_source": "office",
                "published_at": datetime.combine(announced, day_time(9, 0), tzinfo=UTC),
                "withdrawn_at": None,
                "lapsed_at": None,
                "lapse_reason": None,
                "warnings": [],
                "annual_fee_reduction_percent": Decimal("15.00"),
                "withdrawal_consents": [],
                "fee_reductions": [],
                "created_at": now,
                "updated_at": now,
            }
        )
        rows["patent"].append(
            {
                "id": patent_id,
                "title": title,
                "abstract": abstract,
                "grant_date": grant,
                "legal_status": LegalStatus.granted,
                "fee_paid_until": today + timedelta(days=rng.randrange(20, 360)),
                "publication_number": f"CN{100_000_000 + patent_id}{'B' if invention else 'U'}",
                "department": rng.choice(DEPARTMENTS),
                "publicly_funded": rng.random() < 0.6,
                # Utility models need an evaluation report supporting validity to be declared.
                "evaluation_report_ref": None if invention else f"PJ{grant:%Y}{patent_id:07d}",
                "owner_id": owner_id,
                "application_number": application_number(
                    filing.year, 1 if invention else 2, 1_000_000 + patent_id
                ),
                "kind": kind,
                "filing_date": filing,
                "main_ipc": codes[0],
                "open_license_listing_id": patent_id,
                "inventors": [
                    f"{rng.choice(SURNAMES)} {rng.choice(GIVEN_NAMES)}"
                    for _ in range(rng.randrange(1, 5))
                ],
                "co_owners": [],
                "created_at": now,
                "updated_at": now,
            }
        )
        for position, code in enumerate(codes):
            rows["patent_ipc"].append({"patent_id": patent_id, "position": position, "code": code})
        rows["listing_patent"].append({"listing_id": patent_id, "patent_id": patent_id})
        max_years = _max_term_years(term_end, today)
        for _ in range(rng.choice((1, 1, 2))):
            offer_id += 1
            rows["offer"].append(
                {
                    "id": offer_id,
                    "listing_id": patent_id,
                    **_offer_terms(rng, max_years),
                    "currency": "CNY",
                    "territory": DEFAULT_TERRITORY,
                    "created_at": now,
                    "updated_at": now,
                }
            )

    share = {
        word: sum(word in text for text in texts) / max(1, len(texts))
        for word in (*COMMON_WORDS, RARE_WORD)
    }
    return rows, share


def seed(engine: Engine, args: argparse.Namespace) -> Seeded:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    # One production-cost hash, shared by every account: hashing is what the token endpoint
    # measures, not what seeding should spend its time on.
    password_hash = security.hash_secret(PASSWORD)
    hash_seconds = time.perf_counter() - started
    rows, share = build_rows(
        patents=args.patents,
        universities=args.universities,
        enterprises=args.enterprises,
        password_hash=password_hash,
        rng=rng,
    )
    with engine.begin() as connection:
        for name, table_rows in rows.items():
            table = metadata.tables[name]
            for start in range(0, len(table_rows), INSERT_CHUNK):
                connection.execute(sa.insert(table), table_rows[start : start + INSERT_CHUNK])
        if engine.dialect.name == "postgresql":
            # Explicit ids leave the sequences behind; later inserts through the API need them.
            for name in ("organization", "user_account", "listing", "patent", "offer"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                )
    # SQLite is left without statistics, as the application leaves it (it never runs ANALYZE).
    if engine.dialect.name == "postgresql":
        # What autovacuum would do a minute after a bulk load; without it the first plans are
        # made on empty statistics and the figures depend on when autovacuum happens to run.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    seconds = time.perf_counter() - started - hash_seconds
    return Seeded(
        rows={name: len(table_rows) for name, table_rows in rows.items()},
        seconds=seconds,
        hash_seconds=hash_seconds,
        offer_ids=[row["id"] for row in rows["offer"]],
        enterprise_emails=[row["email"] for row in rows["user_account"]][args.universities :],
        listing_count=len(rows["listing"]),
        word_share=share,
        # "$argon2id$v=19$m=65536,t=3,p=4$salt$hash": the cost the server verifies against.
        argon2_parameters=password_hash.split("$")[3],
    )


# --------------------------------------------------------------------------------------------
# The database and the server
# --------------------------------------------------------------------------------------------


def database_size(database: BenchDatabase) -> int:
    """Bytes on disk; on SQLite after folding the write-ahead log into the file, so that the
    figure does not count pages twice."""
    if database.sqlite_path is not None:
        with closing(sqlite3.connect(database.sqlite_path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(
            Path(f"{database.sqlite_path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{database.sqlite_path}{suffix}").exists()
        )
    engine = create_db_engine(database.url)
    try:
        with engine.connect() as connection:
            size = connection.exec_driver_sql(
                "SELECT pg_database_size(current_database())"
            ).scalar()
    finally:
        engine.dispose()
    return int(size or 0)


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    status: int  # 0: no response (connection error, timeout)
    ok: bool
    problem: str = ""


@dataclass(slots=True)
class ScenarioResult:
    name: str
    planned: int
    count: int
    errors: int
    median_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    throughput_rps: float
    wall_seconds: float
    note: str = ""
    error_examples: list[str] = field(default_factory=list)


Job = Callable[[], Awaitable[list[Sample]]]


def summarize(
    name: str, planned: int, samples: Sequence[Sample], wall: float, note: str = ""
) -> ScenarioResult:
    latencies = sorted(sample.seconds * 1000 for sample in samples)
    failed = [sample for sample in samples if not sample.ok]
    examples: list[str] = []
    for sample in failed:
        example = f"HTTP {sample.status}: {sample.problem}" if sample.status else sample.problem
        if example not in examples:
            examples.append(example)
        if len(examples) == 3:
            break
    return ScenarioResult(
        name=name,
        planned=planned,
        count=len(samples),
        errors=len(failed),
        median_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        throughput_rps=len(samples) / wall if wall > 0 else 0.0,
        wall_seconds=wall,
        note=note,
        error_examples=examples,
    )


async def timed(
    client: httpx.AsyncClient, method: str, url: str, *, expect: int, **kwargs: Any
) -> tuple[Sample, httpx.Response | None]:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        elapsed = time.perf_counter() - started
        return Sample(elapsed, 0, False, f"{type(exc).__name__}: {exc}"), None
    elapsed = time.perf_counter() - started
    if response.status_code == expect:
        return Sample(elapsed, response.status_code, True), response
    problem = response.text[:200].replace("\n", " ")
    return Sample(elapsed, response.status_code, False, problem), response


async def run_jobs(
    jobs: Iterator[Job], *, concurrency: int, time_limit: float
) -> tuple[list[Sample], float, bool]:
    """Run ``jobs`` with ``concurrency`` in flight; stop starting new ones after ``time_limit``.

    Returns the samples, the wall time and whether the time limit cut the run short."""
    samples: list[Sample] = []
    deadline = time.monotonic() + time_limit
    cut_short = False

    async def worker() -> None:
        nonlocal cut_short
        for job in jobs:
            if time.monotonic() > deadline:
                cut_short = True
                return
            samples.extend(await job())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, time.perf_counter() - started, cut_short


class Bench:
    def __init__(self, client: httpx.AsyncClient, args: argparse.Namespace, seeded: Seeded) -> None:
        self.client = client
        self.args = args
        self.seeded = seeded
        self.rng = random.Random(args.seed + 1)
        self.results: list[ScenarioResult] = []
        self.tokens: dict[str, str] = {}

    async def scenario(
        self,
        name: str,
        jobs: Sequence[Job],
        *,
        requests_per_job: int = 1,
        note: str = "",
    ) -> list[Sample]:
        samples, wall, cut_short = await run_jobs(
            iter(jobs), concurrency=self.args.concurrency, time_limit=self.args.time_limit
        )
        if cut_short:
            note = f"{note}; stopped at the time limit".lstrip("; ")
        result = summarize(name, len(jobs) * requests_per_job, samples, wall, note)
        self.results.append(result)
        print(f"  {name}: {result.count} requests, {result.errors} errors", flush=True)
        return samples

    def get(
        self, url: str, *, params: dict[str, Any] | None = None, token: str | None = None
    ) -> Job:
        headers = {"Authorization": f"Bearer {token}"} if token else None

        async def job() -> list[Sample]:
            sample, _ = await timed(
                self.client, "GET", url, expect=200, params=params, headers=headers
            )
            return [sample]

        return job

    def walk(self) -> Job:
        async def job() -> list[Sample]:
            samples: list[Sample] = []
            cursor: str | None = None
            for _ in range(PAGES_PER_WALK):
                params: dict[str, Any] = {"limit": 20}
                if cursor is not None:
                    params["cursor"] = cursor
                sample, response = await timed(
                    self.client, "GET", f"{API}/listings", expect=200, params=params
                )
                samples.append(sample)
                if not sample.ok or response is None:
                    break
                cursor = response.json().get("next_cursor")
                if cursor is None:
                    break
            return samples

        return job

    async def warm_up(self) -> None:
        # The first requests pay for imports, pool connections and statement caches.
        for _ in range(5):
            await timed(self.client, "GET", f"{API}/listings", expect=200, params={"limit": 20})
            await timed(self.client, "GET", f"{API}/listings/1", expect=200)

    async def sign_in(self, emails: Sequence[str]) -> None:
        """One password grant per enterprise, one at a time: the latency of a sign-in."""
        samples: list[Sample] = []
        started = time.perf_counter()
        deadline = time.monotonic() + self.args.time_limit
        for email in emails:
            if time.monotonic() > deadline:
                break
            sample, response = await timed(
                self.client,
                "POST",
                f"{API}/auth/token",
                expect=200,
                data={"grant_type": "password", "username": email, "password": PASSWORD},
            )
            samples.append(sample)
            if sample.ok and response is not None:
                self.tokens[email] = response.json()["access_token"]
        wall = time.perf_counter() - started
        result = summarize(
            "POST /auth/token (password grant)",
            len(emails),
            samples,
            wall,
            note=f"one at a time; Argon2id {self.seeded.argon2_parameters}",
        )
        self.results.append(result)
        print(f"  token endpoint: {result.count} sign-ins, {result.errors} errors", flush=True)

    async def page_items(self, url: str, params: dict[str, Any], token: str | None = None) -> str:
        """How many items page 1 holds, for the notes: a filter that matches nothing measures
        little."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        sample, response = await timed(
            self.client, "GET", url, expect=200, params=params, headers=headers
        )
        if not sample.ok or response is None:
            return f"page 1 failed (HTTP {sample.status})"
        return str(len(response.json()["items"]))

    async def run(self) -> None:
        n = self.args.requests
        listings = f"{API}/listings"
        await self.warm_up()
        await self.scenario(
            "GET /listings?limit=20", [self.get(listings, params={"limit": 20})] * n
        )
        for label, params in (
            ("ipc=G06F", {"ipc": "G06F", "limit": 20}),
            (
                "ipc=H01M 10&royalty_type=hybrid",
                {"ipc": "H01M 10", "royalty_type": "hybrid", "limit": 20},
            ),
        ):
            await self.scenario(
                f"GET /listings?{label}",
                [self.get(listings, params=params)] * n,
                note=f"{await self.page_items(listings, params)} items on page 1",
            )
        share = self.seeded.word_share
        word_params = [{"q": word, "limit": 20} for word in COMMON_WORDS]
        counts = [await self.page_items(listings, params) for params in word_params]
        await self.scenario(
            "GET /listings?q=<common word>",
            [self.get(listings, params=word_params[i % len(word_params)]) for i in range(n)],
            note="share of listings matched: "
            + ", ".join(f"{word} {share[word]:.1%}" for word in COMMON_WORDS)
            + f"; items on page 1: {'/'.join(counts)}",
        )
        rare = {"q": RARE_WORD, "limit": 20}
        await self.scenario(
            f"GET /listings?q={RARE_WORD}",
            [self.get(listings, params=rare)] * n,
            note=f"matches {share[RARE_WORD]:.2%} of listings; "
            f"{await self.page_items(listings, rare)} items on page 1",
        )
        await self.scenario(
            f"GET /listings, {PAGES_PER_WALK}-page cursor walk",
            [self.walk() for _ in range(max(1, n // PAGES_PER_WALK))],
            requests_per_job=PAGES_PER_WALK,
            note="latency per page",
        )
        await self.scenario(
            "GET /listings/{id}",
            [
                self.get(f"{listings}/{self.rng.randint(1, self.seeded.listing_count)}")
                for _ in range(n)
            ],
        )

        emails = self.seeded.enterprise_emails[: self.args.active_enterprises]
        await self.sign_in(emails)
        signed_in = [email for email in emails if email in self.tokens]
        if not signed_in:
            print("  no enterprise could sign in; skipping the license scenarios", flush=True)
            return
        await self.accept_scenarios(signed_in)
        await self.scenario(
            "GET /licenses?limit=50",
            [
                self.get(
                    f"{API}/licenses",
                    params={"limit": 50},
                    token=self.tokens[self.rng.choice(signed_in)],
                )
                for _ in range(n)
            ],
            note="as a licensee; "
            + await self.page_items(
                f"{API}/licenses", {"limit": 50}, token=self.tokens[signed_in[0]]
            )
            + " items on page 1 (first enterprise)",
        )

    async def accept_scenarios(self, emails: Sequence[str]) -> None:
        pairs: list[tuple[str, int]] = []
        used: set[tuple[str, int]] = set()
        wanted = min(self.args.requests, len(emails) * len(self.seeded.offer_ids))
        # Bounded: a draw that hits a used pair is skipped, and there are at most 20 per pair.
        for _ in range(wanted * 20):
            if len(pairs) == wanted:
                break
            pair = (self.rng.choice(emails), self.rng.choice(self.seeded.offer_ids))
            if pair not in used:
                used.add(pair)
                pairs.append(pair)
        accepted: list[tuple[str, int, str]] = []

        def accept(email: str, offer_id: int, key: str, expect: int) -> Job:
            async def job() -> list[Sample]:
                sample, _ = await timed(
                    self.client,
                    "POST",
                    f"{API}/offers/{offer_id}/accept",
                    expect=expect,
                    headers={
                        "Authorization": f"Bearer {self.tokens[email]}",
                        "Idempotency-Key": key,
                    },
                )
                if sample.ok and expect == 201:
                    accepted.append((email, offer_id, key))
                return [sample]

            return job

        await self.scenario(
            "POST /offers/{id}/accept (new key)",
            [accept(email, offer_id, str(uuid.uuid4()), 201) for email, offer_id in pairs],
            note=f"{len(emails)} enterprises x random offers, expect 201",
        )
        await self.scenario(
            "POST /offers/{id}/accept (replay)",
            [accept(email, offer_id, key, 200) for email, offer_id, key in list(accepted)],
            note="same key again, expect 200",
        )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mib(value_bytes: float) -> str:
    return f"{value_bytes / 1024 / 1024:.1f} MiB"


def render_table(results: Sequence[ScenarioResult]) -> str:
    headers = ("scenario", "count", "errors", "median ms", "p95 ms", "p99 ms", "req/s")
    rows = [
        (
            result.name,
            str(result.count),
            str(result.errors),
            ms(result.median_ms),
            ms(result.p95_ms),
            ms(result.p99_ms),
            f"{result.throughput_rps:.1f}",
        )
        for result in results
    ]
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest))

    out = [line(headers), "  ".join("-" * width for width in widths)]
    out.extend(line(row) for row in rows)
    notes = [f"  {result.name}: {result.note}" for result in results if result.note]
    if notes:
        out += ["", "notes:", *notes]
    failures = [
        f"  {result.name}: {result.errors} error(s), e.g. " + " | ".join(result.error_examples)
        for result in results
        if result.errors
    ]
    if failures:
        out += ["", "ERRORS:", *failures]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the open-licensing core against a real server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create a temporary database on (the named database is not "
        "touched); default: a temporary SQLite file",
    )
    parser.add_argument("--patents", type=int, default=20_000, help="patents (= listings)")
    parser.add_argument("--universities", type=int, default=50)
    parser.add_argument("--enterprises", type=int, default=200)
    parser.add_argument(
        "--active-enterprises",
        type=int,
        default=20,
        help="enterprises that sign in (one Argon2 verification each) and accept offers",
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per scenario")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument(
        "--time-limit", type=float, default=45.0, help="seconds per scenario before it is cut"
    )
    parser.add_argument("--seed", type=int, default=20261125, help="random seed of the data")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (and server log) afterwards"
    )
    args = parser.parse_args(argv)
    for name in ("patents", "universities", "enterprises", "active_enterprises", "requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 1 <= args.concurrency <= 256:
        parser.error("--concurrency must be between 1 and 256")
    if args.patents > 8_000_000:
        parser.error("--patents is at most 8,000,000 (7-digit application serials)")
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="marketplace-bench-"))
    try:
        with bench_database(args.database_url, workdir, args.keep, name="bench_core") as database:
            return _run(args, database, workdir, run_started)
    finally:
        if args.keep:
            print(f"kept working directory {workdir} (server.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(
    args: argparse.Namespace, database: BenchDatabase, workdir: Path, run_started: float
) -> int:
    print(f"database: {database.label}", flush=True)
    step = time.perf_counter()
    migrate(database.url)
    print(f"migrated in {time.perf_counter() - step:.1f} s", flush=True)

    engine = create_db_engine(database.url)
    try:
        seeded = seed(engine, args)
    finally:
        engine.dispose()
    size_seeded = database_size(database)
    rows = ", ".join(f"{name} {count}" for name, count in seeded.rows.items())
    seed_rate = seeded.total_rows / seeded.seconds
    print(
        f"seeded {seeded.total_rows} rows in {seeded.seconds:.1f} s ({seed_rate:,.0f} rows/s; "
        f"plus {seeded.hash_seconds:.2f} s for the one Argon2 hash): {rows}",
        flush=True,
    )

    memory: dict[str, int] = {}
    with running_server(
        database.url, workdir, extra_env={"MARKETPLACE_TOKEN_ATTEMPTS_PER_MINUTE": "100000"}
    ) as server:
        print(f"server up at {server.base_url} (pid {server.process.pid}); measuring", flush=True)

        async def measure() -> Bench:
            async with httpx.AsyncClient(
                base_url=server.base_url,
                timeout=REQUEST_TIMEOUT_S,
                trust_env=False,  # loopback only: never through a proxy from the environment
                limits=httpx.Limits(
                    max_connections=args.concurrency, max_keepalive_connections=args.concurrency
                ),
            ) as client:
                bench = Bench(client, args, seeded)
                await bench.run()
                return bench

        bench = asyncio.run(measure())
        memory = server.memory_kib()
        if server.process.poll() is not None:
            print(f"the server died during the run:\n{server.log_tail()}")

    size_end = database_size(database)
    elapsed = time.perf_counter() - run_started

    print()
    print(
        f"{database.label.split(' ', 1)[0]}: {args.patents} patents/listings, "
        f"{len(seeded.offer_ids)} offers, {args.universities} universities, "
        f"{args.enterprises} enterprises; concurrency {args.concurrency}, 1 server worker"
    )
    print(render_table(bench.results))
    print()
    print(f"seeding: {seeded.total_rows} rows in {seeded.seconds:.1f} s ({seed_rate:,.0f} rows/s)")
    peak = memory.get("VmHWM")
    print(
        "server peak RSS (VmHWM): "
        + (_mib(peak * 1024) if peak is not None else "unavailable")
        + (f"; RSS at end {_mib(memory['VmRSS'] * 1024)}" if "VmRSS" in memory else "")
    )
    print(f"database size: {_mib(size_seeded)} after seeding, {_mib(size_end)} at the end")
    print(f"total run time: {elapsed:.1f} s")

    errors = sum(result.errors for result in bench.results)
    if args.json is not None:
        figures = {
            "database": database.label.split(" ", 1)[0],
            "parameters": {
                key: (str(value) if isinstance(value, Path) else value)
                for key, value in vars(args).items()
                if key != "database_url"
            },
            "seeding": {
                "rows": seeded.rows,
                "total_rows": seeded.total_rows,
                "seconds": round(seeded.seconds, 3),
                "rows_per_second": round(seed_rate, 1),
                "argon2_hash_seconds": round(seeded.hash_seconds, 3),
                "word_share": seeded.word_share,
            },
            "scenarios": [asdict(result) for result in bench.results],
            "server": {"peak_rss_kib": peak, "rss_at_end_kib": memory.get("VmRSS")},
            "database_bytes": {"after_seeding": size_seeded, "at_end": size_end},
            "total_seconds": round(elapsed, 3),
            "errors": errors,
        }
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")
    if errors:
        print(f"{errors} request(s) failed; see ERRORS above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
