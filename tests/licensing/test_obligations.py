"""Obligations: what acceptance makes due, the minimum annual royalty, lists, the calendar and
overdue notices; the services, without HTTP."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.licensing import errors, obligations
from marketplace.licensing.models.licenses import License, PartyRole
from marketplace.licensing.models.obligations import (
    MinimumRoyaltyYear,
    ObligationKind,
    ObligationStatus,
)
from marketplace.licensing.service import terminate_license
from marketplace.pagination import PageParams
from tests import factories
from tests.licensing.royalty_builders import (
    Q1,
    Q2,
    Q3,
    Q4,
    confirm,
    events_of,
    file,
    license_for,
    obligations_of,
    pay,
    report_data,
)

SetToday = Callable[[date], None]
PAGE = PageParams(limit=200)


# At acceptance -------------------------------------------------------------------------------


def test_acceptance_makes_the_upfront_fee_due_and_its_confirmation_schedules_minimum_years(
    session: Session, unpaid_hybrid: License, set_today: SetToday
) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    assert upfront.kind is ObligationKind.upfront
    assert upfront.amount == Decimal("50000.00")
    assert upfront.due_date == unpaid_hybrid.payment_due_date
    assert upfront.due_date == date(2026, 6, 15) + timedelta(days=30)
    assert upfront.status is ObligationStatus.due
    assert (upfront.licensor_id, upfront.licensee_id) == (
        unpaid_hybrid.licensor_id,
        unpaid_hybrid.licensee_id,
    )

    def years() -> list[tuple[int, date, date]]:
        return [
            (y.year_index, y.start_date, y.end_date)
            for y in session.scalars(
                select(MinimumRoyaltyYear).where(MinimumRoyaltyYear.license_id == unpaid_hybrid.id)
            ).all()
        ]

    # Not in force before the fee is paid: no license year has begun.
    assert years() == []
    set_today(date(2026, 7, 1))
    confirm(session, pay(session, upfront, "50000"), unpaid_hybrid.licensor_id)
    # The license years count from the day the licensor confirmed the fee.
    assert years() == [
        (0, date(2026, 7, 1), date(2027, 6, 30)),
        (1, date(2027, 7, 1), date(2028, 6, 30)),
        (2, date(2028, 7, 1), date(2029, 6, 30)),
    ]
    first_year = session.scalars(
        select(MinimumRoyaltyYear).where(MinimumRoyaltyYear.license_id == unpaid_hybrid.id)
    ).first()
    assert first_year is not None
    assert first_year.settles_on == date(2027, 7, 30)


def test_lump_sum_owes_its_fee_once_and_no_royalty_years(
    session: Session, licensor_org: Organization, licensee_org: Organization
) -> None:
    license_ = license_for(
        session, licensor_org, licensee_org, royalty_type="lump_sum", upfront_fee="300000"
    )
    assert [(o.kind, o.amount) for o in obligations_of(session, license_)] == [
        (ObligationKind.upfront, Decimal("300000.00"))
    ]
    assert (
        session.scalars(
            select(MinimumRoyaltyYear).where(MinimumRoyaltyYear.license_id == license_.id)
        ).all()
        == []
    )


def test_running_without_minimum_owes_nothing_at_acceptance(
    session: Session, running: License
) -> None:
    assert obligations_of(session, running) == []


# Minimum annual royalty ----------------------------------------------------------------------


def shortfalls(session: Session, license_: License) -> list[Decimal]:
    return [
        o.amount
        for o in obligations_of(session, license_)
        if o.kind is ObligationKind.minimum_shortfall
    ]


def test_the_sweep_charges_the_shortfall_once_the_reporting_deadline_passed(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2027, 7, 1))
    for period, sales in ((Q1, "100000"), (Q2, "100000"), (Q3, "50000"), (Q4, "50000")):
        file(session, hybrid, report_data(period, sales))
    # 3.5 % of 300,000 = 10,500 of royalties against a 20,000 minimum.
    assert obligations.settle_minimum_years(session=session, today=date(2027, 7, 14)) == 0
    assert shortfalls(session, hybrid) == []
    assert obligations.settle_minimum_years(session=session, today=date(2027, 7, 15)) == 1
    [charge] = [
        o for o in obligations_of(session, hybrid) if o.kind is ObligationKind.minimum_shortfall
    ]
    assert charge.amount == Decimal("9500.00")
    assert charge.due_date == date(2027, 8, 13)
    # Sweeping again charges nothing twice.
    assert obligations.settle_minimum_years(session=session, today=date(2027, 7, 16)) == 0
    assert shortfalls(session, hybrid) == [Decimal("9500.00")]
    [public] = obligations.obligations_public(session, [charge])
    assert public.license_year == 0


def test_a_year_without_reports_owes_the_whole_minimum(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2027, 7, 15))
    obligations.settle_minimum_years(session=session, today=date(2027, 7, 15))
    assert shortfalls(session, hybrid) == [Decimal("20000.00")]


def test_royalties_above_the_minimum_leave_no_shortfall(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    file(session, hybrid, report_data(Q1, "1000000"))
    obligations.settle_minimum_years(session=session, today=date(2027, 7, 15))
    assert shortfalls(session, hybrid) == []


def test_a_late_report_after_settlement_adjusts_the_shortfall(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2027, 7, 15))
    obligations.settle_minimum_years(session=session, today=date(2027, 7, 15))
    set_today(date(2027, 8, 1))
    file(session, hybrid, report_data(Q1, "200000"))  # 7,000 of royalty
    assert shortfalls(session, hybrid) == [Decimal("20000.00"), Decimal("-7000.00")]
    original, _ = file(session, hybrid, report_data(Q2, "800000"))  # 28,000: above the minimum
    assert sum(shortfalls(session, hybrid)) == 0
    file(session, hybrid, report_data(Q2, "100000", corrects=original.id))  # down to 3,500
    # Royalties 10,500 now: the shortfall is back to 9,500, charged exactly once in total.
    assert sum(shortfalls(session, hybrid)) == Decimal("9500.00")


def test_a_terminated_license_owes_the_minimum_pro_rata(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 14))
    terminate_license(
        session=session, license_=hybrid, organization_id=hybrid.licensee_id, reason=None
    )
    obligations.settle_minimum_years(session=session, today=date(2029, 12, 31))
    # 183 of 365 days of 20,000 = 10,027.397... and nothing for the later years.
    assert shortfalls(session, hybrid) == [Decimal("10027.40")]


# Obligations -----------------------------------------------------------------------------------


def statuses(session: Session, org_id: int, status: ObligationStatus) -> list[int]:
    items, _ = obligations.list_obligations(
        session=session, organization_id=org_id, params=PAGE, status=status
    )
    return [o.id for o in items if o.id is not None]


def test_overdue_is_derived_from_the_due_date_exactly(
    session: Session, unpaid_hybrid: License, set_today: SetToday
) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    assert upfront.id is not None
    set_today(upfront.due_date)
    assert statuses(session, unpaid_hybrid.licensee_id, ObligationStatus.due) == [upfront.id]
    assert statuses(session, unpaid_hybrid.licensee_id, ObligationStatus.overdue) == []
    set_today(upfront.due_date + timedelta(days=1))
    assert statuses(session, unpaid_hybrid.licensee_id, ObligationStatus.due) == []
    assert statuses(session, unpaid_hybrid.licensor_id, ObligationStatus.overdue) == [upfront.id]
    [public] = obligations.obligations_public(session, [upfront])
    assert public.status is ObligationStatus.overdue
    assert public.outstanding == Decimal("50000.00")


def test_obligations_filter_by_role_kind_license_and_due_dates(
    session: Session, hybrid: License, running: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    _, royalty = file(session, running, report_data(Q1))
    [upfront] = obligations_of(session, hybrid)
    assert royalty is not None

    def ids(**filters: object) -> list[int | None]:
        items, _ = obligations.list_obligations(
            session=session,
            organization_id=hybrid.licensee_id,
            params=PAGE,
            **filters,  # type: ignore[arg-type]
        )
        return [o.id for o in items]

    assert ids() == [royalty.id, upfront.id]
    assert ids(role=PartyRole.licensor) == []
    assert ids(kind=ObligationKind.royalty) == [royalty.id]
    assert ids(license_id=hybrid.id) == [upfront.id]
    assert ids(due_before=upfront.due_date) == [upfront.id]
    assert ids(due_after=upfront.due_date + timedelta(days=1)) == [royalty.id]
    assert ids(due_after=royalty.due_date, due_before=royalty.due_date) == [royalty.id]
    outsider = factories.organization(session)
    items, _ = obligations.list_obligations(
        session=session, organization_id=outsider.id or 0, params=PAGE
    )
    assert items == []


def test_overdue_obligations_are_announced_once(
    session: Session, unpaid_hybrid: License, set_today: SetToday
) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    assert obligations.notify_overdue(session=session, today=upfront.due_date) == 0
    assert (
        obligations.notify_overdue(session=session, today=upfront.due_date + timedelta(days=1)) == 1
    )
    assert (
        obligations.notify_overdue(session=session, today=upfront.due_date + timedelta(days=2)) == 0
    )
    sent = events_of(session, "obligation.overdue")
    assert sorted(e.recipient_id for e in sent) == sorted(
        [unpaid_hybrid.licensor_id, unpaid_hybrid.licensee_id]
    )


def test_the_calendar_groups_what_is_owed_by_month(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 20))
    file(session, hybrid, report_data(Q1, "100000"))  # 3,500 due 2026-10-14
    file(session, hybrid, report_data(Q2, "200000"))  # 7,000 due 2027-01-13
    calendar = obligations.calendar(
        session=session,
        licensee_id=hybrid.licensee_id,
        start=date(2026, 7, 1),
        end=date(2027, 1, 31),
    )
    # The entry fee was paid (and confirmed) before the license took effect: nothing is owed
    # for it.
    assert [(m.month, m.totals) for m in calendar.months] == [
        ("2026-10", {"CNY": Decimal("3500.00")}),
        ("2027-01", {"CNY": Decimal("7000.00")}),
    ]
    assert calendar.months[0].obligations[0].status is ObligationStatus.overdue
    with pytest.raises(errors.InvalidDateRange):
        obligations.calendar(
            session=session,
            licensee_id=hybrid.licensee_id,
            start=date(2027, 1, 1),
            end=date(2026, 1, 1),
        )
    with pytest.raises(errors.InvalidDateRange):
        obligations.calendar(
            session=session,
            licensee_id=hybrid.licensee_id,
            start=date(2026, 1, 1),
            end=date(2028, 1, 2),
        )


# The arithmetic through the database, generated ----------------------------------------------

QUARTERS = (Q1, Q2, Q3, Q4)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    filings=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.decimals(min_value=0, max_value=Decimal(1_000_000), places=2),
        ),
        min_size=0,
        max_size=8,
    ),
    settle_after=st.integers(min_value=0, max_value=8),
)
def test_obligations_always_add_up_to_the_latest_reports_and_the_minimum(
    session: Session,
    hybrid: License,
    set_today: SetToday,
    filings: list[tuple[int, Decimal]],
    settle_after: int,
) -> None:
    """Reports, corrections and the year's settlement in any order: the royalty obligations sum
    to the latest report of each period, and the shortfall obligations to exactly the minimum's
    shortfall, never counted twice."""
    set_today(date(2027, 7, 20))
    savepoint = session.begin_nested()
    try:
        latest: dict[int, tuple[int, Decimal]] = {}
        settled = False
        for step, (quarter, net_sales) in enumerate(filings):
            if step == settle_after:
                obligations.settle_minimum_years(session=session, today=clock.today())
                settled = True
            previous = latest.get(quarter)
            report, _ = file(
                session,
                hybrid,
                report_data(
                    QUARTERS[quarter],
                    str(net_sales),
                    corrects=previous[0] if previous else None,
                ),
            )
            assert report.id is not None
            latest[quarter] = (report.id, report.royalty_due)
        if not settled:
            obligations.settle_minimum_years(session=session, today=clock.today())
        owed = obligations_of(session, hybrid)
        reported = sum((due for _, due in latest.values()), Decimal(0))
        charged = sum(
            (
                o.amount
                for o in owed
                if o.kind in (ObligationKind.royalty, ObligationKind.correction)
            ),
            Decimal(0),
        )
        shortfall = sum(
            (o.amount for o in owed if o.kind is ObligationKind.minimum_shortfall), Decimal(0)
        )
        assert charged == reported
        assert shortfall == max(Decimal(20_000) - reported, Decimal(0))
        assert all(
            (o.amount > 0) == (o.status is ObligationStatus.due)
            for o in owed
            if o.kind is not ObligationKind.upfront
        )
    finally:
        savepoint.rollback()
