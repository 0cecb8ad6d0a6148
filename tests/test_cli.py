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


def test_reindex_search_rebuilds_the_index_from_the_published_listings(
    cli_database: sa.Engine,
) -> None:
    from marketplace.matching.models import ListingSearch

    assert runner.invoke(app, ["demo"]).exit_code == 0
    with Session(cli_database) as session:
        published = len(
            session.scalars(select(Listing).where(Listing.status == ListingStatus.published)).all()
        )
        session.exec(sa.delete(ListingSearch))  # type: ignore[call-overload]
        session.commit()
    result = runner.invoke(app, ["reindex-search"])
    assert result.exit_code == 0, result.output
    assert f"{published} published listing(s) indexed." in result.output
    with Session(cli_database) as session:
        assert len(session.scalars(select(ListingSearch)).all()) == published
