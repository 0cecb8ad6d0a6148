"""Figures for bulk patent import and bulk declaration: patents per second in-process (the code
that both the CLI and the API job run) and through the real server's import job, and one
500-patent bulk declaration over HTTP.

What it does, in order:

1. creates a database of its own: a temporary SQLite file by default, or, given a PostgreSQL
   URL, a database ``benchimport_<random>`` on that server (the database named in the URL is
   only used to connect and is never touched);
2. applies the migrations and adds one verified university with one user;
3. writes realistic files: CSV and JSON Lines, ``--patents`` rows each, of which a share
   (``--bad-share``) are bad (a wrong check character, a missing title, an impossible date);
4. times ``import_patents`` in-process: a new CSV file, the same file again (every row
   unchanged), a new JSON Lines file; and checks every count;
5. starts ``marketplace serve`` on a free loopback port, uploads a third file to
   ``POST /api/v1/imports`` and polls the job until it ends: the time from upload to the end;
6. publishes ``--bulk`` imported patents with ``POST /api/v1/listings/bulk`` and times it;
7. drops the database (unless ``--keep``).

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_import.py                     # SQLite, 50,000 rows a file
    .venv/bin/python benchmarks/bench_import.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/bench_import.py --patents 200000 --json import.json

A count that differs from what the files hold, or a request without the expected status, is an
error; the exit status is 1 if there was any. Speed is reported, never asserted.
"""

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from harness import (  # the directory of this script
    API,
    PASSWORD,
    admin_user,
    application_number,
    bench_database,
    credit_code,
    migrate,
    running_server,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from marketplace.accounts.models import Organization, OrganizationKind, Verification
from marketplace.audit import recorder as audit_recorder
from marketplace.db import create_db_engine
from marketplace.listings.announcements import office_today
from marketplace.patents.import_models import ImportFormat
from marketplace.patents.models import LegalStatus, Patent
from marketplace.sessions import transaction
from marketplace.workflows import imports

TARGET_PER_SECOND = 5_000
REQUEST_TIMEOUT_S = 120.0
JOB_TIMEOUT_S = 900.0
EMAIL = "tto@bench-university.example.edu.cn"
IPC = ("H01M 10/0525", "G06F 16/33", "G06N 3/08", "C01B 32/182", "A61K 9/51", "B01J 23/40")
WORDS = ("Battery", "Sensor", "Catalyst", "Membrane", "Retrieval", "Imaging", "Alloy", "Vaccine")


@dataclass(slots=True)
class Figure:
    scenario: str
    # CPU time of this process (in-process scenarios): what the import costs without the load
    # that other processes put on the machine, and without the database server's own work.
    cpu_seconds: float | None
    rows: int
    seconds: float
    created: int
    updated: int
    unchanged: int
    failed: int

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def records(first_serial: int, count: int, bad_share: float, seed: int) -> Iterator[dict[str, Any]]:
    """``count`` patent records; about ``bad_share`` of them invalid in one of three ways."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    bad_every = round(1 / bad_share) if bad_share > 0 else 0
    for index in range(count):
        filing = date(2012, 1, 1) + timedelta(days=rng.randrange(365 * 12))
        record: dict[str, Any] = {
            "application_number": application_number(filing.year, 1, first_serial + index),
            "title": f"{rng.choice(WORDS)} method and device {first_serial + index}",
            "filing_date": filing.isoformat(),
            "ipc_codes": rng.sample(IPC, 2),
            "inventors": ["Li Wei", "Wang Fang"],
            "department": "School of Materials",
        }
        if rng.random() < 0.8:
            record |= {
                "legal_status": "granted",
                "grant_date": (filing + timedelta(days=700)).isoformat(),
                "fee_paid_until": (today + timedelta(days=rng.randrange(30, 360))).isoformat(),
            }
        if bad_every and index % bad_every == bad_every - 1:
            kind = index // bad_every % 3
            if kind == 0:
                number = record["application_number"]
                record["application_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
            elif kind == 1:
                del record["title"]
            else:
                record["filing_date"] = "2021-02-30"
        yield record


def csv_bytes(rows: Iterator[dict[str, Any]]) -> bytes:
    import csv

    columns = (
        "application_number",
        "title",
        "filing_date",
        "grant_date",
        "legal_status",
        "fee_paid_until",
        "ipc_codes",
        "inventors",
        "department",
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            ";".join(row[c]) if isinstance(row.get(c), list) else row.get(c, "") for c in columns
        )
    return buffer.getvalue().encode()


def jsonl_bytes(rows: Iterator[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def bad_count(count: int, bad_share: float) -> int:
    return count // round(1 / bad_share) if bad_share > 0 else 0


# --------------------------------------------------------------------------------------------
# The database
# --------------------------------------------------------------------------------------------


def seed_university(engine: Engine) -> int:
    with Session(engine) as session:
        org = Organization(
            name="Bench University",
            kind=OrganizationKind.university,
            country="CN",
            region="Zhejiang",
            credit_code=credit_code("12", "330106", 1),
            verification=Verification.verified,
        )
        session.add(org)
        session.flush()
        assert org.id is not None
        session.add(admin_user(organization_id=org.id, email=EMAIL, full_name="Bench TTO"))
        session.commit()
        return org.id


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def in_process(
    engine: Engine, owner_id: int, scenario: str, content: bytes, file_format: ImportFormat
) -> Figure:
    @contextmanager
    def sessions() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            yield from transaction(session)

    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = imports.import_patents(
        sessions=sessions, owner_id=owner_id, stream=io.BytesIO(content), file_format=file_format
    )
    seconds = time.perf_counter() - started
    return Figure(
        scenario,
        time.process_time() - cpu_started,
        outcome.total_rows,
        seconds,
        outcome.created,
        outcome.updated,
        outcome.unchanged,
        outcome.failed,
    )


def over_http(client: httpx.Client, headers: dict[str, str], content: bytes) -> Figure:
    started = time.perf_counter()
    response = client.post(
        f"{API}/imports", headers=headers, files={"file": ("portfolio.csv", content, "text/csv")}
    )
    if response.status_code != 202:
        raise SystemExit(f"error: upload answered {response.status_code}: {response.text[:500]}")
    location = response.headers["location"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        job = client.get(location, headers=headers).json()
        if job["status"] not in ("queued", "running"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"error: the import job did not end in {JOB_TIMEOUT_S:.0f} s")
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    if job["status"] == "failed":
        raise SystemExit(f"error: the import job failed: {job['error']}")
    return Figure(
        "API job: upload to end (CSV)",
        None,
        job["total_rows"],
        seconds,
        job["created_count"],
        job["updated_count"],
        job["unchanged_count"],
        job["failed_count"],
    )


def bulk_declaration(
    client: httpx.Client, headers: dict[str, str], patent_ids: list[int]
) -> tuple[float, dict[str, Any]]:
    # Publishing records the office's announcement of each declaration, dated the office's day.
    today = office_today()
    announcements = [
        {
            "patent_id": patent_id,
            "announcement_number": f"KF{today:%Y}{index:07d}",
            "announcement_date": today.isoformat(),
        }
        for index, patent_id in enumerate(patent_ids, start=1)
    ]
    started = time.perf_counter()
    response = client.post(
        f"{API}/listings/bulk",
        headers=headers,
        json={
            "patent_ids": patent_ids,
            "offer": {"royalty_type": "lump_sum", "upfront_fee": "80000", "term_years": 3},
            "publish": True,
            "announcements": announcements,
        },
    )
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"error: bulk declaration answered {response.status_code}")
    return seconds, response.json()


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create a temporary database on (default: a SQLite file)",
    )
    parser.add_argument("--patents", type=int, default=50_000, help="rows per file")
    parser.add_argument("--bad-share", type=float, default=0.01, help="share of bad rows")
    parser.add_argument("--bulk", type=int, default=500, help="patents per bulk declaration")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.patents < 10 or not 0 <= args.bad_share < 0.5 or not 1 <= args.bulk <= 500:
        parser.error("--patents >= 10, 0 <= --bad-share < 0.5, 1 <= --bulk <= 500")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    # Sessions opened here record audited changes, as the app\'s and the commands\' do.
    audit_recorder.install()
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="marketplace-bench-import-"))
    try:
        with bench_database(args.database_url, workdir, args.keep, name="bench_import") as database:
            return run(args, database.url, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, url: str, workdir: Path) -> int:
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"database: {database}; {args.patents:,} rows a file, {args.bad_share:.1%} bad")
    migrate(url)
    count, bad = args.patents, bad_count(args.patents, args.bad_share)
    files = {
        "csv": csv_bytes(records(0, count, args.bad_share, seed=1)),
        "jsonl": jsonl_bytes(records(count, count, args.bad_share, seed=2)),
        "api": csv_bytes(records(2 * count, count, args.bad_share, seed=3)),
    }
    engine = create_db_engine(url)
    problems: list[str] = []
    try:
        owner_id = seed_university(engine)
        figures = [
            in_process(engine, owner_id, "in-process: new CSV", files["csv"], ImportFormat.csv),
            in_process(
                engine, owner_id, "in-process: same CSV again", files["csv"], ImportFormat.csv
            ),
            in_process(
                engine, owner_id, "in-process: new JSON Lines", files["jsonl"], ImportFormat.jsonl
            ),
        ]
        expected = [(count - bad, 0, 0, bad), (0, 0, count - bad, bad), (count - bad, 0, 0, bad)]
        with (
            running_server(url, workdir) as server,
            httpx.Client(
                base_url=server.base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False
            ) as client,
        ):
            token = client.post(
                f"{API}/auth/token",
                data={"grant_type": "password", "username": EMAIL, "password": PASSWORD},
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            figures.append(over_http(client, headers, files["api"]))
            expected.append((count - bad, 0, 0, bad))
            with Session(engine) as session:
                granted = session.scalars(
                    select(Patent.id)
                    .where(Patent.owner_id == owner_id)
                    .where(Patent.legal_status == LegalStatus.granted)
                    .where(Patent.filing_date >= date(2016, 1, 1))
                    .order_by(Patent.id)
                    .limit(args.bulk)
                ).all()
            bulk_seconds, bulk = bulk_declaration(
                client, headers, [i for i in granted if i is not None]
            )
    finally:
        engine.dispose()

    for figure, (created, updated, unchanged, failed) in zip(figures, expected, strict=True):
        got = (figure.created, figure.updated, figure.unchanged, figure.failed)
        if got != (created, updated, unchanged, failed) or figure.rows != count:
            problems.append(
                f"{figure.scenario}: counts {got}, expected {(created, updated, unchanged, failed)}"
            )
    if bulk["published"] != len(granted):
        problems.append(f"bulk declaration: {bulk['published']} of {len(granted)} published")

    print()
    print(
        f"{'scenario':<34} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'CPU s':>6}  "
        "created/updated/unchanged/failed"
    )
    for figure in figures:
        print(
            f"{figure.scenario:<34} {figure.rows:>8,} {figure.seconds:>8.2f} "
            f"{figure.per_second:>8,.0f} "
            f"{'-' if figure.cpu_seconds is None else f'{figure.cpu_seconds:.2f}':>6}  "
            f"{figure.created}/{figure.updated}/"
            f"{figure.unchanged}/{figure.failed}"
        )
    print(
        f"{'bulk declaration over HTTP':<34} {len(granted):>8,} {bulk_seconds:>8.2f} "
        f"{len(granted) / bulk_seconds:>8,.0f} {'-':>6}  published {bulk['published']}"
    )
    slowest_new = min(f.per_second for f in figures if f.created)
    verdict = "met" if slowest_new >= TARGET_PER_SECOND else "NOT met"
    print(f"target {TARGET_PER_SECOND:,} new patents/s: {verdict} (slowest {slowest_new:,.0f}/s)")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "database": database,
                    "figures": [asdict(f) | {"per_second": f.per_second} for f in figures],
                    "bulk_declaration": {"patents": len(granted), "seconds": bulk_seconds},
                    "errors": problems,
                },
                indent=2,
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
