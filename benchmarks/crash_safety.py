"""Crash safety, shown: the server is killed (SIGKILL) in the middle of an acceptance load on
PostgreSQL, restarted, and the database is checked.

On a scratch database of its own (``crash_<random>``, dropped at the end) it seeds a licensor
with published running-royalty offers and licensee organizations, then drives concurrent
acceptances (``POST /offers/{id}/accept``, each pair of licensee and offer with its own
Idempotency-Key) against the real server (``marketplace serve``). Once enough acceptances have
been answered 201 it kills the server's process group with SIGKILL, restarts it, and proves:

* every acceptance answered 201 is in the database (nothing committed was lost);
* every license is whole: its terms hash matches its terms snapshot, it has a license number,
  exactly one idempotency record pointing at it (of its licensee), its ``created`` audit entry
  and its ``license.accepted`` notice to the licensor; no idempotency record is left without a
  license, and its certificate is issued and verifies;
* replaying every key (those whose request died with the server included) answers the same
  license (same id) when one was committed, or creates exactly one when none was;
* the audit chain verifies.

Prints the figures; exits 1 on any mismatch.

    python benchmarks/crash_safety.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    API,
    SECRET_KEY,
    application_number,
    bench_database,
    migrate,
    running_server,
)
from marketplace import clock
from marketplace.accounts import security
from marketplace.accounts.models import (
    Organization,
    OrganizationKind,
    User,
    UserRole,
    Verification,
)
from marketplace.audit import recorder as audit_recorder
from marketplace.audit import service as audit
from marketplace.audit.models import AuditEvent
from marketplace.config import get_settings
from marketplace.events.models import Event, EventType
from marketplace.licensing.models.idempotency import IdempotencyRecord
from marketplace.licensing.models.licenses import License
from marketplace.licensing.service import terms_digest
from marketplace.listings import service as listings
from marketplace.listings.models import (
    DeclarationAnnouncement,
    ListingCreate,
    OfferCreate,
    RoyaltyType,
)
from marketplace.patents import service as patents
from marketplace.patents.models import LegalStatus, PatentCreate
from marketplace.workflows import declarations

# The environment a server and this script share: the same signing secret, so that the tokens
# minted here are the server's; sign-in limits out of the way.
SERVER_ENV = {"MARKETPLACE_SECRET_KEY": SECRET_KEY, "MARKETPLACE_ENVIRONMENT": "development"}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One acceptance: a licensee's token, an offer, its key."""

    token: str
    offer_id: int
    key: str


@dataclass(slots=True)
class CrashReport:
    sent: int = 0
    answered_201: int = 0
    died: int = 0
    committed_at_restart: int = 0
    replayed: int = 0
    replay_same: int = 0
    replay_created: int = 0
    certificates_verified: int = 0
    audit_entries: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"acceptances sent          {self.sent}",
            f"answered 201 before kill  {self.answered_201}",
            f"died with the server      {self.died}",
            f"licenses at restart       {self.committed_at_restart}",
            f"keys replayed             {self.replayed}",
            f"  same license            {self.replay_same}",
            f"  created on replay       {self.replay_created}",
            f"certificates verified     {self.certificates_verified}",
            f"audit entries verified    {self.audit_entries}",
            f"mismatches                {len(self.mismatches)}",
            f"seconds                   {self.seconds:.1f}",
        ]


@contextmanager
def _settings_of(database_url: str) -> Iterator[None]:
    """This process's settings point at the scratch database while the script works, and back
    afterwards (the script also runs inside the test suite)."""
    saved = {name: os.environ.get(name) for name in ("MARKETPLACE_DATABASE_URL", *SERVER_ENV)}
    os.environ.update({"MARKETPLACE_DATABASE_URL": database_url, **SERVER_ENV})
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def seed(engine: sa.Engine, *, licensees: int, offers: int) -> list[Attempt]:
    """A licensor with ``offers`` published running-royalty offers (nothing up front: each
    acceptance is in force at once) and ``licensees`` enterprises, each to accept every offer."""
    today = clock.today()
    audit_recorder.install()
    with Session(engine) as session:
        licensor = Organization(
            name="Crash University",
            kind=OrganizationKind.university,
            country="CN",
            verification=Verification.verified,
        )
        session.add(licensor)
        session.flush()
        offer_ids: list[int] = []
        for n in range(offers):
            patent = patents.register_patent(
                session=session,
                owner=licensor,
                data=PatentCreate(
                    application_number=application_number(2020, 1, 700_000 + n),
                    title=f"Battery pack cooling {n}",
                    filing_date=date(2020, 3, 1),
                    grant_date=date(2022, 5, 10),
                    legal_status=LegalStatus.granted,
                    fee_paid_until=today + timedelta(days=200),
                    ipc_codes=["H01M 10/0525"],
                ),
            )
            assert patent.id is not None
            listing = listings.create_listing(
                session=session, owner=licensor, data=ListingCreate(patent_ids=[patent.id])
            )
            offer = listings.add_offer(
                session=session,
                listing=listing,
                data=OfferCreate(
                    royalty_type=RoyaltyType.running, royalty_rate=Decimal("3.5"), term_years=3
                ),
            )
            declarations.publish_listing(
                session=session,
                listing=listing,
                announcement=DeclarationAnnouncement(
                    announcement_number=f"KF{today:%Y}{n + 1:07d}", announcement_date=today
                ),
            )
            assert offer.id is not None
            offer_ids.append(offer.id)
        tokens: list[str] = []
        for n in range(licensees):
            org = Organization(
                name=f"Crash Enterprise {n}",
                kind=OrganizationKind.enterprise,
                country="DE",
                verification=Verification.verified,
            )
            session.add(org)
            session.flush()
            assert org.id is not None
            user = User(
                email=f"crash{n}@enterprise.example.com",
                full_name="Crash Tester",
                organization_id=org.id,
                role=UserRole.admin,
                password_hash="!",  # noqa: S106 - never signs in; its token is minted here
            )
            session.add(user)
            session.flush()
            tokens.append(
                security.create_access_token(
                    subject=f"user:{user.id}",
                    organization_id=org.id,
                    scopes=frozenset({"licenses", "licenses:accept"}),
                ).token
            )
        session.commit()
    return [
        Attempt(token=token, offer_id=offer_id, key=str(uuid.uuid4()))
        for offer_id in offer_ids
        for token in tokens
    ]


def _accept(client: httpx.Client, attempt: Attempt) -> httpx.Response:
    return client.post(
        f"{API}/offers/{attempt.offer_id}/accept",
        headers={"Authorization": f"Bearer {attempt.token}", "Idempotency-Key": attempt.key},
    )


def _load(
    base_url: str, attempts: Sequence[Attempt], *, threads: int, kill_after: int, kill: object
) -> dict[str, int | None]:
    """Acceptances from ``threads`` clients at once; ``kill`` is called once ``kill_after`` have
    been answered 201. Returns each key's license id when its answer was a 201, ``None`` when
    the request died (or was never answered)."""
    answered: dict[str, int | None] = {}
    lock = threading.Lock()
    queue = list(reversed(attempts))
    killed = threading.Event()

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    attempt = queue.pop()
                try:
                    response = _accept(client, attempt)
                except httpx.HTTPError:
                    with lock:
                        answered[attempt.key] = None
                    if killed.is_set():
                        return
                    continue
                with lock:
                    if response.status_code == 201:
                        answered[attempt.key] = int(response.json()["id"])
                    else:
                        answered[attempt.key] = None
                    created = sum(1 for value in answered.values() if value is not None)
                    if created >= kill_after and not killed.is_set():
                        killed.set()
                        kill()  # type: ignore[operator]

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return answered


def _check_whole(session: Session, report: CrashReport) -> None:
    """Every license with its parts, and no part without its license."""
    licenses = session.scalars(select(License)).all()
    records = session.scalars(select(IdempotencyRecord)).all()
    by_license: dict[int, list[IdempotencyRecord]] = {}
    for record in records:
        if record.license_id is None:
            report.mismatches.append(f"idempotency record {record.id} without a license")
        else:
            by_license.setdefault(record.license_id, []).append(record)
    audited = set(
        session.scalars(
            select(AuditEvent.object_id).where(
                AuditEvent.object_type == "license", AuditEvent.action == "created"
            )
        ).all()
    )
    noticed = set(
        session.scalars(select(Event.subject).where(Event.type == EventType.license_accepted)).all()
    )
    for license_ in licenses:
        assert license_.id is not None
        what = f"license {license_.id}"
        if terms_digest(license_.terms) != license_.terms_sha256:
            report.mismatches.append(f"{what}: terms hash does not match its snapshot")
        if not license_.license_number:
            report.mismatches.append(f"{what}: no license number")
        own = by_license.get(license_.id, [])
        if len(own) != 1 or own[0].organization_id != license_.licensee_id:
            report.mismatches.append(f"{what}: {len(own)} idempotency records of its licensee")
        if license_.id not in audited:
            report.mismatches.append(f"{what}: no audit entry of its creation")
        if f"license:{license_.id}" not in noticed:
            report.mismatches.append(f"{what}: the licensor was never notified")


def _check_certificates(
    base_url: str, session: Session, attempts: Sequence[Attempt], report: CrashReport
) -> None:
    with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client:
        for attempt in attempts:
            license_id = session.scalar(
                select(IdempotencyRecord.license_id).where(IdempotencyRecord.key == attempt.key)
            )
            if license_id is None:
                continue
            headers = {"Authorization": f"Bearer {attempt.token}"}
            issued = client.get(f"{API}/licenses/{license_id}/certificate", headers=headers)
            if issued.status_code != 200:
                report.mismatches.append(f"license {license_id}: certificate {issued.status_code}")
                continue
            verdict = client.post(f"{API}/certificates/verify", json={"jws": issued.json()["jws"]})
            if verdict.status_code != 200 or verdict.json().get("valid") is not True:
                report.mismatches.append(f"license {license_id}: certificate does not verify")
                continue
            report.certificates_verified += 1


def run(
    database_url: str,
    workdir: Path,
    *,
    licensees: int = 20,
    offers: int = 10,
    threads: int = 8,
    kill_after: int = 60,
) -> CrashReport:
    report = CrashReport()
    started = time.perf_counter()
    with bench_database(database_url, workdir, keep=False, name="crash") as database:
        if not database.postgresql:
            raise SystemExit("error: crash safety is shown on PostgreSQL (--database-url)")
        with _settings_of(database.url):
            migrate(database.url)
            engine = sa.create_engine(database.url)
            try:
                attempts = seed(engine, licensees=licensees, offers=offers)
                with running_server(database.url, workdir, extra_env=SERVER_ENV) as server:

                    def kill() -> None:
                        os.killpg(server.process.pid, signal.SIGKILL)

                    answered = _load(
                        server.base_url,
                        attempts,
                        threads=threads,
                        kill_after=kill_after,
                        kill=kill,
                    )
                    server.process.wait(timeout=30)
                report.sent = len(answered)
                report.answered_201 = sum(1 for value in answered.values() if value is not None)
                report.died = report.sent - report.answered_201
                with running_server(database.url, workdir, extra_env=SERVER_ENV) as server:
                    _verify(server.base_url, engine, attempts, answered, report)
            finally:
                engine.dispose()
    report.seconds = time.perf_counter() - started
    return report


def _verify(
    base_url: str,
    engine: sa.Engine,
    attempts: Sequence[Attempt],
    answered: dict[str, int | None],
    report: CrashReport,
) -> None:
    with Session(engine) as session:
        committed = {
            record.key: record.license_id
            for record in session.scalars(select(IdempotencyRecord)).all()
        }
        report.committed_at_restart = session.scalar(select(func.count()).select_from(License)) or 0
        for key, license_id in answered.items():
            if license_id is not None and committed.get(key) != license_id:
                report.mismatches.append(f"key {key}: answered 201 with {license_id}, then lost")
        _check_whole(session, report)
    # Every key again, the dead ones included.
    with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client:
        for attempt in attempts:
            response = _accept(client, attempt)
            report.replayed += 1
            before = committed.get(attempt.key)
            if before is not None:
                if response.status_code != 200 or response.json()["id"] != before:
                    report.mismatches.append(
                        f"key {attempt.key}: replay answered {response.status_code} "
                        f"{response.text[:120]}, not license {before}"
                    )
                else:
                    report.replay_same += 1
            elif response.status_code == 201:
                report.replay_created += 1
            else:
                report.mismatches.append(
                    f"key {attempt.key}: replay of a lost request answered {response.status_code}"
                )
    with Session(engine) as session:
        # Exactly one license per key: none twice, none missing.
        per_pair = session.execute(
            select(License.licensee_id, License.offer_id, func.count())
            .group_by(col(License.licensee_id), col(License.offer_id))
            .having(func.count() > 1)
        ).all()
        for licensee_id, offer_id, count in per_pair:
            report.mismatches.append(f"{count} licenses of {licensee_id} under offer {offer_id}")
        total = session.scalar(select(func.count()).select_from(License)) or 0
        if total != len(attempts):
            report.mismatches.append(f"{total} licenses for {len(attempts)} keys")
        _check_whole(session, report)
        _check_certificates(base_url, session, attempts, report)
        chain = audit.verify_chain(session=session)
        report.audit_entries = chain.checked
        if not chain.ok:
            report.mismatches.append(f"audit chain broken at entry {chain.broken_at}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server to use")
    parser.add_argument("--licensees", type=int, default=20)
    parser.add_argument("--offers", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--kill-after", type=int, default=60, help="201s before the kill")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crash-") as workdir:
        report = run(
            args.database_url,
            Path(workdir),
            licensees=args.licensees,
            offers=args.offers,
            threads=args.threads,
            kill_after=args.kill_after,
        )
    print("\n".join(report.lines()))
    for mismatch in report.mismatches[:20]:
        print(f"  {mismatch}")
    return 1 if report.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
