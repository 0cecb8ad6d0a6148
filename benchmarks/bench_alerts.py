"""Figures for saved-search alerts: what publishing a listing costs when it matches the saved
searches of many organizations.

What it does, in order:

1. creates a database of its own: a temporary SQLite file by default, or, given a PostgreSQL
   URL, a database ``bench_alerts_<random>`` on that server (the one named in the URL is only
   used to connect);
2. applies the migrations;
3. creates N enterprises in ten provinces, each with M saved searches through the saved-search
   service (so the words and filters are stored exactly as the app stores them): a random mix
   of worded and filters-only searches, some of which a lithium-battery listing satisfies and
   some not (a word it lacks, a region, an IPC class, a fee or a royalty type that excludes it);
4. publishes listings through the listings service, one transaction each, alternately a
   lithium-battery listing of a university in Zhejiang (matches about half of the saved
   searches) and a vaccine listing of a university in Sichuan (matches few), and times the
   whole publication (publish and commit) and the alerting part alone (``alert_on_publish``),
   counting the saved searches matched, the organizations alerted and the INSERT statements
   into ``event``;
5. prints median / p95 per kind of listing (and the median CPU time of the alerting part, which
   a busy machine disturbs less than wall time) and drops the database (unless ``--keep``).

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_alerts.py                   # SQLite, 200 x 40 saved searches
    .venv/bin/python benchmarks/bench_alerts.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/bench_alerts.py --organizations 500 --saved-per-organization 50

It only calls services that have not changed signature, so the same script runs on an older
checkout too (to measure before a change). Speed is reported, never asserted.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from benchmarks.harness import (
    PROVINCES,
    application_number,
    bench_database,
    credit_code,
    migrate,
    ms,
    percentile,
)
from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind, Verification
from marketplace.audit import recorder as audit_recorder
from marketplace.db import create_db_engine
from marketplace.listings import service as listings
from marketplace.listings.models import DeclarationAnnouncement, ListingCreate, OfferCreate
from marketplace.matching import saved_searches
from marketplace.matching.models import SavedSearchCreate
from marketplace.patents import service as patents
from marketplace.patents.models import LegalStatus, PatentCreate
from marketplace.workflows import declarations

# Saved searches that the lithium-battery listing satisfies ...
MATCHING: tuple[dict[str, Any], ...] = (
    {"q": "电池"},
    {"q": "锂离子电池"},
    {"q": "热管理"},
    {"q": "battery"},
    {"q": "thermal management"},
    {"q": "电池 thermal"},
    {"q": "电池", "region": "Zhejiang"},
    {"q": "battery", "ipc": "H01M", "max_upfront_fee": "100000"},
    {"q": "锂离子电池", "owner_kind": "university", "kind": "invention"},
    {"ipc": "H01M"},
    {"ipc": "H01M 10"},
    {"region": "Zhejiang", "kind": "invention"},
    {"owner_kind": "university", "max_royalty_rate": "5"},
    {"min_remaining_years": 5, "royalty_type": "hybrid"},
)
# ... and saved searches that it does not.
NOT_MATCHING: tuple[dict[str, Any], ...] = (
    {"q": "芯片"},
    {"q": "区块链"},
    {"q": "电池 gearbox"},
    {"q": "battery drone"},
    {"q": "电池", "region": "Beijing"},
    {"q": "battery", "max_upfront_fee": "10000"},
    {"q": "热管理", "royalty_type": "running"},
    {"ipc": "G06N"},
    {"ipc": "H01M 4"},
    {"region": "Beijing"},
    {"max_upfront_fee": "1000"},
    {"kind": "design"},
    {"owner_kind": "research_institute", "ipc": "H01M"},
    {"min_remaining_years": 25},
)


@dataclass(frozen=True, slots=True)
class ListingKind:
    name: str
    title: str
    abstract: str
    ipc_codes: tuple[str, ...]
    region: str
    offer: dict[str, Any]


MANY = ListingKind(
    name="lithium battery (matches many)",
    title="一种锂离子电池的热管理系统及方法",
    abstract="A lithium-ion battery pack with thermal management for electric vehicles.",
    ipc_codes=("H01M 10/0525", "H01M 10/613"),
    region="Zhejiang",
    offer={
        "royalty_type": "hybrid",
        "upfront_fee": "50000",
        "royalty_rate": "3.5",
        "minimum_annual": "20000",
        "term_years": 3,
    },
)
FEW = ListingKind(
    name="vaccine (matches few)",
    title="一种疫苗佐剂的制备方法",
    abstract="An adjuvant that improves the immune response to inactivated vaccines.",
    ipc_codes=("A61K 39/39",),
    region="Sichuan",
    offer={"royalty_type": "lump_sum", "upfront_fee": "2000000", "term_years": 5},
)


@dataclass(slots=True)
class Timings:
    publish_s: list[float] = field(default_factory=list)
    alert_s: list[float] = field(default_factory=list)
    # The CPU time of this process in the alerting part: steadier than wall time on a busy machine.
    alert_cpu_s: list[float] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)
    alerted: list[int] = field(default_factory=list)
    event_inserts: list[int] = field(default_factory=list)


def organization(session: Session, number: int, *, kind: OrganizationKind, region: str) -> int:
    division = next(code for province, code in PROVINCES if province == region)
    org = Organization(
        name=f"{region} {kind.value} {number}",
        kind=kind,
        country="CN",
        region=region,
        credit_code=credit_code(
            "91" if kind is OrganizationKind.enterprise else "12", division, number
        ),
        verification=Verification.verified,
    )
    session.add(org)
    session.flush()
    assert org.id is not None
    return org.id


def seed(
    engine: sa.Engine, *, organizations: int, per_organization: int, seed: int
) -> tuple[int, int]:
    """The savers and their saved searches; returns (worded, filters-only) counts."""
    rng = random.Random(seed)
    templates = [*MATCHING, *NOT_MATCHING]
    worded = filters_only = 0
    for number in range(1, organizations + 1):
        with Session(engine) as session:
            region = PROVINCES[number % len(PROVINCES)][0]
            org_id = organization(session, number, kind=OrganizationKind.enterprise, region=region)
            saver = session.get_one(Organization, org_id)
            for index in range(per_organization):
                query = rng.choice(templates)
                saved_searches.create_saved_search(
                    session=session,
                    organization=saver,
                    data=SavedSearchCreate.model_validate({"name": f"alert {index}", **query}),
                )
                if "q" in query:
                    worded += 1
                else:
                    filters_only += 1
            session.commit()
    return worded, filters_only


class EventInserts:
    """Counts the INSERT statements into ``event`` while it is on."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.count = 0

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENT "):
            self.count += 1

    def __enter__(self) -> "EventInserts":
        sa.event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._before)


def timed_alerts(into: list[tuple[float, float, int, int]]) -> Callable[..., Any]:
    """``alert_on_publish`` as the listings service calls it, timed (wall and CPU)."""
    original = saved_searches.alert_on_publish

    def alert_on_publish(**kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        matched = original(**kwargs)
        cpu = time.process_time() - cpu
        alerted = len({found.organization_id for found in matched})
        into.append((time.perf_counter() - start, cpu, len(matched), alerted))
        return matched

    return alert_on_publish


def publish(engine: sa.Engine, kind: ListingKind, owner_id: int, serial: int, today: date) -> float:
    """Registers a patent and a draft listing of ``kind``, then times publishing it."""
    with Session(engine) as session:
        owner = session.get_one(Organization, owner_id)
        patent = patents.register_patent(
            session=session,
            owner=owner,
            data=PatentCreate(
                application_number=application_number(2022, 1, serial),
                title=kind.title,
                abstract=kind.abstract,
                filing_date=date(2022, 3, 1),
                grant_date=date(2024, 5, 10),
                legal_status=LegalStatus.granted,
                fee_paid_until=today + timedelta(days=200),
                ipc_codes=list(kind.ipc_codes),
                inventors=["Li Wei"],
            ),
        )
        assert patent.id is not None
        draft = listings.create_listing(
            session=session, owner=owner, data=ListingCreate(patent_ids=[patent.id])
        )
        listings.add_offer(
            session=session, listing=draft, data=OfferCreate.model_validate(kind.offer)
        )
        session.commit()
        start = time.perf_counter()
        declarations.publish_listing(
            session=session,
            listing=draft,
            announcement=DeclarationAnnouncement(
                announcement_number=f"KF{today:%Y}{serial:08d}", announcement_date=today
            ),
        )
        session.commit()
        return time.perf_counter() - start


def measure(engine: sa.Engine, publications: int) -> dict[str, Timings]:
    alerts: list[tuple[float, float, int, int]] = []
    saved_searches.alert_on_publish = timed_alerts(alerts)  # type: ignore[assignment]
    today = clock.today()
    with Session(engine) as session:
        owners = {
            kind.name: organization(
                session, 900_000 + index, kind=OrganizationKind.university, region=kind.region
            )
            for index, kind in enumerate((MANY, FEW))
        }
        session.commit()
    timings = {kind.name: Timings() for kind in (MANY, FEW)}
    # The first of each kind warms up (segmenter dictionary, statement caches): not counted.
    for serial in range(2 * (publications + 1)):
        kind = (MANY, FEW)[serial % 2]
        with EventInserts(engine) as inserts:
            seconds = publish(engine, kind, owners[kind.name], 1_000_000 + serial, today)
        alert_s, alert_cpu_s, matched, alerted = alerts.pop()
        if serial < 2:
            continue
        figures = timings[kind.name]
        figures.publish_s.append(seconds)
        figures.alert_s.append(alert_s)
        figures.alert_cpu_s.append(alert_cpu_s)
        figures.matched.append(matched)
        figures.alerted.append(alerted)
        figures.event_inserts.append(inserts.count)
    return timings


def median_p95(seconds: Sequence[float]) -> str:
    ordered = sorted(value * 1000 for value in seconds)
    return f"{ms(statistics.median(ordered))} / {ms(percentile(ordered, 0.95))}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite file)")
    parser.add_argument("--organizations", type=int, default=200, help="organizations saving")
    parser.add_argument("--saved-per-organization", type=int, default=40)
    parser.add_argument(
        "--publications", type=int, default=30, help="timed publications of each kind"
    )
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if min(args.organizations, args.saved_per_organization, args.publications) < 1:
        parser.error("--organizations, --saved-per-organization and --publications must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    # Sessions opened here record audited changes, as the app\'s and the commands\' do.
    audit_recorder.install()
    args = parse_args(argv)
    # The per-organization limit of the app, raised when the run asks for more.
    os.environ["MARKETPLACE_SAVED_SEARCHES_PER_ORGANIZATION"] = str(
        max(50, args.saved_per_organization)
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    try:
        with bench_database(args.database_url, workdir, args.keep, name="bench_alerts") as database:
            print(f"{database.label}: migrating …", flush=True)
            migrate(database.url)
            engine = create_db_engine(database.url)
            try:
                start = time.perf_counter()
                worded, filters_only = seed(
                    engine,
                    organizations=args.organizations,
                    per_organization=args.saved_per_organization,
                    seed=args.seed,
                )
                print(
                    f"saved {worded + filters_only:,} searches ({worded:,} worded, "
                    f"{filters_only:,} filters only) for {args.organizations:,} organizations in "
                    f"{time.perf_counter() - start:,.0f} s",
                    flush=True,
                )
                timings = measure(engine, args.publications)
            finally:
                engine.dispose()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    label = "PostgreSQL" if database.postgresql else "SQLite"
    print(
        f"\n{label}, {args.organizations:,} organizations x {args.saved_per_organization} saved "
        f"searches, {args.publications} publications of each kind, milliseconds"
    )
    print(
        f"{'listing':32} {'matched':>8} {'orgs':>5} {'event INSERTs':>14} "
        f"{'alerts median / p95':>20} {'alerts CPU median':>18} "
        f"{'publish+commit median / p95':>28}"
    )
    for name, figures in timings.items():
        print(
            f"{name:32} {statistics.median(figures.matched):>8,.0f} "
            f"{statistics.median(figures.alerted):>5,.0f} "
            f"{statistics.median(figures.event_inserts):>14,.0f} "
            f"{median_p95(figures.alert_s):>20} "
            f"{ms(statistics.median(figures.alert_cpu_s) * 1000):>18} "
            f"{median_p95(figures.publish_s):>28}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
