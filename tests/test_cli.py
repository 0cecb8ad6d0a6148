"""The `marketplace` command, run against a database file of its own."""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from marketplace.accounts.models import OrganizationKind, User
from marketplace.cli import app
from marketplace.config import get_settings
from marketplace.db import get_engine
from marketplace.licensing.models import License
from marketplace.listings.models import Listing, ListingStatus
from marketplace.patents.models import Patent
from marketplace.pledges.models import Pledge

runner = CliRunner()


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("MARKETPLACE_SECRET_KEY_FILE", str(tmp_path / "secret"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield get_engine()
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


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


def test_demo_loads_once(cli_database: sa.Engine) -> None:
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    assert "published listings" in first.output
    with Session(cli_database) as session:
        counts = (
            len(session.scalars(select(Patent)).all()),
            len(session.scalars(select(Listing)).all()),
            len(session.scalars(select(License)).all()),
            len(session.scalars(select(Pledge)).all()),
        )
    assert counts == (8, 7, 3, 1)

    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0
    assert "already loaded" in second.output
    with Session(cli_database) as session:
        assert len(session.scalars(select(Patent)).all()) == 8


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
    # Lapsing ends the declaration, never the licenses granted under it.
    assert {license_.status for license_ in licenses} == {"active"}


def test_sweep_expires_licenses_at_the_end_of_their_term(
    cli_database: sa.Engine, set_today
) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        last_day = max(license_.expires_on for license_ in session.scalars(select(License)))
    set_today(last_day)
    assert "0 license(s) expired" in runner.invoke(app, ["sweep"]).output
    set_today(last_day + timedelta(days=1))
    assert "3 license(s) expired" in runner.invoke(app, ["sweep"]).output
    with Session(cli_database) as session:
        assert {license_.status for license_ in session.scalars(select(License))} == {"expired"}


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "keys"
    monkeypatch.setenv("MARKETPLACE_SIGNING_KEYS_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()


def test_keys_rotate_adds_an_active_key_and_list_shows_them(keys_dir: Path) -> None:
    from marketplace import signing

    empty = runner.invoke(app, ["keys", "list"])
    assert empty.exit_code == 1
    assert "keys rotate" in empty.output

    first = runner.invoke(app, ["keys", "rotate"])
    second = runner.invoke(app, ["keys", "rotate"])
    listed = runner.invoke(app, ["keys", "list"], env={"COLUMNS": "200"})

    assert (first.exit_code, second.exit_code, listed.exit_code) == (0, 0, 0)
    key_set = signing.load_key_set(keys_dir, create=False)
    assert len(key_set.keys) == 2
    assert key_set.active_kid in second.output
    old_kid = next(kid for kid in key_set.keys if kid != key_set.active_kid)
    assert old_kid in first.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if "│" in line}
    assert "active" in rows[key_set.active_kid]
    assert "retired" in rows[old_kid]


def test_serve_makes_the_first_key_outside_production_only(
    keys_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from marketplace.cli import _ensure_certificate_keys

    monkeypatch.setenv("MARKETPLACE_ENVIRONMENT", "production")
    monkeypatch.setenv("MARKETPLACE_SECRET_KEY", "x" * 40)
    get_settings.cache_clear()
    _ensure_certificate_keys()
    assert not keys_dir.exists()
    assert "certificates are disabled" in capsys.readouterr().err

    monkeypatch.setenv("MARKETPLACE_ENVIRONMENT", "development")
    get_settings.cache_clear()
    _ensure_certificate_keys()
    assert (keys_dir / "active").is_file()


def test_sweep_settles_minimum_royalties_and_announces_overdue_obligations(
    cli_database: sa.Engine, set_today
) -> None:  # type: ignore[no-untyped-def]
    from marketplace.events.models import Event
    from marketplace.licensing.models import MinimumRoyaltyYear, Obligation, ObligationKind
    from tests import factories
    from tests.licensing.royalty_builders import license_for

    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        # The demo's licenses are lump sums: add a hybrid one with a minimum annual royalty.
        license_for(
            session,
            factories.organization(session, kind=OrganizationKind.university),
            factories.organization(session),
        )
        session.commit()
    with Session(cli_database) as session:
        first_years = session.scalars(
            select(MinimumRoyaltyYear).where(MinimumRoyaltyYear.year_index == 0)
        ).all()
        upfront = session.scalars(
            select(Obligation).where(Obligation.kind == ObligationKind.upfront)
        ).all()
    assert first_years
    assert upfront
    set_today(max(year.settles_on for year in first_years) + timedelta(days=1))
    output = runner.invoke(app, ["sweep"]).output
    assert f"{len(first_years)} minimum-royalty year(s) settled" in output
    with Session(cli_database) as session:
        shortfalls = session.scalars(
            select(Obligation).where(Obligation.kind == ObligationKind.minimum_shortfall)
        ).all()
        overdue_events = session.scalars(select(Event).where(Event.type == "obligation.overdue"))
        # No reports were filed: each first year owes its whole minimum.
        assert len(shortfalls) == len(first_years)
        assert len({event.subject for event in overdue_events}) == len(upfront)
    assert f"{len(upfront)} obligation(s) overdue" in output
    assert (
        "0 minimum-royalty year(s) settled, 0 obligation(s) overdue"
        in runner.invoke(app, ["sweep"]).output
    )
