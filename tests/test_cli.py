"""The `marketplace` command, run against a database file of its own."""

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from marketplace.accounts.models import ApiClient, OrganizationKind, User
from marketplace.cli import app
from marketplace.config import Settings, get_settings
from marketplace.db import get_engine, get_read_engine
from marketplace.demo import DEMO_EMAILS, HISTORY_DAYS
from marketplace.licensing.models.licenses import License
from marketplace.listings.models import Listing, ListingStatus
from marketplace.patents.models import Patent
from marketplace.pledges.models import Pledge
from tests.factories import SetToday

runner = CliRunner()


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("MARKETPLACE_SECRET_KEY_FILE", str(tmp_path / "secret"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_read_engine.cache_clear()
    yield get_engine()
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_read_engine.cache_clear()


def test_migrate_creates_the_schema(cli_database: sa.Engine) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    tables = sa.inspect(cli_database).get_table_names()
    assert {"organization", "patent", "listing", "offer", "license"} <= set(tables)


def test_create_admin_makes_a_platform_admin_who_can_sign_in(cli_database: sa.Engine) -> None:
    result = runner.invoke(
        app, ["create-admin", "--email", "Ops@Example.org", "--password", "a strong passphrase"]
    )
    assert result.exit_code == 0, result.output
    with Session(cli_database) as session:
        admin = session.scalars(select(User).where(User.email == "ops@example.org")).one()
        organization_kind = session.execute(
            sa.text("SELECT kind FROM organization WHERE id = :id"), {"id": admin.organization_id}
        ).scalar_one()
    assert organization_kind == OrganizationKind.platform


def test_create_admin_refuses_a_weak_password(cli_database: sa.Engine) -> None:
    result = runner.invoke(
        app, ["create-admin", "--email", "ops@example.org", "--password", "short"]
    )
    assert result.exit_code == 1
    assert "Password too weak" in result.output
    with Session(cli_database) as session:
        assert session.scalars(select(User)).all() == []


def test_demo_loads_once_and_prints_the_accounts_every_time(cli_database: sa.Engine) -> None:
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    assert "8 patents, 7 published listings, 5 licenses, 2 registered pledges" in first.output
    with Session(cli_database) as session:
        counts = (
            len(session.scalars(select(Patent)).all()),
            len(session.scalars(select(Listing)).all()),
            len(session.scalars(select(License)).all()),
            len(session.scalars(select(Pledge)).all()),
        )
        client_id = session.scalars(select(ApiClient.client_id)).one()
    assert counts == (8, 7, 5, 2)
    assert f"client_id={client_id} client_secret=mks_" in first.output

    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0
    assert "already loaded" in second.output
    # The accounts again, and how to get a new secret for the bank's client (shown only once).
    for email in DEMO_EMAILS:
        assert email in second.output
    assert f"marketplace reset-client-secret {client_id}" in second.output
    with Session(cli_database) as session:
        assert len(session.scalars(select(Patent)).all()) == 8


def test_demo_licenses_follow_the_lawful_sequence(cli_database: sa.Engine) -> None:
    """The demo shows the lawful sequence (Patent Law art. 51): lump sums accepted (the notice,
    told to the university), paid, confirmed and only then in force, resting on that payment; a
    running royalty in force on the notice; a hybrid license still awaiting its entry fee."""
    from marketplace.events.models import Event
    from marketplace.licensing.models.obligations import Obligation, Payment

    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        licenses = session.scalars(select(License)).all()
        paid = {payment.id: payment for payment in session.scalars(select(Payment))}
        kinds = {
            (event.subject, event.recipient_id, event.type)
            for event in session.scalars(select(Event))
        }
        by_type: dict[str, list[License]] = {}
        for license_ in licenses:
            by_type.setdefault(license_.terms["offer"]["royalty_type"], []).append(license_)
        hybrid = by_type["hybrid"][0]
        hybrid_fee = session.scalars(
            select(Obligation).where(Obligation.license_id == hybrid.id)
        ).one()
    assert {kind: len(group) for kind, group in by_type.items()} == {
        "lump_sum": 3,
        "running": 1,
        "hybrid": 1,
    }
    for license_ in by_type["lump_sum"]:
        assert license_.status == "active"
        resting_on = license_.terms["payment"]
        payment = paid[resting_on["payment_id"]]
        assert (payment.status, payment.licensee_id) == ("confirmed", license_.licensee_id)
        assert resting_on["amount"] == license_.terms["offer"]["upfront_fee"]
        assert license_.effective_date.isoformat() == resting_on["confirmed_on"]
        subject = f"license:{license_.id}"
        assert (subject, license_.licensor_id, "license.accepted") in kinds
        assert (subject, license_.licensee_id, "license.in_force") in kinds
    assert by_type["running"][0].status == "active"
    assert (hybrid.status, hybrid_fee.kind, hybrid_fee.status) == (
        "pending_payment",
        "upfront",
        "due",
    )


def test_demo_running_license_can_report_its_first_quarter(cli_database: sa.Engine) -> None:
    """The running-royalty license took effect before the demo was loaded: its first quarter
    has ended, so the licensee files its report and pays the royalty now."""
    from marketplace import clock
    from marketplace.licensing import payments, royalty_reports
    from marketplace.licensing.models.obligations import PaymentCreate
    from marketplace.licensing.models.royalty_reports import RoyaltyReportCreate
    from marketplace.patents.service import add_months

    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        running = next(
            item
            for item in session.scalars(select(License))
            if item.terms["offer"]["royalty_type"] == "running"
        )
        start = running.effective_date
        assert start == clock.today() - timedelta(days=HISTORY_DAYS)
        quarter_end = add_months(start, 3) - timedelta(days=1)
        assert quarter_end < clock.today()
        _report, obligation = royalty_reports.file_report(
            session=session,
            license_=running,
            organization_id=running.licensee_id,
            user=None,
            data=RoyaltyReportCreate(
                period_start=start,
                period_end=quarter_end,
                net_sales=Decimal("500000"),
                currency="CNY",
            ),
        )
        assert obligation is not None
        assert obligation.amount == 20000  # 4 % of the net sales
        assert obligation.status == "due"  # not overdue: reported in time
        payments.record_payment(
            session=session,
            obligation_id=obligation.id or 0,
            organization_id=running.licensee_id,
            user=None,
            data=PaymentCreate(amount=Decimal("20000"), paid_on=clock.today(), reference="TT-1"),
        )


def test_demo_shows_export_review_pledges_and_consent_with_office_numbers(
    cli_database: sa.Engine,
) -> None:
    """A foreign enterprise and a flagged technology (export review), two registered pledges,
    one on a declared patent with the bank's consent; every office number is an example in the
    configured pattern, none of the platform's own."""
    import re

    from marketplace.accounts.models import Organization
    from marketplace.licensing.models.export_review import ExportControl
    from marketplace.pledges.models import PledgeConsent

    assert runner.invoke(app, ["demo"]).exit_code == 0
    settings = get_settings()
    with Session(cli_database) as session:
        foreign = session.scalars(select(Organization).where(Organization.country != "CN")).all()
        controls = session.scalars(select(ExportControl)).all()
        pledges = session.scalars(select(Pledge)).all()
        consents = session.scalars(select(PledgeConsent)).all()
        listings = session.scalars(select(Listing)).all()
        licenses = session.scalars(select(License)).all()
    assert [(org.country, org.kind, org.verification) for org in foreign] == [
        ("DE", "enterprise", "verified")
    ]
    assert [control.ipc_prefix for control in controls] == ["B22F 10"]
    assert {pledge.status for pledge in pledges} == {"registered"}
    assert len(consents) == 1
    for pledge in pledges:
        assert pledge.registration_number is not None
        assert re.fullmatch(settings.pledge_registration_number_pattern, pledge.registration_number)
        assert not pledge.registration_number_platform_assigned
    for listing in listings:
        assert listing.status == ListingStatus.published
        assert listing.announcement_number is not None
        assert re.fullmatch(settings.announcement_number_pattern, listing.announcement_number)
        assert not listing.announcement_number.startswith(("OL", "DEMO"))
    # The consent keeps the pledged declaration open: nothing on the demo is suspended.
    assert all(license_.status != "export_refused" for license_ in licenses)


def test_reset_client_secret_replaces_the_secret_once_and_is_audited(
    cli_database: sa.Engine,
) -> None:
    from marketplace.accounts import service as accounts
    from marketplace.accounts.errors import InvalidClient
    from marketplace.audit.models import AuditEvent

    first = runner.invoke(app, ["demo"])
    old_secret = first.output.split("client_secret=")[1].split()[0]
    with Session(cli_database) as session:
        client_id = session.scalars(select(ApiClient.client_id)).one()

    result = runner.invoke(app, ["reset-client-secret", client_id])
    assert result.exit_code == 0, result.output
    new_secret = result.output.split("client_secret=")[1].split()[0]
    assert new_secret.startswith("mks_")
    assert new_secret != old_secret
    with Session(cli_database) as session:
        issued = accounts.client_credentials_grant(
            session=session, client_id=client_id, client_secret=new_secret, scope=None
        )
        assert issued.access_token
        with pytest.raises(InvalidClient):
            accounts.client_credentials_grant(
                session=session, client_id=client_id, client_secret=old_secret, scope=None
            )
        entries = session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "api_client")
        ).all()
        stored = session.scalars(select(ApiClient)).one()
    assert [entry.action for entry in entries] == ["created", "updated"]
    assert set(entries[1].changes) == {"credentials_reset_at"}
    assert new_secret not in str(entries[1].changes)
    assert stored.secret_hash != new_secret


def test_reset_client_secret_refuses_an_unknown_or_revoked_client(cli_database: sa.Engine) -> None:
    assert runner.invoke(app, ["demo"]).exit_code == 0
    unknown = runner.invoke(app, ["reset-client-secret", "mkc_nobody"])
    assert unknown.exit_code == 1
    assert "does not exist" in unknown.output
    with Session(cli_database) as session:
        client = session.scalars(select(ApiClient)).one()
        client.revoked_at = client.created_at
        session.add(client)
        session.commit()
        client_id = client.client_id
    revoked = runner.invoke(app, ["reset-client-secret", client_id])
    assert revoked.exit_code == 1
    assert "revoked" in revoked.output


def test_demo_is_refused_in_production(
    cli_database: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKETPLACE_ENVIRONMENT", "production")
    get_settings.cache_clear()
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1
    assert "not loaded in production" in result.output


def test_sweep_lapses_listings_whose_patents_left_force(cli_database: sa.Engine, set_today) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(app, ["demo"]).exit_code == 0
    # By the end of 2028 every demo patent's annual fee is unpaid past the late-payment period,
    # while the three-year licenses granted in 2026 still run.
    set_today(date(2028, 12, 31))
    result = runner.invoke(app, ["sweep"])
    assert result.exit_code == 0, result.output
    assert "7 listing(s) lapsed, 0 license(s) expired" in result.output
    with Session(cli_database) as session:
        statuses = {listing.status for listing in session.scalars(select(Listing))}
        licenses = session.scalars(select(License)).all()
    assert statuses == {ListingStatus.lapsed}
    # Lapsing ends the declaration, never the licenses granted under it (the demo's hybrid
    # license, never paid for, lapsed unpaid long before).
    assert sorted(license_.status for license_ in licenses) == ["active"] * 4 + ["lapsed_unpaid"]


def test_sweep_expires_licenses_at_the_end_of_their_term(
    cli_database: sa.Engine, set_today: SetToday
) -> None:
    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        in_force = session.scalars(select(License).where(License.status == "active")).all()
    # The three-year lump sums end first, the five-year running royalty later.
    ends = sorted({license_.expires_on for license_ in in_force})
    expected = [sum(1 for item in in_force if item.expires_on == end) for end in ends]
    for last_day, ending in zip(ends, expected, strict=True):
        set_today(last_day)
        assert "0 license(s) expired" in runner.invoke(app, ["sweep"]).output
        set_today(last_day + timedelta(days=1))
        assert f"{ending} license(s) expired" in runner.invoke(app, ["sweep"]).output
    with Session(cli_database) as session:
        statuses = sorted(license_.status for license_ in session.scalars(select(License)))
    # The demo's hybrid license was never paid for: it lapsed unpaid instead.
    assert statuses == ["expired"] * len(in_force) + ["lapsed_unpaid"]


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "keys"
    monkeypatch.setenv("MARKETPLACE_SIGNING_KEYS_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()


def test_keys_rotate_adds_an_active_key_and_list_shows_them(
    cli_database: sa.Engine, keys_dir: Path
) -> None:
    from marketplace import signing_keys

    signing_keys.forget()
    empty = runner.invoke(app, ["keys", "list"])
    assert empty.exit_code == 1
    assert "keys rotate" in empty.output

    first = runner.invoke(app, ["keys", "rotate"])
    second = runner.invoke(app, ["keys", "rotate"])
    listed = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})

    assert (first.exit_code, second.exit_code, listed.exit_code) == (0, 0, 0)
    key_set = signing_keys.load(create=False)
    assert len(key_set.keys) == 2
    assert key_set.active_kid in second.output
    old_kid = next(kid for kid in key_set.keys if kid != key_set.active_kid)
    assert old_kid in first.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if "│" in line}
    assert "active" in rows[key_set.active_kid]
    assert "retired" in rows[old_kid]
    # Keys live in the database, encrypted; nothing is written to the key directory.
    assert not keys_dir.exists()
    with Session(cli_database) as session:
        stored = session.scalars(select(signing_keys.SigningKeyRecord)).all()
        assert all("PRIVATE KEY" not in record.private_key_encrypted for record in stored)
    signing_keys.forget()


def test_keys_import_moves_a_key_directory_into_the_database(
    cli_database: sa.Engine, keys_dir: Path
) -> None:
    from marketplace import signing, signing_keys

    signing_keys.forget()
    old_kid = signing.rotate(keys_dir)
    active_kid = signing.rotate(keys_dir)

    moved = runner.invoke(app, ["keys", "import"])
    again = runner.invoke(app, ["keys", "import", str(keys_dir)])

    assert moved.exit_code == 0, moved.output
    assert "2 key(s) moved" in moved.output
    assert "0 key(s) moved" in again.output
    key_set = signing_keys.load(create=False)
    assert set(key_set.keys) == {old_kid, active_kid}
    assert key_set.active_kid == active_kid
    signing_keys.forget()


def test_serve_makes_the_first_key_outside_production_only(
    cli_database: sa.Engine,
    keys_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from marketplace import signing_keys
    from marketplace.cli import _ensure_certificate_keys

    assert runner.invoke(app, ["migrate"]).exit_code == 0
    signing_keys.forget()
    monkeypatch.setenv("MARKETPLACE_ENVIRONMENT", "production")
    monkeypatch.setenv("MARKETPLACE_SECRET_KEY", "x" * 40)
    get_settings.cache_clear()
    _ensure_certificate_keys()
    assert signing_keys.records() == []
    assert "certificates are disabled" in capsys.readouterr().err

    monkeypatch.setenv("MARKETPLACE_ENVIRONMENT", "development")
    get_settings.cache_clear()
    _ensure_certificate_keys()
    assert len(signing_keys.records()) == 1
    assert not keys_dir.exists()
    signing_keys.forget()


def test_sweep_settles_minimum_royalties_and_announces_overdue_obligations(
    cli_database: sa.Engine, set_today: SetToday
) -> None:
    from marketplace.events.models import Event
    from marketplace.licensing.models.obligations import (
        MinimumRoyaltyYear,
        Obligation,
        ObligationKind,
    )
    from tests import factories
    from tests.licensing.royalty_builders import Q1, file, license_for, report_data

    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        # The demo's licenses in force are lump sums, paid before they took effect, and a
        # running royalty without a minimum: add a hybrid one (its entry fee paid) with a
        # minimum annual royalty, and a royalty report whose royalty goes unpaid.
        hybrid = license_for(
            session,
            factories.organization(session, kind=OrganizationKind.university),
            factories.organization(session),
        )
        set_today(date(2026, 9, 20))
        file(session, hybrid, report_data(Q1, "100000"))
        session.commit()
    with Session(cli_database) as session:
        first_years = session.scalars(
            select(MinimumRoyaltyYear).where(MinimumRoyaltyYear.year_index == 0)
        ).all()
        upfront = session.scalars(
            select(Obligation)
            .join(License, License.id == Obligation.license_id)  # type: ignore[arg-type]
            .where(Obligation.kind == ObligationKind.upfront, License.status == "active")
        ).all()
        unpaid = session.scalars(
            select(Obligation).where(Obligation.kind == ObligationKind.royalty)
        ).all()
    assert first_years
    assert {fee.status for fee in upfront} == {"paid"}
    assert len(unpaid) == 1
    set_today(max(year.settles_on for year in first_years) + timedelta(days=1))
    output = runner.invoke(app, ["sweep"]).output
    assert f"{len(first_years)} minimum-royalty year(s) settled" in output
    with Session(cli_database) as session:
        shortfalls = session.scalars(
            select(Obligation).where(Obligation.kind == ObligationKind.minimum_shortfall)
        ).all()
        overdue_events = session.scalars(select(Event).where(Event.type == "obligation.overdue"))
        # The one report's royalty falls short of the minimum: each first year owes the rest.
        assert len(shortfalls) == len(first_years)
        assert {event.subject for event in overdue_events} == {f"obligation:{unpaid[0].id}"}
    assert "1 obligation(s) overdue" in output
    assert (
        "0 minimum-royalty year(s) settled, 0 obligation(s) overdue"
        in runner.invoke(app, ["sweep"]).output
    )


# marketplace import ------------------------------------------------------------------------------


def _import_owner(engine: sa.Engine, kind: OrganizationKind = OrganizationKind.university) -> int:
    from tests import factories

    assert runner.invoke(app, ["migrate"]).exit_code == 0
    with Session(engine) as session:
        org = factories.organization(session, kind=kind)
        session.commit()
        assert org.id is not None
        return org.id


def _import_csv(tmp_path: Path, *numbers: str) -> Path:
    lines = ["application_number,title,filing_date,ipc_codes,inventors"]
    lines += [
        f"{number},Cathode {index},2021-03-02,H01M4/36;G06F16/33,Li Wei"
        for index, number in enumerate(numbers)
    ]
    path = tmp_path / "patents.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_patents_from_csv_is_idempotent(cli_database: sa.Engine, tmp_path: Path) -> None:
    from tests import factories

    owner = _import_owner(cli_database)
    numbers = [factories.application_number() for _ in range(3)]
    path = _import_csv(tmp_path, *numbers)

    first = runner.invoke(app, ["import", "patents", str(path), "--org", str(owner)])
    again = runner.invoke(app, ["import", "patents", str(path), "--org", str(owner)])

    assert first.exit_code == 0, first.output
    assert "3 row(s): 3 created, 0 updated, 0 unchanged, 0 failed." in first.output
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 3 unchanged" in again.output
    with Session(cli_database) as session:
        stored = session.scalars(select(Patent).where(Patent.owner_id == owner)).all()
        assert sorted(patent.application_number for patent in stored) == sorted(numbers)
        assert stored[0].ipc_codes == ["H01M 4/36", "G06F 16/33"]


def test_import_patents_reports_bad_rows_and_exits_1(
    cli_database: sa.Engine, tmp_path: Path
) -> None:
    from tests import factories

    owner = _import_owner(cli_database)
    good = factories.application_number()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    path = tmp_path / "patents.jsonl"
    path.write_text(
        f'{{"application_number": "{good}", "title": "A", "filing_date": "2021-03-02"}}\n'
        "{broken\n"
        f'{{"application_number": "{bad}", "title": "B", "filing_date": "2021-03-02"}}\n',
        encoding="utf-8",
    )
    report = tmp_path / "errors.csv"

    result = runner.invoke(
        app, ["import", "patents", str(path), "--org", str(owner), "--errors", str(report)]
    )

    assert result.exit_code == 1, result.output
    assert "1 created, 0 updated, 0 unchanged, 2 failed" in result.output
    import csv

    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [(row["line"], row["code"]) for row in rows] == [
        ("2", "invalid_json"),
        ("3", "validation_failed"),
    ]
    assert rows[1]["application_number"] == bad
    assert rows[1]["fields"].startswith("application_number: check character")


def test_import_patents_refuses_an_unreadable_file_with_exit_2(
    cli_database: sa.Engine, tmp_path: Path
) -> None:
    owner = _import_owner(cli_database)
    path = tmp_path / "patents.csv"
    path.write_text("number,name\n1,2\n", encoding="utf-8")

    result = runner.invoke(app, ["import", "patents", str(path), "--org", str(owner)])

    assert result.exit_code == 2
    assert "Unknown CSV column" in result.output


def test_import_patents_refuses_a_bank(cli_database: sa.Engine, tmp_path: Path) -> None:
    from tests import factories

    bank = _import_owner(cli_database, OrganizationKind.bank)
    path = _import_csv(tmp_path, factories.application_number())
    result = runner.invoke(app, ["import", "patents", str(path), "--org", str(bank)])
    assert result.exit_code == 2
    with Session(cli_database) as session:
        assert session.scalars(select(Patent)).first() is None


def test_import_resume_runs_stale_jobs(cli_database: sa.Engine, tmp_path: Path) -> None:
    from marketplace import clock
    from marketplace.patents.import_models import ImportFile, ImportFormat, ImportJob, ImportStatus
    from tests import factories

    owner = _import_owner(cli_database)
    content = _import_csv(tmp_path, factories.application_number()).read_bytes()
    with Session(cli_database) as session:
        job = ImportJob(
            organization_id=owner,
            format=ImportFormat.csv,
            filename="patents.csv",
            size_bytes=len(content),
            status=ImportStatus.running,
            heartbeat_at=clock.now() - timedelta(hours=2),
        )
        session.add(job)
        session.flush()
        assert job.id is not None
        session.add(ImportFile(job_id=job.id, content=content))
        session.commit()
        job_id = job.id

    result = runner.invoke(app, ["import", "resume"])

    assert result.exit_code == 0, result.output
    assert f"1 import job(s) run: [{job_id}]" in result.output
    with Session(cli_database) as session:
        done = session.get_one(ImportJob, job_id)
        assert done.status == ImportStatus.succeeded
        assert done.created_count == 1


def test_reindex_search_rebuilds_the_index_from_the_published_listings(
    cli_database: sa.Engine,
) -> None:
    from marketplace.matching.models import ListingSearch

    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        published = len(
            session.scalars(select(Listing).where(Listing.status == ListingStatus.published)).all()
        )
        session.execute(sa.delete(ListingSearch))
        session.commit()
    result = runner.invoke(app, ["reindex-search"])
    assert result.exit_code == 0, result.output
    assert f"{published} published listing(s) indexed." in result.output
    with Session(cli_database) as session:
        assert len(session.scalars(select(ListingSearch)).all()) == published


def test_serve_believes_proxy_headers_only_from_configured_proxies() -> None:
    from marketplace.cli import _server_options

    default = _server_options(Settings(), "127.0.0.1", 8000, 2)
    assert default["proxy_headers"] is False

    proxies = Settings(trusted_proxies=" 10.0.0.5, 10.1.0.0/16 ")
    behind_proxy = _server_options(proxies, "127.0.0.1", 8000, 2)
    assert behind_proxy["proxy_headers"] is True
    assert behind_proxy["forwarded_allow_ips"] == "10.0.0.5,10.1.0.0/16"
