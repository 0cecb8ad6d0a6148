"""Conversion figures computed by the service, group by group."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.errors import MarketplaceError
from marketplace.licensing import payments
from marketplace.licensing.models.obligations import Obligation, ObligationKind, PaymentCreate
from marketplace.listings.models import RoyaltyType
from marketplace.stats import service as stats
from marketplace.stats.errors import InvalidPeriod, StatsNotAvailable
from marketplace.stats.models import ConversionRow, ConversionStats, StatsGroup
from tests import factories
from tests.factories import NewParty, SetNow
from tests.stats.conftest import Portfolio, accept


def report(
    session: Session, portfolio: Portfolio, group_by: StatsGroup, **period: date
) -> ConversionStats:
    return stats.conversion_stats(
        session=session, owner_id=portfolio.university.id, group_by=group_by, **period
    )


def by_group(result: ConversionStats) -> dict[str | None, ConversionRow]:
    return {row.group: row for row in result.rows}


def test_totals(session: Session, portfolio: Portfolio) -> None:
    totals = report(session, portfolio, StatsGroup.year).totals

    assert totals.patents == 3
    assert totals.licensed_patents == 2
    assert totals.licensed_patent_ratio == pytest.approx(0.6667)
    assert (totals.listings_published, totals.listings_withdrawn) == (2, 1)
    assert totals.licenses == 3
    assert totals.licenses_by_royalty_type == {
        "lump_sum": 2,
        "running": 1,
        "per_unit": 0,
        "hybrid": 0,
        "profit_share": 0,
    }


def test_by_year_patents_by_filing_year_events_by_the_year_they_happened(
    session: Session, portfolio: Portfolio
) -> None:
    rows = by_group(report(session, portfolio, StatsGroup.year))

    assert list(rows) == ["2019", "2020", "2026"]
    assert (rows["2019"].patents, rows["2019"].licensed_patents) == (1, 1)
    assert (rows["2020"].patents, rows["2020"].licensed_patents) == (2, 1)
    assert rows["2020"].licensed_patent_ratio == 0.5
    assert rows["2026"].patents == 0
    assert rows["2026"].licensed_patent_ratio is None
    assert (rows["2026"].listings_published, rows["2026"].listings_withdrawn) == (2, 1)
    assert rows["2026"].licenses == 3


def test_by_ipc_section(session: Session, portfolio: Portfolio) -> None:
    rows = by_group(report(session, portfolio, StatsGroup.ipc_section))

    assert set(rows) == {"G", "H"}
    assert (rows["H"].patents, rows["H"].licensed_patents, rows["H"].licenses) == (1, 1, 2)
    assert rows["H"].licenses_by_royalty_type[RoyaltyType.lump_sum] == 2
    assert (rows["G"].patents, rows["G"].licensed_patents, rows["G"].licenses) == (2, 1, 1)
    assert (rows["G"].listings_published, rows["G"].listings_withdrawn) == (1, 1)


def test_by_department_keeps_the_unrecorded_group_last(
    session: Session, portfolio: Portfolio
) -> None:
    result = report(session, portfolio, StatsGroup.department)

    assert [row.group for row in result.rows] == ["Computing", "Materials", None]
    rows = by_group(result)
    assert (rows["Materials"].patents, rows["Materials"].licenses) == (1, 2)
    assert (rows["Computing"].patents, rows["Computing"].listings_withdrawn) == (1, 1)
    assert (rows[None].patents, rows[None].licensed_patents, rows[None].licenses) == (1, 0, 0)


def test_by_region_of_the_owner(session: Session, portfolio: Portfolio) -> None:
    rows = by_group(report(session, portfolio, StatsGroup.region))

    assert list(rows) == ["Hubei"]
    assert rows["Hubei"].model_dump(exclude={"group"}) == (
        report(session, portfolio, StatsGroup.year).totals.model_dump()
    )


def test_period_limits_events_not_the_stock_of_patents(
    session: Session, portfolio: Portfolio
) -> None:
    later = report(session, portfolio, StatsGroup.year, period_start=date(2026, 6, 16)).totals
    assert later.patents == 3
    assert (later.licensed_patents, later.listings_published, later.licenses) == (0, 0, 0)

    same_day = report(
        session,
        portfolio,
        StatsGroup.year,
        period_start=date(2026, 6, 15),
        period_end=date(2026, 6, 15),
    ).totals
    assert (same_day.licensed_patents, same_day.listings_published, same_day.licenses) == (2, 2, 3)

    earlier = report(session, portfolio, StatsGroup.year, period_end=date(2026, 6, 14)).totals
    assert (earlier.listings_published, earlier.listings_withdrawn, earlier.licenses) == (0, 0, 0)


def test_a_bundle_counts_once_in_the_totals_and_in_each_group(
    session: Session, new_party: NewParty
) -> None:
    owner = new_party(kind=OrganizationKind.research_institute)
    bundle = [
        factories.patent(session, owner.organization, ipc_codes=["A61K 31/00"]),
        factories.patent(session, owner.organization, ipc_codes=["C07D 401/00"]),
    ]
    factories.published_listing(session, owner.organization, patent_list=bundle)

    result = stats.conversion_stats(
        session=session, owner_id=owner.id, group_by=StatsGroup.ipc_section
    )

    assert {row.group: row.listings_published for row in result.rows} == {"A": 1, "C": 1}
    assert result.totals.listings_published == 1


def test_another_licensors_figures_stay_out(
    session: Session, portfolio: Portfolio, new_party: NewParty
) -> None:
    other = new_party(kind=OrganizationKind.university, region="Hubei")
    factories.published_listing(session, other.organization)

    totals = report(session, portfolio, StatsGroup.region).totals

    assert (totals.patents, totals.listings_published) == (3, 2)


def test_whole_platform_includes_every_licensor(
    session: Session, portfolio: Portfolio, new_party: NewParty
) -> None:
    other = new_party(kind=OrganizationKind.university, region="Sichuan")
    factories.published_listing(session, other.organization)

    rows = by_group(
        stats.conversion_stats(session=session, owner_id=None, group_by=StatsGroup.region)
    )

    assert (rows["Hubei"].patents, rows["Hubei"].listings_published) == (3, 2)
    assert (rows["Sichuan"].patents, rows["Sichuan"].listings_published) == (1, 1)


def test_csv_has_a_line_per_group_and_the_totals(session: Session, portfolio: Portfolio) -> None:
    lines = stats.to_csv(report(session, portfolio, StatsGroup.ipc_section)).splitlines()

    assert lines[0] == (
        "group,patents,licensed_patents,licensed_patent_ratio,listings_published,"
        "listings_withdrawn,licenses,licenses_lump_sum,licenses_running,licenses_per_unit,"
        "licenses_hybrid,licenses_profit_share,royalty_income_CNY,outstanding_CNY"
    )
    # The two lump sums of 10,000 were paid and confirmed (the licenses rest on them).
    assert lines[1:] == [
        "G,2,1,0.5,1,1,1,0,1,0,0,0,0,0",
        "H,1,1,1.0,1,0,2,2,0,0,0,0,20000.00,0",
        "total,3,2,0.6667,2,1,3,2,1,0,0,0,20000.00,0",
    ]


def test_income_is_confirmed_payments_and_outstanding_what_is_still_owed(
    session: Session, portfolio: Portfolio
) -> None:
    # A third licensee of the lump sum has not paid: its license waits for the fee, which is
    # owed, and is not counted as a license.
    accept(session, portfolio.lump_sum_offer_id, factories.organization(session), paid=False)
    upfront = session.scalars(
        select(Obligation)
        .where(col(Obligation.licensor_id) == portfolio.university.id)
        .where(col(Obligation.kind) == ObligationKind.upfront)
        .order_by(col(Obligation.id))
    ).all()
    assert [item.amount for item in upfront] == [Decimal("10000.00")] * 3
    unpaid = upfront[2]
    assert (
        report(session, portfolio, StatsGroup.year).totals.licenses_by_royalty_type[
            RoyaltyType.lump_sum
        ]
        == 2
    )
    # Part of it paid and confirmed; a payment recorded but not confirmed is neither income nor
    # a reduction of what is owed.
    payment = payments.record_payment(
        session=session,
        obligation_id=unpaid.id or 0,
        organization_id=unpaid.licensee_id,
        user=None,
        data=PaymentCreate(amount=Decimal("2500.00"), paid_on=date(2026, 6, 15), reference="TT"),
    )
    payments.confirm_payment(
        session=session,
        payment_id=payment.id or 0,
        organization_id=portfolio.university.id,
        user=None,
    )
    payments.record_payment(
        session=session,
        obligation_id=unpaid.id or 0,
        organization_id=unpaid.licensee_id,
        user=None,
        data=PaymentCreate(amount=Decimal("100.00"), paid_on=date(2026, 6, 15), reference="X"),
    )

    result = report(session, portfolio, StatsGroup.year)

    assert result.totals.royalty_income == {"CNY": Decimal("22500.00")}
    assert result.totals.outstanding == {"CNY": Decimal("7500.00")}
    rows = by_group(result)
    assert rows["2026"].royalty_income == {"CNY": Decimal("22500.00")}
    assert rows["2026"].outstanding == {"CNY": Decimal("7500.00")}
    by_section = by_group(report(session, portfolio, StatsGroup.ipc_section))
    assert by_section["H"].royalty_income == {"CNY": Decimal("22500.00")}
    assert by_section["G"].royalty_income == {}
    later = report(session, portfolio, StatsGroup.year, period_start=date(2026, 7, 1)).totals
    assert later.royalty_income == {}


def test_period_that_ends_before_it_starts_is_refused(
    session: Session, portfolio: Portfolio
) -> None:
    with pytest.raises(InvalidPeriod):
        report(
            session,
            portfolio,
            StatsGroup.year,
            period_start=date(2026, 2, 1),
            period_end=date(2026, 1, 31),
        )


def test_only_licensors_and_admins_have_a_scope(new_party: NewParty) -> None:
    """Enterprises own and declare patents too (LICENSOR_KINDS); banks never do."""
    caller = new_party(kind=OrganizationKind.bank)
    with pytest.raises(StatsNotAvailable):
        stats.report_scope(caller=factories.caller(caller.organization), owner_id=None)


@pytest.mark.parametrize("kind", [OrganizationKind.university, OrganizationKind.enterprise])
def test_scope_of_a_licensor_is_itself(new_party: NewParty, kind: OrganizationKind) -> None:
    university = new_party(kind=kind)
    assert (
        stats.report_scope(caller=factories.caller(university.organization), owner_id=None)
        == university.id
    )
    with pytest.raises(MarketplaceError) as refused:
        stats.report_scope(
            caller=factories.caller(university.organization), owner_id=university.id + 1
        )
    assert refused.value.code == "stats_not_available"
    admin = new_party(kind=OrganizationKind.platform)
    assert stats.report_scope(caller=factories.caller(admin.organization), owner_id=None) is None


def test_a_publication_late_in_the_utc_day_counts_in_the_next_china_day_and_year(
    session: Session, new_party: NewParty, set_now: SetNow
) -> None:
    """23:30 UTC is 07:30 the next day in China, the marketplace's calendar: a period and a
    year count the publication on that day, as every other date of the marketplace does."""
    university = new_party(kind=OrganizationKind.university)
    set_now(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    factories.published_listing(session, university.organization)

    def published(group_by: StatsGroup = StatsGroup.year, **period: date) -> ConversionStats:
        return stats.conversion_stats(
            session=session, owner_id=university.organization.id, group_by=group_by, **period
        )

    new_year = date(2027, 1, 1)
    assert published(period_start=new_year, period_end=new_year).totals.listings_published == 1
    old_year_end = date(2026, 12, 31)
    assert (
        published(period_start=old_year_end, period_end=old_year_end).totals.listings_published == 0
    )
    assert published(period_end=old_year_end).totals.listings_published == 0
    assert published(period_start=new_year).totals.listings_published == 1
    rows = by_group(published())
    assert rows["2027"].listings_published == 1
    assert "2026" not in rows or rows["2026"].listings_published == 0
