"""Figures for the bank API: the 1,000-number encumbrance check, the exposure report and the
pledge lists, measured against the real server over loopback HTTP, with the server's own share
measured in-process and the plans of the statements behind them.

What it does, in order:

1. creates a database of its own: a temporary SQLite file by default, or, given a PostgreSQL
   URL, a database ``bench_pledges_<random>`` on that server (the database named in the URL is only
   used to connect and is never touched);
2. applies the migrations (``alembic upgrade head``);
3. seeds it through the tables (COPY on PostgreSQL): universities, institutes and enterprises
   owning patents of every kind, with IPC codes in all eight sections, annual fees falling due
   all through the year (some in the late-payment period or in arrears), some pending, lapsed,
   invalidated or expired; declared encumbrances, exclusive licenses among them; published and
   withdrawn listings with offers and licenses; banks with API clients; registered pledges of
   one to three patents each, with history, consents and licenses attributed to them, plus
   cancelled, applied and refused ones. Then VACUUM ANALYZE on PostgreSQL;
4. starts ``marketplace serve`` on a free loopback port, takes client-credentials tokens for two
   banks and times each scenario one request at a time, checking every response;
5. stops the server and times the same work in-process, on a Session of the same database: the
   service call alone, its database statements, and the whole handler (request parsing, service,
   response model and JSON): the server time without the HTTP transfer around it;
6. EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of every statement the check, the
   exposure report and a filtered pledge list run, and whether the indexes they need exist;
7. drops the database (unless ``--keep``).

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_pledges.py          # SQLite: 100,000 patents, 10,000 pledges
    .venv/bin/python benchmarks/bench_pledges.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # 1,000,000 / 100,000
    .venv/bin/python benchmarks/bench_pledges.py --patents 200000 --pledges 20000 --json out.json

A request without the expected status, or whose body does not match the seeded data (results in
request order, known / unknown / malformed / pledged counts, the bank's pledge count), counts as
an error; the exit status is 1 if there was any. Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import re
import shutil
import sys
import tempfile
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from functools import partial
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
    Server,
    application_number,
    bench_database,
    credit_code,
    migrate,
    ms,
    percentile,
    running_server,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace import clock
from marketplace.accounts import security
from marketplace.accounts.caller import Caller
from marketplace.accounts.models import Organization
from marketplace.api.pledges import check_encumbrances as check_route
from marketplace.audit import recorder as audit_recorder
from marketplace.db import SQLITE_BEGIN_OPTION, create_db_engine
from marketplace.models import metadata
from marketplace.pagination import PageParams
from marketplace.patents.identifiers import (
    PatentKind,
    normalize_ipc,
)
from marketplace.patents.service import add_months, add_years, term_end_date
from marketplace.pledges import encumbrances
from marketplace.pledges import exposure as exposure_report
from marketplace.pledges import views as pledge_views
from marketplace.pledges.models import (
    EncumbranceCheckRequest,
    PledgeStatus,
)

CLIENT_SECRET = "bench-bank-client-secret-2026"  # noqa: S105 - a throwaway API client

REQUEST_TIMEOUT_S = 60.0
SQLITE_CHUNK = 5_000
TARGET_MS = 100.0
REPLAYS = 5
FEE_WATCH_DAYS = 90
# Tables whose full scan would be a problem at the planned scale.
LARGE_TABLES = frozenset(
    {"patent", "patent_ipc", "pledge", "pledge_patent", "pledge_change", "license", "listing"}
)

# --------------------------------------------------------------------------------------------
# Synthetic but realistic data
# --------------------------------------------------------------------------------------------

# (IPC symbol, weight): all eight sections, weighted roughly as Chinese university stock is
# (G and H first, then C, A and B).
IPC_CODES: tuple[tuple[str, float], ...] = (
    ("A61K 31/4745", 4),
    ("A61B 5/00", 4),
    ("A01G 9/24", 2),
    ("A23L 33/10", 2),
    ("A61P 35/00", 2),
    ("B01J 23/42", 3),
    ("B60L 53/00", 2),
    ("B65G 47/90", 2),
    ("B22F 10/28", 2),
    ("B23K 26/38", 2),
    ("C07D 401/04", 3),
    ("C12N 15/113", 4),
    ("C08L 67/04", 3),
    ("C02F 1/72", 3),
    ("C22C 38/02", 2),
    ("C04B 28/04", 2),
    ("D01F 9/12", 1),
    ("D06M 11/83", 1),
    ("E04B 1/98", 1),
    ("E21B 43/26", 1),
    ("E01D 19/12", 1),
    ("F03D 7/04", 1),
    ("F24S 10/40", 1),
    ("F16H 57/04", 2),
    ("F01D 5/18", 1),
    ("G06F 16/33", 7),
    ("G06N 3/08", 6),
    ("G06T 7/00", 4),
    ("G01N 33/53", 4),
    ("G05B 19/418", 3),
    ("G06Q 10/06", 4),
    ("H01M 10/0525", 5),
    ("H04L 9/32", 4),
    ("H04W 72/04", 3),
    ("H01L 29/78", 3),
    ("H02J 3/38", 3),
    ("H04N 19/176", 2),
)
SUBJECTS = {
    "A": (
        "targeted delivery of anticancer drugs",
        "wearable heart-rate monitoring",
        "crop disease resistance",
        "functional food composition",
    ),
    "B": (
        "supported platinum catalyst",
        "electric vehicle charging",
        "laser welding of thin plates",
        "metal powder additive manufacturing",
    ),
    "C": (
        "gene editing of rice",
        "biodegradable packaging film",
        "advanced oxidation of wastewater",
        "high-strength low-alloy steel",
    ),
    "D": ("carbon fibre precursor spinning", "antibacterial textile finishing"),
    "E": ("seismic isolation of buildings", "shale gas fracturing", "bridge deck reinforcement"),
    "F": ("wind turbine pitch control", "solar thermal collection", "gearbox lubrication"),
    "G": (
        "technical document retrieval",
        "industrial defect detection",
        "medical image segmentation",
        "pesticide residue detection",
        "production scheduling",
    ),
    "H": (
        "lithium-ion battery thermal management",
        "IoT terminal authentication",
        "wireless resource allocation",
        "power semiconductor device",
        "microgrid dispatch",
    ),
}
TITLES = (
    "{subject} method and device",
    "Method for {subject}",
    "System for {subject}",
    "{subject} apparatus based on deep learning",
)
DEPARTMENTS = (
    "School of Materials Science",
    "School of Computer Science",
    "School of Energy Engineering",
    "School of Life Sciences",
    "School of Chemistry",
    "School of Civil Engineering",
)
VALUERS = ("Zhejiang Assets Appraisal Co.", "China United Appraisal", "Beijing Zhongqi Valuation")

KINDS = (PatentKind.invention, PatentKind.utility_model, PatentKind.design)
# Legal status codes in the compact arrays.
PENDING, GRANTED, LAPSED, INVALIDATED, EXPIRED = range(5)
STATUS_NAMES = ("pending", "granted", "lapsed", "invalidated", "expired")
# Declared encumbrance codes: (kind, in force) per code; 0 is none.
ENCUMBRANCES = (
    None,
    ("exclusive_license", True),
    ("sole_license", True),
    ("non_exclusive_license", True),
    ("court_preservation", True),
    ("ownership_dispute", True),
    ("exclusive_license", False),  # ended or released: no longer a restriction
)
ENCUMBRANCE_CUMULATIVE = (0.004, 0.006, 0.010, 0.0105, 0.011, 0.014)
# Encumbrances that refuse a pledge or a declaration while in force.
BLOCKING = frozenset({1, 2, 4, 5})


# The columns each row generator yields, in order; checked against the tables before loading.
COLUMNS = {
    "organization": (
        "id name kind country region credit_code verification verified_at "
        "rejection_reason created_at"
    ),
    "user_account": (
        "id email full_name organization_id role password_hash is_active created_at last_login_at"
    ),
    "api_client": (
        "id client_id secret_hash name organization_id created_by_user_id created_at "
        "last_used_at revoked_at"
    ),
    "listing": (
        "id title description owner_id status announcement_number announcement_date "
        "announcement_source published_at withdrawn_at lapsed_at lapse_reason warnings "
        "annual_fee_reduction_percent withdrawal_consents fee_reductions created_at updated_at"
    ),
    "offer": (
        "id listing_id royalty_type upfront_fee royalty_rate per_unit_fee minimum_annual "
        "currency term_years field_of_use territory created_at updated_at"
    ),
    "pledge": (
        "id pledgee_id pledgor_id debtor_name secured_amount currency debt_start_date "
        "debt_end_date guarantee_scope valuation_amount valuation_method valuer "
        "valuation_date valuation_report_ref status pledgor_confirmed_at "
        "registration_number registered_date refusal_reasons cancellation_reason "
        "cancelled_at created_at updated_at"
    ),
    "patent": (
        "id title abstract grant_date legal_status fee_paid_until publication_number "
        "department publicly_funded evaluation_report_ref owner_id application_number "
        "kind filing_date main_ipc open_license_listing_id active_pledge_id inventors "
        "co_owners legal_status_changed_at created_at updated_at"
    ),
    "patent_ipc": "patent_id position code",
    "patent_encumbrance": (
        "id patent_id kind counterparty starts_on ends_on reference released_at created_at"
    ),
    "listing_patent": "listing_id patent_id",
    "pledge_patent": "pledge_id patent_id",
    "pledge_change": "id pledge_id status changes actor_organization_id note created_at",
    "pledge_consent": "id pledge_id listing_id created_at",
    "license": (
        "id license_number offer_id listing_id licensor_id licensee_id accepted_by_user_id "
        "status exclusivity sublicensing_allowed terms terms_sha256 effective_date expires_on "
        "recordation_deadline created_at terminated_at termination_reason"
    ),
    "license_pledge": "license_id pledge_id",
}


def _serial(patent_id: int) -> int:
    # Unique per patent whatever its year; numbers from 9,000,000 up are never seeded.
    return 1_000_000 + patent_id


def _day(ordinal: int) -> date:
    return date.fromordinal(ordinal)


def _at(ordinal: int, hour: int = 10) -> datetime:
    return datetime.combine(date.fromordinal(ordinal), day_time(hour, 0), tzinfo=UTC)


def _cents(low: int, high: int, rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(low, high)).scaleb(-2)


@dataclass(slots=True)
class PatentPlan:
    """Compact per-patent facts (index = patent id), so that a million patents fit in memory
    and the pledges, listings and licenses can be chosen consistently before rows are written."""

    owner: array[int]
    kind: bytearray
    type_digit: bytearray
    filing: array[int]
    grant: array[int]
    term_end: array[int]
    status: bytearray
    fee: array[int]
    changed: array[int]
    ipc: array[int]
    encumbrance: bytearray
    has_evaluation: bytearray
    active_pledge: array[int]
    listing: array[int]

    def number(self, patent_id: int) -> str:
        return application_number(
            _day(self.filing[patent_id]).year, self.type_digit[patent_id], _serial(patent_id)
        )


@dataclass(slots=True)
class PledgeRow:
    created: int
    status: str
    pledgor: int
    pledgee: int
    patents: tuple[int, ...]
    registered: int = 0
    debt_start: int = 0
    debt_end: int = 0
    amount: Decimal = Decimal(0)
    currency: str = "CNY"
    cancelled: int = 0
    id: int = 0


@dataclass(slots=True)
class ListingRow:
    announced: int
    owner: int
    patents: tuple[int, ...]
    published: bool
    withdrawn: int = 0
    id: int = 0


@dataclass(slots=True)
class Seeded:
    """What the scenarios need to know about the data."""

    today: date
    plan: PatentPlan
    patents: int
    pledged_patents: list[int]
    bank_ids: list[int]
    active_by_bank: Counter[int]
    status_by_bank: defaultdict[int, Counter[str]]
    rows: dict[str, int]
    seconds_by_table: dict[str, float]
    seconds: float
    analyze_seconds: float
    hash_seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class Seeder:
    def __init__(self, args: argparse.Namespace, today: date) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.today = today
        self.t = today.toordinal()
        self.now = datetime.now(UTC)
        self.n = args.patents
        self.owners = max(20, self.n // 200)
        self.bank_ids = list(range(self.owners + 1, self.owners + args.banks + 1))
        # The platform's own organization: its admins register and refuse pledges.
        self.platform_id = self.owners + args.banks + 1
        # Organizations 1..owners: 45 % universities, 10 % research institutes, enterprises.
        self.universities = max(1, self.owners * 45 // 100)
        self.institutes = max(1, self.owners * 10 // 100)
        self.enterprise_ids = list(range(self.universities + self.institutes + 1, self.owners + 1))
        self.ipc_codes = [normalize_ipc(code) for code, _ in IPC_CODES]
        self.pledges: list[PledgeRow] = []
        self.listings: list[ListingRow] = []

    def kind_of(self, org_id: int) -> str:
        if org_id <= self.universities:
            return "university"
        if org_id <= self.universities + self.institutes:
            return "research_institute"
        if org_id <= self.owners:
            return "enterprise"
        return "bank" if org_id < self.platform_id else "platform"

    # Planning --------------------------------------------------------------------------------

    def plan_patents(self) -> PatentPlan:
        rng, n, t = self.rng, self.n, self.t
        owner_ids = list(range(1, self.owners + 1))
        rng.shuffle(owner_ids)
        # A few owners hold many patents, most hold a few; universities hold most of them.
        weights = [
            (2.0 if self.kind_of(org) == "university" else 1.0) / (rank + 1) ** 0.7
            for rank, org in enumerate(owner_ids)
        ]
        owners = rng.choices(owner_ids, weights=weights, k=n)
        ipc_weights = [weight for _, weight in IPC_CODES]
        ipcs = rng.choices(range(len(IPC_CODES)), weights=ipc_weights, k=n)
        plan = PatentPlan(
            owner=array("i", [0, *owners]),
            kind=bytearray(n + 1),
            type_digit=bytearray(n + 1),
            filing=array("i", bytes(4 * (n + 1))),
            grant=array("i", bytes(4 * (n + 1))),
            term_end=array("i", bytes(4 * (n + 1))),
            status=bytearray(n + 1),
            fee=array("i", bytes(4 * (n + 1))),
            changed=array("i", bytes(4 * (n + 1))),
            ipc=array("H", [0, *ipcs]),
            encumbrance=bytearray(n + 1),
            has_evaluation=bytearray(n + 1),
            active_pledge=array("i", bytes(4 * (n + 1))),
            listing=array("i", bytes(4 * (n + 1))),
        )
        random_ = rng.random
        randrange = rng.randrange
        for pid in range(1, n + 1):
            r = random_()
            if r < 0.62:
                kind, digit = 0, 8 if random_() < 0.04 else 1
                filing = t - randrange(200, 19 * 365)
                grant = filing + randrange(420, 1_600)
            elif r < 0.95:
                kind, digit = 1, 9 if random_() < 0.02 else 2
                filing = t - randrange(150, 11 * 365)
                grant = filing + randrange(120, 420)
            else:
                kind, digit = 2, 3
                filing = t - randrange(150, 14 * 365)
                grant = filing + randrange(90, 300)
            filed = _day(filing)
            term_end = term_end_date(KINDS[kind], filed).toordinal()
            plan.kind[pid] = kind
            plan.type_digit[pid] = digit
            plan.filing[pid] = filing
            plan.term_end[pid] = term_end
            if t > term_end:
                plan.status[pid] = EXPIRED
                plan.grant[pid] = grant
                plan.fee[pid] = term_end
                plan.changed[pid] = term_end + 1
                continue
            if grant >= t - 7:
                plan.status[pid] = PENDING
                continue
            plan.grant[pid] = grant
            plan.has_evaluation[pid] = kind != 0 and random_() < 0.5
            # The annual fee is paid by fee year: up to the day before the next anniversary of
            # filing, so about a quarter falls due within 90 days.
            anniversary = add_years(filed, self.today.year - filed.year)
            if anniversary.toordinal() <= t:
                anniversary = add_years(anniversary, 1)
            paid_until = anniversary.toordinal() - 1
            u = random_()
            if u < 0.03:
                plan.status[pid] = LAPSED
                plan.fee[pid] = max(grant, t - randrange(200, 900))
                plan.changed[pid] = plan.fee[pid] + 183
            elif u < 0.035:
                plan.status[pid] = INVALIDATED
                plan.fee[pid] = paid_until
                plan.changed[pid] = randrange(grant, t)
            else:
                plan.status[pid] = GRANTED
                # One in twenty has not paid this year's fee: late-payment period or arrears.
                plan.fee[pid] = (
                    add_years(anniversary, -1).toordinal() - 1 if u > 0.95 else paid_until
                )
                e = random_()
                if e < ENCUMBRANCE_CUMULATIVE[-1]:
                    plan.encumbrance[pid] = next(
                        code
                        for code, bound in enumerate(ENCUMBRANCE_CUMULATIVE, start=1)
                        if e < bound
                    )
        return plan

    def plan_pledges(self, plan: PatentPlan) -> None:
        """Registered pledges of one to three patents of one owner, spread over the banks, then
        the cancelled, applied and refused ones; ids follow the order of creation."""
        rng, t = self.rng, self.t
        candidates = [
            pid
            for pid in range(1, self.n + 1)
            if plan.status[pid] == GRANTED
            and plan.fee[pid] >= t
            and plan.encumbrance[pid] not in BLOCKING
            and plan.term_end[pid] - t > 400
        ]
        rng.shuffle(candidates)
        by_owner: dict[int, list[int]] = defaultdict(list)
        for pid in candidates:
            by_owner[plan.owner[pid]].append(pid)
        used = bytearray(self.n + 1)
        cursor = 0

        def take(extra: int) -> tuple[int, ...] | None:
            nonlocal cursor
            while cursor < len(candidates) and used[candidates[cursor]]:
                cursor += 1
            if cursor >= len(candidates):
                return None
            first = candidates[cursor]
            used[first] = 1
            chosen = [first]
            pool = by_owner[plan.owner[first]]
            while pool and len(chosen) <= extra:
                pid = pool.pop()
                if not used[pid]:
                    used[pid] = 1
                    chosen.append(pid)
            return tuple(chosen)

        bank_weights = [1 / (rank + 1) ** 0.6 for rank in range(len(self.bank_ids))]
        banks = rng.choices(self.bank_ids, weights=bank_weights, k=self.args.pledges)
        for pledgee in banks:
            size = rng.choices((0, 1, 2), weights=(70, 20, 10))[0]
            patents = take(size)
            if patents is None:
                break
            earliest = max(max(plan.grant[pid] for pid in patents) + 30, t - 4 * 365)
            registered = rng.randrange(earliest, t - 2) if earliest < t - 2 else t - 2
            start = registered - rng.randrange(0, 21)
            end = min(
                start + rng.randrange(365, 5 * 365 + 1), *(plan.term_end[pid] for pid in patents)
            )
            row = PledgeRow(
                created=start - rng.randrange(5, 40),
                status="changed" if rng.random() < 0.1 else "registered",
                pledgor=plan.owner[patents[0]],
                pledgee=pledgee,
                patents=patents,
                registered=registered,
                debt_start=start,
                debt_end=end,
                amount=_cents(100_000_000, 5_000_000_000, rng),
                currency="USD" if rng.random() < 0.02 else "CNY",
            )
            self.pledges.append(row)
        # History: earlier pledges since cancelled, applications waiting, refusals.
        for status, count in (
            ("cancelled", self.args.pledges // 20),
            ("applied", self.args.pledges // 100),
            ("refused", self.args.pledges // 200),
        ):
            for _ in range(count):
                patents = take(rng.choices((0, 1), weights=(85, 15))[0])
                if patents is None:
                    break
                pledgee = rng.choice(self.bank_ids)
                if status == "cancelled":
                    earliest = max(max(plan.grant[pid] for pid in patents) + 30, t - 8 * 365)
                    if earliest >= t - 800:
                        continue
                    registered = rng.randrange(earliest, t - 800)
                    end = registered + rng.randrange(300, 730)
                    row = PledgeRow(
                        created=registered - 20,
                        status=status,
                        pledgor=plan.owner[patents[0]],
                        pledgee=pledgee,
                        patents=patents,
                        registered=registered,
                        debt_start=registered - 5,
                        debt_end=end,
                        amount=_cents(50_000_000, 2_000_000_000, rng),
                        cancelled=min(end + rng.randrange(0, 30), t - 1),
                    )
                else:
                    start = t + rng.randrange(0, 60)
                    row = PledgeRow(
                        created=t - rng.randrange(1, 60),
                        status=status,
                        pledgor=plan.owner[patents[0]],
                        pledgee=pledgee,
                        patents=patents,
                        debt_start=start,
                        debt_end=start + rng.randrange(365, 3 * 365),
                        amount=_cents(50_000_000, 2_000_000_000, rng),
                    )
                self.pledges.append(row)
        self.pledges.sort(key=lambda row: row.created)
        for pledge_id, row in enumerate(self.pledges, start=1):
            row.id = pledge_id
            if row.status in ("registered", "changed"):
                for pid in row.patents:
                    plan.active_pledge[pid] = pledge_id
                # Collateral that weakened after registration: what the exposure report flags.
                if rng.random() < 0.02:
                    pid = row.patents[0]
                    changed = rng.randrange(row.registered + 1, t)
                    if rng.random() < 0.7:
                        plan.status[pid] = LAPSED
                        plan.fee[pid] = changed - 183
                    else:
                        plan.status[pid] = INVALIDATED
                    plan.changed[pid] = changed

    def plan_listings(self, plan: PatentPlan) -> None:
        """Open-license declarations on a share of the declarable patents (pledged ones too,
        with the pledgee's consent), single patents and small bundles of one owner."""
        rng, t = self.rng, self.t
        candidates = [
            pid
            for pid in range(1, self.n + 1)
            if plan.status[pid] == GRANTED
            and plan.fee[pid] >= t
            and plan.encumbrance[pid] not in BLOCKING
            and (plan.kind[pid] == 0 or plan.has_evaluation[pid])
        ]
        rng.shuffle(candidates)
        wanted = int(self.n * self.args.listing_share)
        by_owner: dict[int, list[int]] = defaultdict(list)
        for pid in candidates[: wanted * 2]:
            by_owner[plan.owner[pid]].append(pid)
        used = bytearray(self.n + 1)
        covered = 0
        for first in candidates:
            if covered >= wanted:
                break
            if used[first]:
                continue
            used[first] = 1
            patents = [first]
            pool = by_owner[plan.owner[first]]
            extra = rng.choices((0, 1, 2), weights=(85, 10, 5))[0]
            while pool and len(patents) <= extra:
                pid = pool.pop()
                if not used[pid]:
                    used[pid] = 1
                    patents.append(pid)
            covered += len(patents)
            earliest = max(max(plan.grant[pid] for pid in patents) + 10, t - 4 * 365)
            announced = rng.randrange(earliest, t - 2) if earliest < t - 2 else t - 2
            published = rng.random() < 0.88
            self.listings.append(
                ListingRow(
                    announced=announced,
                    owner=plan.owner[first],
                    patents=tuple(patents),
                    published=published,
                    withdrawn=0 if published else rng.randrange(announced + 1, t),
                )
            )
        self.listings.sort(key=lambda row: row.announced)
        for listing_id, row in enumerate(self.listings, start=1):
            row.id = listing_id
            if row.published:
                for pid in row.patents:
                    plan.listing[pid] = listing_id

    # Rows ------------------------------------------------------------------------------------

    def organization_rows(self) -> Iterator[tuple[Any, ...]]:
        for org_id in range(1, self.platform_id + 1):
            kind = self.kind_of(org_id)
            province, division = PROVINCES[org_id % len(PROVINCES)]
            name = {
                "university": f"{province} University of Science and Technology No. {org_id}",
                "research_institute": f"{province} Institute of Advanced Materials No. {org_id}",
                "enterprise": f"{province} Intelligent Technology Co., Ltd. No. {org_id}",
                "bank": f"{province} Commercial Bank, Science and Technology Branch No. {org_id}",
                "platform": "Patent Open Licensing Platform",
            }[kind]
            prefix = "12" if kind in ("university", "research_institute") else "91"
            yield (
                org_id,
                name,
                kind,
                "CN",
                province,
                credit_code(prefix, division, org_id),
                "verified",
                self.now,
                None,
                self.now,
            )

    def user_rows(self, password_hash: str) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        for org_id in range(1, self.platform_id + 1):
            yield (
                org_id,
                f"admin@org{org_id}.example.cn",
                f"{rng.choice(SURNAMES)} {rng.choice(GIVEN_NAMES)}",
                org_id,
                "admin",
                password_hash,
                True,
                self.now,
                None,
            )

    def api_client_rows(self, secret_hash: str) -> Iterator[tuple[Any, ...]]:
        for client_id, bank_id in enumerate(self.bank_ids, start=1):
            yield (
                client_id,
                f"bench-bank-{bank_id}",
                secret_hash,
                "loan-origination",
                bank_id,
                bank_id,
                self.now,
                None,
                None,
            )

    def listing_rows(self, plan: PatentPlan) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        for row in self.listings:
            first = row.patents[0]
            section = self.ipc_codes[plan.ipc[first]][0]
            title = rng.choice(TITLES).format(subject=rng.choice(SUBJECTS[section])).capitalize()
            withdrawn = _at(row.withdrawn) if row.withdrawn else None
            yield (
                row.id,
                title if len(row.patents) == 1 else f"{title} (portfolio of {len(row.patents)})",
                None,
                row.owner,
                "published" if row.published else "withdrawn",
                # Office-style numbers as a patentee would enter them.
                f"KF{_day(row.announced):%Y}{row.id:08d}",
                _day(row.announced),
                "office",
                _at(row.announced, 9),
                withdrawn,
                None,
                None,
                [],
                Decimal("15.00"),
                [],
                [],
                _at(row.announced, 8),
                withdrawn or _at(row.announced, 9),
            )

    def offer_terms(self, listing: ListingRow, plan: PatentPlan) -> dict[str, Any]:
        rng = self.rng
        remaining = min(plan.term_end[pid] for pid in listing.patents) - self.t
        royalty_type = rng.choices(
            ("lump_sum", "running", "hybrid", "per_unit"), weights=(35, 25, 30, 10)
        )[0]
        terms: dict[str, Any] = {
            "royalty_type": royalty_type,
            "upfront_fee": None,
            "royalty_rate": None,
            "per_unit_fee": None,
            "minimum_annual": None,
        }
        if royalty_type == "lump_sum":
            terms["upfront_fee"] = _cents(5_000_000, 200_000_000, rng)
        elif royalty_type == "running":
            terms["royalty_rate"] = Decimal(rng.randrange(100, 800)).scaleb(-2)
        elif royalty_type == "hybrid":
            terms["upfront_fee"] = _cents(2_000_000, 50_000_000, rng)
            terms["royalty_rate"] = Decimal(rng.randrange(50, 500)).scaleb(-2)
            terms["minimum_annual"] = _cents(1_000_000, 10_000_000, rng)
        else:
            terms["per_unit_fee"] = _cents(50, 5_000, rng)
        terms["term_years"] = max(1, min(rng.choice((1, 2, 3, 5, 8)), remaining // 366))
        return terms

    def offer_and_license_rows(
        self, plan: PatentPlan, numbers: Callable[[int], str]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Offers (one per listing), licenses on about a third of the listings (active, some
        terminated or past their term) and the pledges each license is attributed to."""
        rng, t = self.rng, self.t
        offers: list[tuple[Any, ...]] = []
        licenses: list[tuple[Any, ...]] = []
        license_pledges: list[tuple[Any, ...]] = []
        pledge_by_id = {row.id: row for row in self.pledges}
        license_id = 0
        for listing in self.listings:
            terms = self.offer_terms(listing, plan)
            offers.append(
                (
                    listing.id,
                    listing.id,
                    terms["royalty_type"],
                    terms["upfront_fee"],
                    terms["royalty_rate"],
                    terms["per_unit_fee"],
                    terms["minimum_annual"],
                    "CNY",
                    terms["term_years"],
                    None,
                    "mainland China",
                    _at(listing.announced, 8),
                    _at(listing.announced, 8),
                )
            )
            if rng.random() >= 0.35:
                continue
            count = min(1 + int(rng.expovariate(0.6)), 12)
            licensees = rng.sample(self.enterprise_ids, min(count, len(self.enterprise_ids)))
            for licensee in licensees:
                if licensee == listing.owner:
                    continue
                license_id += 1
                # Licenses granted before a withdrawal stay in force; none come after it.
                effective = rng.randrange(listing.announced + 1, (listing.withdrawn or t) + 1)
                expires = add_years(_day(effective), terms["term_years"]) - timedelta(days=1)
                terminated = rng.random() < 0.1 and effective < t
                snapshot = {
                    "listing": {
                        "id": listing.id,
                        "announcement_number": f"KF{_day(listing.announced):%Y}{listing.id:08d}",
                    },
                    "offer": {
                        **{
                            key: (str(value) if isinstance(value, Decimal) else value)
                            for key, value in terms.items()
                        },
                        "currency": "CNY",
                        "territory": "mainland China",
                        "field_of_use": None,
                    },
                    "patents": [numbers(pid) for pid in listing.patents],
                }
                digest = hashlib.sha256(
                    json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()
                ).hexdigest()
                licenses.append(
                    (
                        license_id,
                        f"LIC{_day(effective):%Y}{license_id:08d}",
                        listing.id,
                        listing.id,
                        listing.owner,
                        licensee,
                        licensee,
                        "terminated" if terminated else "active",
                        "non_exclusive",
                        False,
                        snapshot,
                        digest,
                        _day(effective),
                        expires,
                        add_months(_day(effective), 3),
                        _at(effective),
                        _at(rng.randrange(effective, t)) if terminated else None,
                        "licensee stopped production" if terminated else None,
                    )
                )
                pledge_ids = {
                    plan.active_pledge[pid]
                    for pid in listing.patents
                    if plan.active_pledge[pid]
                    and pledge_by_id[plan.active_pledge[pid]].registered <= effective
                }
                license_pledges.extend((license_id, pledge_id) for pledge_id in pledge_ids)
        return offers, licenses, license_pledges

    def pledge_rows(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        for row in self.pledges:
            registered = row.status in ("registered", "changed", "cancelled")
            valuation = row.amount * Decimal(rng.randrange(120, 300)) / 100
            yield (
                row.id,
                row.pledgee,
                row.pledgor,
                None if rng.random() < 0.8 else f"{PROVINCES[row.pledgor % 10][0]} Tech Co.",
                row.amount,
                row.currency,
                _day(row.debt_start),
                _day(row.debt_end),
                "caller, interest and enforcement costs",
                valuation.quantize(Decimal("0.01")),
                rng.choice(("cost", "market", "income")),
                rng.choice(VALUERS),
                _day(row.created - 10),
                f"VR-{_day(row.created):%Y}-{row.id:06d}",
                row.status,
                _at(row.created + 2) if row.status != "applied" or rng.random() < 0.5 else None,
                f"Y{_day(row.registered):%Y}98{row.id:08d}" if registered else None,
                _day(row.registered) if registered else None,
                (
                    [{"code": "annual_fee_in_arrears", "detail": "annual fee unpaid"}]
                    if row.status == "refused"
                    else []
                ),
                "debt_repaid" if row.status == "cancelled" else None,
                _at(row.cancelled) if row.cancelled else None,
                _at(row.created),
                _at(row.cancelled or row.registered or row.created),
            )

    def pledge_detail_rows(
        self, plan: PatentPlan
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """pledge_patent, pledge_change (the history) and pledge_consent rows."""
        rng = self.rng
        links: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        consents: list[tuple[Any, ...]] = []
        listing_by_id = {row.id: row for row in self.listings}
        for row in self.pledges:
            links.extend((row.id, pid) for pid in row.patents)
            history: list[tuple[str, int, int, dict[str, Any]]] = [
                ("applied", row.pledgee, row.created, {})
            ]
            if row.status == "refused":
                history.append(("refused", self.platform_id, row.created + 20, {}))
            if row.registered:
                history.append(("registered", self.platform_id, row.registered, {}))
            if row.status == "changed":
                history.append(
                    (
                        "changed",
                        row.pledgee,
                        rng.randrange(row.registered, self.t),
                        {"secured_amount": {"from": str(row.amount * 2), "to": str(row.amount)}},
                    )
                )
            if row.status == "cancelled":
                history.append(("cancelled", row.pledgee, row.cancelled, {}))
            for status, actor, day, details in history:
                changes.append((len(changes) + 1, row.id, status, details, actor, None, _at(day)))
            if row.status in ("registered", "changed"):
                listing_ids = {plan.listing[pid] for pid in row.patents if plan.listing[pid]}
                for listing_id in sorted(listing_ids):
                    listing = listing_by_id[listing_id]
                    if listing.announced >= row.registered:
                        consents.append(
                            (len(consents) + 1, row.id, listing_id, _at(listing.announced, 8))
                        )
        return links, changes, consents

    def patent_rows(self, plan: PatentPlan) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        random_ = rng.random
        choice = rng.choice
        now = self.now
        codes = self.ipc_codes
        no_co_owners: list[dict[str, Any]] = []
        for pid in range(1, self.n + 1):
            kind = plan.kind[pid]
            status = plan.status[pid]
            code = codes[plan.ipc[pid]]
            subject = choice(SUBJECTS[code[0]])
            title = choice(TITLES).format(subject=subject).capitalize()
            grant = plan.grant[pid]
            owner = plan.owner[pid]
            fee = plan.fee[pid]
            changed = plan.changed[pid]
            yield (
                pid,
                title,
                f"The invention discloses a {subject} solution comprising a sensing unit, a "
                f"control unit and a processing unit; compared with the prior art it improves "
                f"reliability and reduces cost. Main classification {code}.",
                _day(grant) if status != PENDING else None,
                STATUS_NAMES[status],
                _day(fee) if fee else None,
                f"CN{100_000_000 + pid}{'BUS'[kind]}" if status != PENDING else None,
                choice(DEPARTMENTS) if owner <= self.universities else None,
                random_() < 0.6,
                f"PJ{pid:09d}" if plan.has_evaluation[pid] else None,
                owner,
                plan.number(pid),
                KINDS[kind].value,
                _day(plan.filing[pid]),
                code,
                plan.listing[pid] or None,
                plan.active_pledge[pid] or None,
                [f"{choice(SURNAMES)} {choice(GIVEN_NAMES)}" for _ in range(1 + pid % 4)],
                (
                    [{"name": "Partner Research Institute", "open_license_consent": True}]
                    if random_() < 0.03
                    else no_co_owners
                ),
                _at(changed) if changed else None,
                now,
                now,
            )

    def patent_ipc_rows(self, plan: PatentPlan) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        codes = self.ipc_codes
        count = len(codes)
        for pid in range(1, self.n + 1):
            main = plan.ipc[pid]
            yield (pid, 0, codes[main])
            r = rng.random()
            if r < 0.5:
                second = (main + 1 + rng.randrange(count - 1)) % count
                yield (pid, 1, codes[second])
                if r < 0.15:
                    yield (pid, 2, codes[(second + 1 + rng.randrange(count - 2)) % count])

    def encumbrance_rows(self, plan: PatentPlan) -> Iterator[tuple[Any, ...]]:
        rng, t = self.rng, self.t
        encumbrance_id = 0
        for pid in range(1, self.n + 1):
            code = plan.encumbrance[pid]
            if not code:
                continue
            kind, in_force = ENCUMBRANCES[code]  # type: ignore[misc]
            encumbrance_id += 1
            starts = rng.randrange(plan.grant[pid], t)
            ends = None if rng.random() < 0.3 else t + rng.randrange(30, 2_000)
            released = None
            if not in_force:
                ends = rng.randrange(starts, t) if starts < t - 1 else starts
                released = None if rng.random() < 0.5 else _at(ends)
            yield (
                encumbrance_id,
                pid,
                kind,
                "Licensee Manufacturing Co., Ltd." if "license" in kind else "People's Court",
                _day(starts),
                _day(ends) if ends is not None else None,
                f"REF-{pid:08d}",
                released,
                _at(starts),
            )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


class Loader:
    """Bulk insert through the tables: COPY on PostgreSQL, chunked executemany on SQLite.
    One transaction; rows are tuples in the order of ``columns``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._pg: Any = None  # the psycopg connection during a PostgreSQL load
        self._sqlite: Any = None  # the SQLAlchemy connection during a SQLite load

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.postgresql:
            raw = self.engine.raw_connection()
            try:
                self._pg = raw.driver_connection
                with self._pg.cursor() as cursor:
                    # One bulk transaction; durability of each commit is not the point here.
                    cursor.execute("SET synchronous_commit = off")
                yield
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                raw.close()
        else:
            with self.engine.begin() as connection:
                self._sqlite = connection
                yield

    def load(self, name: str, rows: Iterable[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        columns = _columns(name)
        table = metadata.tables[name]
        json_positions = [
            index
            for index, column in enumerate(columns)
            if isinstance(table.c[column].type, sa.JSON)
        ]
        count = 0
        if self.postgresql:
            statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN"
            dumps = json.dumps
            with self._pg.cursor() as cursor, cursor.copy(statement) as copy:
                write = copy.write_row
                if json_positions:
                    for row in rows:
                        values = list(row)
                        for index in json_positions:
                            values[index] = dumps(values[index])
                        write(values)
                        count += 1
                else:
                    for row in rows:
                        write(row)
                        count += 1
        else:
            insert = sa.insert(table)
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(dict(zip(columns, row, strict=True)))
                if len(chunk) == SQLITE_CHUNK:
                    self._sqlite.execute(insert, chunk)
                    count += len(chunk)
                    chunk = []
            if chunk:
                self._sqlite.execute(insert, chunk)
                count += len(chunk)
        self.counts[name] = self.counts.get(name, 0) + count
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def reset_sequences(self) -> None:
        if not self.postgresql:
            return
        with self._pg.cursor() as cursor:
            for name in self.counts:
                if "id" in metadata.tables[name].c and metadata.tables[name].c.id.primary_key:
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"GREATEST((SELECT max(id) FROM {name}), 1))"
                    )


def _columns(name: str) -> tuple[str, ...]:
    """The columns written to ``name``, checked against the table: a renamed or a new required
    column fails here, before any row is generated."""
    columns = tuple(COLUMNS[name].split())
    unknown = set(columns) - set(metadata.tables[name].c.keys())
    required = {column.name for column in metadata.tables[name].c if not column.nullable}
    missing = required - set(columns)
    if unknown or missing:
        raise SystemExit(f"error: {name}: unknown columns {unknown}, missing {missing}")
    return columns


def seed(engine: Engine, args: argparse.Namespace, today: date) -> Seeded:
    started = time.perf_counter()
    # Production-cost hashes, shared by every account: what the token endpoint verifies.
    password_hash = security.hash_secret(PASSWORD)
    secret_hash = security.hash_secret(CLIENT_SECRET)
    hash_seconds = time.perf_counter() - started
    started = time.perf_counter()

    seeder = Seeder(args, today)
    plan = seeder.plan_patents()
    seeder.plan_pledges(plan)
    seeder.plan_listings(plan)
    offers, licenses, license_pledges = seeder.offer_and_license_rows(plan, plan.number)
    links, changes, consents = seeder.pledge_detail_rows(plan)
    planned = time.perf_counter() - started
    print(f"  planned the data in {planned:.1f} s; loading", flush=True)

    loader = Loader(engine)
    with loader.transaction():
        # Foreign-key order; patents after the listings and pledges they point to.
        loader.load("organization", seeder.organization_rows())
        loader.load("user_account", seeder.user_rows(password_hash))
        loader.load("api_client", seeder.api_client_rows(secret_hash))
        loader.load("listing", seeder.listing_rows(plan))
        loader.load("offer", offers)
        loader.load("pledge", seeder.pledge_rows())
        loader.load("patent", seeder.patent_rows(plan))
        print(f"  patents loaded after {time.perf_counter() - started:.1f} s", flush=True)
        loader.load("patent_ipc", seeder.patent_ipc_rows(plan))
        loader.load("patent_encumbrance", seeder.encumbrance_rows(plan))
        loader.load(
            "listing_patent", ((row.id, pid) for row in seeder.listings for pid in row.patents)
        )
        loader.load("pledge_patent", links)
        loader.load("pledge_change", changes)
        loader.load("pledge_consent", consents)
        loader.load("license", licenses)
        loader.load("license_pledge", license_pledges)
        loader.reset_sequences()
    seconds = time.perf_counter() - started

    analyze_seconds = 0.0
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load: statistics for the planner and a visibility
        # map, so that the figures do not depend on when autovacuum happens to run.
        step = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")
        analyze_seconds = time.perf_counter() - step

    active_by_bank: Counter[int] = Counter()
    status_by_bank: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for row in seeder.pledges:
        status_by_bank[row.pledgee][row.status] += 1
        if row.status in ("registered", "changed"):
            active_by_bank[row.pledgee] += 1
    pledged = [pid for pid in range(1, args.patents + 1) if plan.active_pledge[pid]]
    return Seeded(
        today=today,
        plan=plan,
        patents=args.patents,
        pledged_patents=pledged,
        bank_ids=seeder.bank_ids,
        active_by_bank=active_by_bank,
        status_by_bank=status_by_bank,
        rows=loader.counts,
        seconds_by_table=loader.seconds,
        seconds=seconds,
        analyze_seconds=analyze_seconds,
        hash_seconds=hash_seconds,
    )


def describe_data(seeded: Seeded) -> dict[str, Any]:
    """Shares that say whether the check and the reports have data to work on."""
    plan, t, n = seeded.plan, seeded.today.toordinal(), seeded.patents
    statuses = Counter(STATUS_NAMES[plan.status[pid]] for pid in range(1, n + 1))
    granted = [pid for pid in range(1, n + 1) if plan.status[pid] == GRANTED]
    due_soon = sum(1 for pid in granted if t <= plan.fee[pid] < t + FEE_WATCH_DAYS)
    unpaid = sum(1 for pid in granted if plan.fee[pid] < t)
    return {
        "legal_status": dict(statuses),
        "granted_fee_due_within_90_days_share": round(due_soon / max(1, len(granted)), 4),
        "granted_fee_unpaid_share": round(unpaid / max(1, len(granted)), 4),
        "pledged_patents": len(seeded.pledged_patents),
        "patents_with_published_listing": sum(1 for pid in range(1, n + 1) if plan.listing[pid]),
        "exclusive_or_sole_license_in_force": sum(
            1 for pid in range(1, n + 1) if plan.encumbrance[pid] in (1, 2)
        ),
    }


# --------------------------------------------------------------------------------------------
# The database and the server
# --------------------------------------------------------------------------------------------


def database_bytes(engine: Engine, database: BenchDatabase) -> int:
    with engine.connect() as connection:
        if database.postgresql:
            value = connection.exec_driver_sql("SELECT pg_database_size(current_database())")
        else:
            value = connection.exec_driver_sql(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            )
        return int(value.scalar() or 0)


# --------------------------------------------------------------------------------------------
# Requests to measure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    numbers: list[str]
    # What each result must say, in request order: its application number (canonical, or as
    # sent when malformed), and how many are known, malformed and under an active pledge.
    expected_numbers: list[str]
    known: int
    malformed: int
    pledged: int


def make_batches(seeded: Seeded, args: argparse.Namespace) -> list[Batch]:
    """Batches of ``--batch`` numbers: mostly known patents (a share of them pledged), some
    well-formed but unknown, a few malformed; written the ways clients write them."""
    rng = random.Random(args.seed + 7)
    plan = seeded.plan
    size = args.batch
    malformed = max(1, size // 50)
    unknown = size // 10
    pledged = min(size * 15 // 100, len(seeded.pledged_patents))
    batches: list[Batch] = []
    for _ in range(args.requests):
        items: list[tuple[str, str]] = []
        for pid in rng.sample(seeded.pledged_patents, pledged):
            items.append((plan.number(pid), "known"))
        for _ in range(size - malformed - unknown - pledged):
            items.append((plan.number(rng.randint(1, seeded.patents)), "known"))
        for _ in range(unknown):
            year = rng.randrange(2005, seeded.today.year)
            items.append(
                (
                    application_number(
                        year, rng.choice((1, 2, 3)), rng.randrange(9_000_000, 10**7)
                    ),
                    "unknown",
                )
            )
        for index in range(malformed):
            number = plan.number(rng.randint(1, seeded.patents))
            bad_check = "0" if number[-1] != "0" else "1"
            items.append(
                (
                    (
                        number[:-1] + bad_check,
                        number[:10],
                        "CN-ABC-123",
                        number[:4] + "7" + number[5:],
                    )[index % 4],
                    "malformed",
                )
            )
        rng.shuffle(items)
        numbers: list[str] = []
        expected_numbers: list[str] = []
        known_pledged = 0
        for number, expected in items:
            style = rng.random()
            written = (
                "CN" + number.replace(".", "")
                if style < 0.1
                else f"CN {number[:4]} {number[4:]}"
                if style < 0.2
                else number
            )
            numbers.append(written)
            expected_numbers.append(written if expected == "malformed" else number)
            if expected == "known":
                known_pledged += bool(plan.active_pledge[int(number[5:12]) - _serial(0)])
        batches.append(
            Batch(
                numbers=numbers,
                expected_numbers=expected_numbers,
                known=sum(expected == "known" for _, expected in items),
                malformed=malformed,
                pledged=known_pledged,
            )
        )
    return batches


def check_batch_response(body: dict[str, Any], batch: Batch) -> str | None:
    results = body.get("results", [])
    if len(results) != len(batch.numbers):
        return f"{len(results)} results for {len(batch.numbers)} numbers"
    for index, (item, expected) in enumerate(zip(results, batch.expected_numbers, strict=True)):
        if item["application_number"] != expected:
            return f"result {index} is {item['application_number']}, expected {expected}"
    known = sum(1 for item in results if item["known"])
    errors = sum(1 for item in results if item.get("error"))
    pledged = sum(1 for item in results if item.get("active_pledge"))
    if (known, errors, pledged) != (batch.known, batch.malformed, batch.pledged):
        return (
            f"known/malformed/pledged {known}/{errors}/{pledged}, "
            f"expected {batch.known}/{batch.malformed}/{batch.pledged}"
        )
    return None


def check_payload(payload: str, batch: Batch) -> str | None:
    return check_batch_response(json.loads(payload), batch)


def check_results(results: Sequence[Any], batch: Batch) -> str | None:
    return check_batch_response({"results": [asdict(item) for item in results]}, batch)


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ScenarioResult:
    name: str
    where: str  # "http" (client latency over loopback) or "in-process" (server time)
    count: int
    errors: int
    median_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    note: str = ""
    error_examples: list[str] = field(default_factory=list)
    db_median_ms: float | None = None
    db_p95_ms: float | None = None


def summarize(
    name: str,
    where: str,
    seconds: Sequence[float],
    problems: Sequence[str],
    *,
    note: str = "",
    db_seconds: Sequence[float] = (),
) -> ScenarioResult:
    latencies = sorted(value * 1000 for value in seconds)
    db = sorted(value * 1000 for value in db_seconds)
    return ScenarioResult(
        name=name,
        where=where,
        count=len(seconds),
        errors=len(problems),
        median_ms=percentile(latencies, 0.5),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        note=note,
        error_examples=list(dict.fromkeys(problems))[:3],
        db_median_ms=percentile(db, 0.5),
        db_p95_ms=percentile(db, 0.95),
    )


class Http:
    def __init__(self, client: httpx.Client, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.results: list[ScenarioResult] = []

    def token(self, bank_id: int) -> str:
        response = self.client.post(
            f"{API}/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": f"bench-bank-{bank_id}",
                "client_secret": CLIENT_SECRET,
            },
        )
        if response.status_code != 200:
            raise SystemExit(f"error: no token for bank {bank_id}: {response.text[:300]}")
        token: str = response.json()["access_token"]
        return token

    def scenario(
        self,
        name: str,
        requests: Iterable[tuple[str, str, dict[str, Any], Callable[[Any], str | None]]],
        *,
        token: str,
        note: str = "",
    ) -> ScenarioResult:
        """Each request is (method, url, httpx keyword arguments, body check); one at a time,
        until ``--requests`` or ``--time-limit``."""
        seconds: list[float] = []
        problems: list[str] = []
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + self.args.time_limit
        for method, url, kwargs, check in requests:
            if time.monotonic() > deadline:
                note = f"{note}; stopped at the time limit".lstrip("; ")
                break
            started = time.perf_counter()
            try:
                response = self.client.request(method, url, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                seconds.append(time.perf_counter() - started)
                problems.append(f"{type(exc).__name__}: {exc}")
                continue
            seconds.append(time.perf_counter() - started)
            if response.status_code != 200:
                problems.append(f"HTTP {response.status_code}: {response.text[:200]}")
                continue
            problem = check(response.json())
            if problem:
                problems.append(problem)
        result = summarize(name, "http", seconds, problems, note=note)
        self.results.append(result)
        print(f"  {name}: {result.count} requests, {result.errors} errors", flush=True)
        return result


def _exposure_check(expected: int) -> Callable[[Any], str | None]:
    def check(body: Any) -> str | None:
        if body.get("pledges") != expected:
            return f"exposure counts {body.get('pledges')} pledges, expected {expected}"
        return None

    return check


def _page_check(
    *, at_least: int, pledgee_id: int | None = None, status: str | None = None
) -> Callable[[Any], str | None]:
    def check(body: Any) -> str | None:
        items = body.get("items", [])
        if len(items) < at_least:
            return f"{len(items)} items, expected at least {at_least}"
        for item in items:
            if pledgee_id is not None and item["pledgee_id"] != pledgee_id:
                return f"pledge {item['id']} of pledgee {item['pledgee_id']} in the page"
            if status is not None and item["status"] != status:
                return f"pledge {item['id']} is {item['status']}, filtered on {status}"
        return None

    return check


def run_http(
    server: Server,
    args: argparse.Namespace,
    seeded: Seeded,
    batches: Sequence[Batch],
    bank: int,
    other_bank: int,
) -> tuple[list[ScenarioResult], dict[str, str]]:
    rng = random.Random(args.seed + 11)
    notes: dict[str, str] = {}
    with httpx.Client(
        base_url=server.base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False
    ) as client:
        http = Http(client, args)
        started = time.perf_counter()
        token = http.token(bank)
        other_token = http.token(other_bank)
        notes["tokens"] = f"two client-credentials grants in {time.perf_counter() - started:.2f} s"
        check_url = f"{API}/encumbrances/check"
        # Warm-up: imports, pool connections, statement caches, the first pages into memory.
        for batch in batches[:3]:
            client.post(
                check_url,
                json={"application_numbers": batch.numbers},
                headers={"Authorization": f"Bearer {token}"},
            )
        client.get(f"{API}/pledges/exposure", headers={"Authorization": f"Bearer {token}"})

        http.scenario(
            f"POST /encumbrances/check ({args.batch} numbers)",
            (
                (
                    "POST",
                    check_url,
                    {"json": {"application_numbers": batch.numbers}},
                    partial(check_batch_response, batch=batch),
                )
                for batch in batches
            ),
            token=token,
            note=(
                f"per batch: {batches[0].known} known (~{batches[0].pledged} pledged), "
                f"{len(batches[0].numbers) - batches[0].known - batches[0].malformed} unknown, "
                f"{batches[0].malformed} malformed"
            ),
        )
        expected = seeded.active_by_bank[bank]
        http.scenario(
            "GET /pledges/exposure",
            (
                ("GET", f"{API}/pledges/exposure", {}, _exposure_check(expected))
                for _ in range(args.requests)
            ),
            token=token,
            note=f"bank {bank}: {expected} registered pledges",
        )
        url = f"{API}/pledges"
        http.scenario(
            "GET /pledges?pledgee_id=<own>&limit=50",
            (
                (
                    "GET",
                    url,
                    {"params": {"pledgee_id": bank, "limit": 50}},
                    _page_check(at_least=min(50, expected), pledgee_id=bank),
                )
                for _ in range(args.requests)
            ),
            token=token,
            note="full views (history, consents)",
        )
        changed = seeded.status_by_bank[bank]["changed"]
        http.scenario(
            "GET /pledges?pledgee_id=<own>&status=changed&limit=50",
            (
                (
                    "GET",
                    url,
                    {"params": {"pledgee_id": bank, "status": "changed", "limit": 50}},
                    _page_check(at_least=min(50, changed), pledgee_id=bank, status="changed"),
                )
                for _ in range(args.requests)
            ),
            token=token,
            note=f"{changed} of the bank's pledges are 'changed'",
        )
        cancelled = seeded.status_by_bank[bank]["cancelled"]
        http.scenario(
            "GET /pledges?pledgee_id=<own>&status=cancelled&limit=50",
            (
                (
                    "GET",
                    url,
                    {"params": {"pledgee_id": bank, "status": "cancelled", "limit": 50}},
                    _page_check(at_least=min(50, cancelled), pledgee_id=bank, status="cancelled"),
                )
                for _ in range(args.requests)
            ),
            token=token,
            note=f"{cancelled} of the bank's pledges are 'cancelled'",
        )
        http.scenario(
            "GET /pledges?pledgee_id=<other bank>&limit=50",
            (
                (
                    "GET",
                    url,
                    {"params": {"pledgee_id": bank, "limit": 50}},
                    _page_check(at_least=min(50, expected), pledgee_id=bank),
                )
                for _ in range(args.requests)
            ),
            token=other_token,
            note="register views, as another bank sees them",
        )
        numbers = [
            seeded.plan.number(pid)
            for pid in rng.sample(
                seeded.pledged_patents, min(args.requests, len(seeded.pledged_patents))
            )
        ]
        http.scenario(
            "GET /pledges?application_number=<pledged>",
            (
                ("GET", url, {"params": {"application_number": number}}, _page_check(at_least=1))
                for number in numbers
            ),
            token=token,
        )
    return http.results, notes


# --------------------------------------------------------------------------------------------
# In-process: the server's share, and the statements behind it
# --------------------------------------------------------------------------------------------


class StatementRecorder:
    """Times the database statements run through an engine, and can keep them for EXPLAIN."""

    def __init__(self, engine: Engine) -> None:
        self.seconds = 0.0
        self.captured: list[tuple[str, Any]] | None = None
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())
        if self.captured is not None and statement.lstrip().upper().startswith("SELECT"):
            self.captured.append((statement, parameters))

    def _after(self, conn: Any, *_: Any) -> None:
        self.seconds += time.perf_counter() - conn.info["bench_started"].pop()

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any]]]:
        self.captured = []
        try:
            yield self.captured
        finally:
            self.captured = None


def run_in_process(
    engine: Engine,
    recorder: StatementRecorder,
    args: argparse.Namespace,
    seeded: Seeded,
    batches: Sequence[Batch],
    bank: int,
) -> list[ScenarioResult]:
    """The server's work without HTTP: each call on a fresh Session (no identity-map reuse)."""
    today = seeded.today
    results: list[ScenarioResult] = []

    def measure(
        name: str,
        calls: Iterable[tuple[Callable[[Session], Any], Callable[[Any], str | None]]],
        note: str,
    ) -> ScenarioResult:
        """Each call is timed alone; its result is checked afterwards, outside the timing."""
        seconds: list[float] = []
        db_seconds: list[float] = []
        problems: list[str] = []
        deadline = time.monotonic() + args.time_limit
        for call, check in calls:
            if time.monotonic() > deadline:
                note = f"{note}; stopped at the time limit"
                break
            with Session(engine, expire_on_commit=False) as session:
                recorder.seconds = 0.0
                started = time.perf_counter()
                try:
                    value = call(session)
                except Exception as exc:  # reported, and fails the run
                    seconds.append(time.perf_counter() - started)
                    problems.append(f"{type(exc).__name__}: {exc}")
                    continue
                seconds.append(time.perf_counter() - started)
                db_seconds.append(recorder.seconds)
                problem = check(value)
                session.rollback()
            if problem:
                problems.append(problem)
        result = summarize(name, "in-process", seconds, problems, note=note, db_seconds=db_seconds)
        results.append(result)
        print(f"  {name}: {result.count} calls, {result.errors} errors", flush=True)
        return result

    def service(batch: Batch) -> Callable[[Session], Any]:
        def call(session: Session) -> Any:
            return encumbrances.check_encumbrances(
                session=session, application_numbers=batch.numbers, today=today
            )

        return call

    def handler(batch: Batch) -> Callable[[Session], Any]:
        body = json.dumps({"application_numbers": batch.numbers}).encode()

        def call(session: Session) -> Any:
            # The route itself around the service: request validation and the JSON it answers
            # with (FastAPI's own routing and dependencies are not included). It reads the
            # calendar from marketplace.clock, like the server.
            request = EncumbranceCheckRequest.model_validate_json(body)
            return check_route(body=request, _reader=None, session=session).body

        return call

    for batch in batches[:3]:
        with Session(engine) as session:
            encumbrances.check_encumbrances(
                session=session, application_numbers=batch.numbers, today=today
            )
    checked = [(handler(batch), partial(check_payload, batch=batch)) for batch in batches]
    measure(
        f"check_encumbrances() ({args.batch} numbers)",
        ((service(batch), partial(check_results, batch=batch)) for batch in batches),
        "the service function alone; db = time inside cursor.execute (on PostgreSQL the whole "
        "round trip; SQLite fetches rows later, so there it understates)",
    )
    measure(
        f"check handler: parse + service + JSON ({args.batch})",
        checked,
        "server time of the route without HTTP and FastAPI's routing",
    )
    # The same with the objects that exist before the first request moved out of the cyclic
    # garbage collector's reach: full collections during a 1,000-number check then stop
    # traversing every module, class and function of the process.
    gc.collect()
    gc.freeze()
    try:
        measure(
            f"check handler, gc.freeze() first ({args.batch})",
            checked,
            "as above after gc.collect(); gc.freeze(): what freezing at server start would give",
        )
    finally:
        gc.unfreeze()
    expected = seeded.active_by_bank[bank]

    def exposure_call(serialize: bool) -> Callable[[Session], Any]:
        def call(session: Session) -> Any:
            report = exposure_report.exposure(session=session, pledgee_id=bank, today=today)
            if serialize:
                report.model_dump_json()
            return report

        return call

    def exposure_check(report: Any) -> str | None:
        return None if report.pledges == expected else f"{report.pledges} pledges, not {expected}"

    measure(
        "exposure()",
        ((exposure_call(False), exposure_check) for _ in range(args.requests)),
        f"bank {bank}, {expected} pledges",
    )
    measure(
        "exposure() + response JSON",
        ((exposure_call(True), exposure_check) for _ in range(args.requests)),
        "server time of the route without HTTP",
    )
    return results


# --------------------------------------------------------------------------------------------
# Plans and indexes
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PlanSummary:
    group: str
    tables: str
    parameters: int
    total_ms: float | None
    planning_ms: float | None
    execution_ms: float | None
    rows: int | None
    indexes: list[str]
    full_scans: list[str]
    replay_ms: float
    rows_returned: int
    detail: str = ""
    # Scans that read far more rows than they kept (PostgreSQL), and whether workers were used.
    wasted: list[str] = field(default_factory=list)
    parallel: bool = False


def _tables(statement: str) -> str:
    found = re.findall(r"\b(?:FROM|JOIN)\s+\"?(\w+)\"?", statement, flags=re.IGNORECASE)
    return ", ".join(dict.fromkeys(found))


def _wasted(node: dict[str, Any]) -> str:
    """A scan that a filter throws most rows away from: the index (if any) did not narrow it."""
    loops = node.get("Actual Loops", 1)
    removed = node.get("Rows Removed by Filter", 0) * loops
    kept = node.get("Actual Rows", 0) * loops
    if removed < 1_000 or removed < 10 * max(kept, 1):
        return ""
    target = node.get("Index Name") or node.get("Relation Name", "?")
    return f"{node['Node Type']} on {target} read {removed:,} rows to keep {kept:,}"


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def explain(engine: Engine, group: str, statements: Sequence[tuple[str, Any]]) -> list[PlanSummary]:
    summaries: list[PlanSummary] = []
    postgresql = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        for statement, parameters in statements:
            count = len(parameters) if parameters else 0
            # The statement alone, outside the ORM: execute and fetch every row, best of a few.
            replays: list[float] = []
            returned = 0
            for _ in range(REPLAYS):
                started = time.perf_counter()
                returned = len(connection.exec_driver_sql(statement, parameters).all())
                replays.append(time.perf_counter() - started)
            replay_ms = sorted(replays)[len(replays) // 2] * 1000
            if postgresql:
                plan_rows = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
                ).scalar()
                document: Any = json.loads(plan_rows) if isinstance(plan_rows, str) else plan_rows
                top = document[0]
                nodes = list(_walk(top["Plan"]))
                indexes = [
                    f"{node['Index Name']} ({node['Node Type']})"
                    for node in nodes
                    if "Index Name" in node
                ]
                scans = [
                    f"{node['Relation Name']} (Seq Scan, {node.get('Actual Rows', 0)} rows x "
                    f"{node.get('Actual Loops', 1)}, {node.get('Rows Removed by Filter', 0)} "
                    "removed by filter)"
                    for node in nodes
                    if node["Node Type"] == "Seq Scan"
                ]
                wasted = [_wasted(node) for node in nodes if _wasted(node)]
                summaries.append(
                    PlanSummary(
                        group=group,
                        tables=_tables(statement),
                        parameters=count,
                        total_ms=top["Planning Time"] + top["Execution Time"],
                        planning_ms=top["Planning Time"],
                        execution_ms=top["Execution Time"],
                        rows=top["Plan"].get("Actual Rows"),
                        indexes=list(dict.fromkeys(indexes)),
                        full_scans=scans,
                        replay_ms=replay_ms,
                        rows_returned=returned,
                        wasted=wasted,
                        parallel=any(node.get("Workers Launched") for node in nodes),
                    )
                )
            else:
                rows = connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                ).all()
                details = [str(row[-1]) for row in rows]
                indexes = [
                    match
                    for detail in details
                    for match in re.findall(r"USING (?:COVERING )?INDEX (\w+)", detail)
                ]
                indexes += [
                    f"{detail.split()[1]} primary key"
                    for detail in details
                    if "INTEGER PRIMARY KEY" in detail
                ]
                scans = [
                    detail
                    for detail in details
                    if detail.startswith("SCAN ") and " USING " not in detail
                ]
                summaries.append(
                    PlanSummary(
                        group=group,
                        tables=_tables(statement),
                        parameters=count,
                        total_ms=None,
                        planning_ms=None,
                        execution_ms=None,
                        rows=None,
                        indexes=list(dict.fromkeys(indexes)),
                        full_scans=scans,
                        replay_ms=replay_ms,
                        rows_returned=returned,
                        detail="; ".join(details),
                    )
                )
    return summaries


def capture_statements(
    engine: Engine, recorder: StatementRecorder, seeded: Seeded, batch: Batch, bank: int
) -> dict[str, list[tuple[str, Any]]]:
    groups: dict[str, list[tuple[str, Any]]] = {}
    today = seeded.today
    with Session(engine) as session, recorder.capture() as captured:
        encumbrances.check_encumbrances(
            session=session, application_numbers=batch.numbers, today=today
        )
        groups["check"] = list(captured)
    with Session(engine) as session, recorder.capture() as captured:
        exposure_report.exposure(session=session, pledgee_id=bank, today=today)
        groups["exposure"] = list(captured)
    with Session(engine, expire_on_commit=False) as session:
        caller = Caller(
            organization=session.get_one(Organization, bank),
            scopes=frozenset({"pledges"}),
            jti="bench",
            token_expires_at=clock.now() + timedelta(minutes=15),
        )
    with Session(engine) as session, recorder.capture() as captured:
        found, _ = pledge_views.list_pledges(
            session=session,
            params=PageParams(limit=50),
            caller=caller,
            pledgee_id=bank,
            status=PledgeStatus.cancelled,
        )
        for pledge in found:
            pledge_views.to_view(pledge, full=True)
        groups["list ?pledgee_id&status=cancelled"] = list(captured)
    return groups


# (table, leading columns, who needs it)
NEEDED_INDEXES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("patent", ("application_number",), "check: patents by number"),
    ("patent_encumbrance", ("patent_id",), "check: encumbrances of the found patents"),
    ("pledge", ("id",), "check: active pledges by id"),
    ("listing_patent", ("patent_id",), "check: listings of the found patents (license counts)"),
    ("license", ("listing_id", "status"), "check: active licenses of those listings"),
    ("pledge", ("pledgee_id",), "exposure and ?pledgee_id="),
    ("pledge_patent", ("pledge_id",), "exposure: patents of the bank's pledges"),
    ("pledge_patent", ("patent_id",), "?patent_id= and ?application_number="),
    ("pledge_change", ("pledge_id",), "history in full views"),
    ("pledge_consent", ("pledge_id",), "consents in full views"),
    ("license_pledge", ("pledge_id",), "license income of a pledge"),
)


@dataclass(slots=True)
class IndexCheck:
    table: str
    columns: list[str]
    purpose: str
    state: str  # "ok", "partial", "missing"
    found: str
    create: str


def check_indexes(engine: Engine) -> list[IndexCheck]:
    inspector = sa.inspect(engine)
    checks: list[IndexCheck] = []
    for table, columns, purpose in NEEDED_INDEXES:
        candidates: list[tuple[str, list[str]]] = []
        primary = inspector.get_pk_constraint(table)
        candidates.append(
            (primary.get("name") or f"{table} primary key", primary["constrained_columns"])
        )
        for index in inspector.get_indexes(table):
            candidates.append((str(index["name"]), [str(c) for c in index["column_names"]]))
        for unique in inspector.get_unique_constraints(table):
            candidates.append((str(unique["name"]), list(unique["column_names"])))
        wanted = list(columns)
        full = list(
            dict.fromkeys(name for name, cols in candidates if cols[: len(wanted)] == wanted)
        )
        partial = list(dict.fromkeys(name for name, cols in candidates if cols[:1] == wanted[:1]))
        name = f"ix_{table}_{'_'.join(columns)}"
        create = f"CREATE INDEX {name} ON {table} ({', '.join(columns)});"
        if full:
            checks.append(IndexCheck(table, wanted, purpose, "ok", ", ".join(full), ""))
        elif partial:
            checks.append(IndexCheck(table, wanted, purpose, "partial", ", ".join(partial), create))
        else:
            checks.append(IndexCheck(table, wanted, purpose, "missing", "", create))
    return checks


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def render_table(results: Sequence[ScenarioResult]) -> str:
    headers = (
        "scenario",
        "where",
        "count",
        "errors",
        "median ms",
        "p95 ms",
        "p99 ms",
        "db med/p95",
    )
    rows = [
        (
            result.name,
            result.where,
            str(result.count),
            str(result.errors),
            ms(result.median_ms),
            ms(result.p95_ms),
            ms(result.p99_ms),
            f"{ms(result.db_median_ms)}/{ms(result.db_p95_ms)}"
            if result.db_median_ms is not None
            else "",
        )
        for result in results
    ]
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        second = cells[1].ljust(widths[1])
        rest = (cell.rjust(width) for cell, width in zip(cells[2:], widths[2:], strict=True))
        return "  ".join((first, second, *rest))

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


def render_plans(plans: Sequence[PlanSummary], postgresql: bool) -> str:
    out: list[str] = []
    for number, plan in enumerate(plans, start=1):
        out.append(
            f"  {number:2d}. [{plan.group}] {plan.tables} ({plan.parameters} parameters): "
            f"{plan.rows_returned} rows, {plan.replay_ms:.1f} ms executed and fetched"
        )
        if postgresql:
            out.append(
                f"      EXPLAIN ANALYZE: {plan.total_ms:.2f} ms (planning {plan.planning_ms:.2f}, "
                f"execution {plan.execution_ms:.2f})"
            )
        out.append(f"      indexes: {', '.join(plan.indexes) or 'none'}")
        if plan.full_scans:
            out.append(f"      full scans: {'; '.join(plan.full_scans)}")
        if plan.wasted:
            out.append(f"      filtered, not indexed: {'; '.join(plan.wasted)}")
        if plan.parallel:
            out.append("      parallel workers launched")
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the bank API (encumbrance check, exposure, pledge lists).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create a temporary database on (the named database is not "
        "touched); default: a temporary SQLite file",
    )
    parser.add_argument(
        "--patents", type=int, help="patents (default 1,000,000 on PostgreSQL, 100,000 on SQLite)"
    )
    parser.add_argument(
        "--pledges",
        type=int,
        help="registered pledges (default 100,000 on PostgreSQL, 10,000 on SQLite); 5 %% more "
        "cancelled, 1 %% applied and 0.5 %% refused ones come on top",
    )
    parser.add_argument("--banks", type=int, default=20)
    parser.add_argument(
        "--listing-share", type=float, default=0.08, help="share of patents under a listing"
    )
    parser.add_argument("--requests", type=int, default=100, help="requests per scenario")
    parser.add_argument("--batch", type=int, default=1000, help="numbers per check (max 1000)")
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds per scenario before it is cut"
    )
    parser.add_argument("--seed", type=int, default=20261125, help="random seed of the data")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    postgresql = args.database_url is not None
    if args.patents is None:
        args.patents = 1_000_000 if postgresql else 100_000
    if args.pledges is None:
        args.pledges = 100_000 if postgresql else 10_000
    for name in ("patents", "pledges", "banks", "requests", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.patents < 1_000:
        parser.error("--patents must be at least 1,000")
    if args.patents > 8_000_000:
        parser.error("--patents is at most 8,000,000 (7-digit application serials)")
    if args.batch > 1000:
        parser.error("--batch is at most 1000 (the API's limit)")
    if args.banks < 2:
        parser.error("--banks must be at least 2 (one bank reads another's pledges)")
    if not 0 <= args.listing_share <= 0.5:
        parser.error("--listing-share must be between 0 and 0.5")
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    # Sessions opened here record audited changes, as the app\'s and the commands\' do.
    audit_recorder.install()
    args = parse_args(argv)
    run_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="marketplace-bench-pledges-"))
    try:
        with bench_database(
            args.database_url, workdir, args.keep, name="bench_pledges"
        ) as database:
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

    today = datetime.now(UTC).date()
    engine = create_db_engine(database.url)
    try:
        print(f"seeding {args.patents:,} patents and {args.pledges:,} pledges", flush=True)
        seeded = seed(engine, args, today)
        size = database_bytes(engine, database)
    finally:
        engine.dispose()
    rate = seeded.total_rows / seeded.seconds
    rows = ", ".join(
        f"{name} {count:,} ({seeded.seconds_by_table[name]:.1f} s)"
        for name, count in seeded.rows.items()
    )
    print(
        f"seeded {seeded.total_rows:,} rows in {seeded.seconds:.1f} s ({rate:,.0f} rows/s); "
        + (f"VACUUM ANALYZE {seeded.analyze_seconds:.1f} s; " if database.postgresql else "")
        + f"database {size / 1024 / 1024:,.0f} MiB",
        flush=True,
    )
    print(f"  {rows}", flush=True)
    data = describe_data(seeded)

    # The bank whose book is measured: the one closest to 5 % of the pledges (5,000 of 100,000).
    target = args.pledges / 20
    bank = min(seeded.bank_ids, key=lambda b: (abs(seeded.active_by_bank[b] - target), b))
    other_bank = next(b for b in seeded.bank_ids if b != bank)
    batches = make_batches(seeded, args)

    with running_server(
        database.url, workdir, extra_env={"MARKETPLACE_ACCESS_TOKEN_TTL_SECONDS": "7200"}
    ) as server:
        print(f"server up at {server.base_url} (pid {server.process.pid}); measuring", flush=True)
        http_results, notes = run_http(server, args, seeded, batches, bank, other_bank)
        peak_rss = server.peak_rss_kib()
        if server.process.poll() is not None:
            print(f"the server died during the run:\n{server.log_tail()}")

    print("server stopped; measuring in-process", flush=True)
    base = create_db_engine(database.url)
    # As the server reads: deferred transactions on SQLite (ignored by PostgreSQL).
    engine = base.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
    try:
        recorder = StatementRecorder(base)
        local_results = run_in_process(engine, recorder, args, seeded, batches, bank)
        groups = capture_statements(engine, recorder, seeded, batches[0], bank)
        plans = [
            summary
            for group, statements in groups.items()
            for summary in explain(engine, group, statements)
        ]
        indexes = check_indexes(base)
    finally:
        base.dispose()

    results = [*http_results, *local_results]
    elapsed = time.perf_counter() - run_started
    print()
    print(
        f"{database.label.split(' ', 1)[0]}: {args.patents:,} patents, {args.pledges:,} "
        f"registered pledges over {args.banks} banks; one request at a time, 1 server worker"
    )
    print(
        "data: "
        + ", ".join(f"{key} {value}" for key, value in data.items() if key != "legal_status")
        + "; legal status "
        + ", ".join(f"{key} {value:,}" for key, value in data["legal_status"].items())
    )
    print(render_table(results))
    print()
    handler = next(r for r in local_results if r.name.startswith("check handler"))
    service_result = local_results[0]
    verdict = "met" if handler.p95_ms is not None and handler.p95_ms < TARGET_MS else "NOT met"
    print(
        f"target: a {args.batch}-number check well under {TARGET_MS:.0f} ms of server time: "
        f"{verdict} (handler median {ms(handler.median_ms)} ms, p95 {ms(handler.p95_ms)} ms; "
        f"service median {ms(service_result.median_ms)} ms of which database "
        f"{ms(service_result.db_median_ms)} ms)"
    )
    print()
    print(
        "plans of the statements ("
        + ("EXPLAIN ANALYZE, BUFFERS" if database.postgresql else "EXPLAIN QUERY PLAN")
        + f", {args.batch}-number batch):"
    )
    print(render_plans(plans, database.postgresql))
    large_scans = [
        f"[{plan.group}] {scan}"
        for plan in plans
        for scan in plan.full_scans
        if any(table in scan.split()[:2] for table in LARGE_TABLES)
    ]
    if large_scans:
        print("  full scans of large tables: " + "; ".join(large_scans))
    print()
    print("indexes the check, the exposure report and the lists need:")
    for item in indexes:
        columns = ", ".join(item.columns)
        if item.state == "ok":
            print(f"  ok       {item.table} ({columns}) by {item.found}: {item.purpose}")
        elif item.state == "partial":
            print(
                f"  partial  {item.table} ({columns}): {item.found} leads with "
                f"{item.columns[0]}, the rest is filtered after the lookup (fine while few rows "
                f"share a {item.columns[0]}; see the plan); {item.purpose}. If not: {item.create}"
            )
        else:
            print(f"  MISSING  {item.table} ({columns}): {item.purpose}. Add: {item.create}")
    print()
    print(
        f"seeding: {seeded.total_rows:,} rows in {seeded.seconds:.1f} s ({rate:,.0f} rows/s), "
        f"plus {seeded.hash_seconds:.2f} s for two Argon2 hashes"
    )
    for key, value in notes.items():
        print(f"{key}: {value}")
    print(
        "server peak RSS (VmHWM): "
        + (f"{peak_rss / 1024:.0f} MiB" if peak_rss is not None else "unavailable")
    )
    print(f"total run time: {elapsed:.1f} s")

    errors = sum(result.errors for result in results)
    if args.json is not None:
        figures = {
            "database": database.label.split(" ", 1)[0],
            "parameters": {
                key: (str(value) if isinstance(value, Path) else value)
                for key, value in vars(args).items()
                if key != "database_url"
            },
            "data": data,
            "measured_bank": {
                "id": bank,
                "registered_pledges": seeded.active_by_bank[bank],
                "by_status": dict(seeded.status_by_bank[bank]),
            },
            "seeding": {
                "rows": seeded.rows,
                "total_rows": seeded.total_rows,
                "seconds": round(seeded.seconds, 3),
                "rows_per_second": round(rate, 1),
                "seconds_by_table": {
                    name: round(value, 3) for name, value in seeded.seconds_by_table.items()
                },
                "vacuum_analyze_seconds": round(seeded.analyze_seconds, 3),
                "database_bytes": size,
            },
            "scenarios": [asdict(result) for result in results],
            "target": {
                "server_ms": TARGET_MS,
                "handler_median_ms": handler.median_ms,
                "handler_p95_ms": handler.p95_ms,
                "met": verdict == "met",
            },
            "plans": [asdict(plan) for plan in plans],
            "indexes": [asdict(item) for item in indexes],
            "server_peak_rss_kib": peak_rss,
            "total_seconds": round(elapsed, 3),
            "errors": errors,
        }
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")
    if errors:
        print(f"{errors} request(s) or call(s) failed; see ERRORS above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
