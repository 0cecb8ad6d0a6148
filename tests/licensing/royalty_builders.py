"""Builders for the royalty tests: a license accepted today under chosen terms, reports,
obligations, events and payments."""

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.events.models import Event
from marketplace.licensing import payments, royalty_reports
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License
from marketplace.licensing.models.obligations import Obligation, PaymentCreate, PaymentStatus
from marketplace.licensing.models.royalty_reports import RoyaltyReport, RoyaltyReportCreate
from marketplace.workflows import acceptance
from tests import factories

# The first reporting quarter of a license accepted on the tests' day (2026-06-15).
Q1 = (date(2026, 6, 15), date(2026, 9, 14))
Q2 = (date(2026, 9, 15), date(2026, 12, 14))
Q3 = (date(2026, 12, 15), date(2027, 3, 14))
Q4 = (date(2027, 3, 15), date(2027, 6, 14))


def license_for(
    session: Session,
    licensor: Organization,
    licensee: Organization,
    *,
    paid: bool = True,
    **offer: Any,
) -> License:
    """``licensee`` accepts (today) an offer of ``licensor``'s new listing: hybrid 50,000 +
    3.5 % with a 20,000 minimum for three years unless ``offer`` says otherwise. Any upfront fee
    is paid and confirmed the same day unless ``paid`` is False: the license then still waits
    for it (``pending_payment``), its fee due."""
    _, published = factories.published_listing(
        session, licensor, offers=[factories.offer_data(**offer)]
    )
    assert published.id is not None
    license_, created = licensing.accept_offer(
        session=session,
        offer_id=published.id,
        licensee=licensee,
        user=None,
        idempotency_key=str(uuid.uuid4()),
    )
    assert created
    if not paid:
        return license_
    # The upfront fee paid and confirmed on the same day: in force from acceptance day.
    return factories.pay_upfront(session, license_)


def report_data(
    period: tuple[date, date] = Q1,
    net_sales: str = "100000.00",
    *,
    units: int | None = None,
    currency: str = "CNY",
    corrects: int | None = None,
) -> RoyaltyReportCreate:
    return RoyaltyReportCreate(
        period_start=period[0],
        period_end=period[1],
        net_sales=Decimal(net_sales),
        units=units,
        currency=currency,
        corrects=corrects,
    )


def file(
    session: Session, license_: License, data: RoyaltyReportCreate
) -> tuple[RoyaltyReport, Obligation | None]:
    return royalty_reports.file_report(
        session=session,
        license_=license_,
        organization_id=license_.licensee_id,
        user=None,
        data=data,
    )


def obligations_of(session: Session, license_: License) -> list[Obligation]:
    return list(
        session.scalars(
            select(Obligation)
            .where(Obligation.license_id == license_.id)
            .order_by(col(Obligation.id))
        ).all()
    )


def events_of(session: Session, type_: str) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.type == type_)).all())


def pay(session: Session, obligation: Obligation, amount: str, *, on: date | None = None) -> int:
    assert obligation.id is not None
    payment = payments.record_payment(
        session=session,
        obligation_id=obligation.id,
        organization_id=obligation.licensee_id,
        user=None,
        data=PaymentCreate(amount=Decimal(amount), paid_on=on or clock.today(), reference="TT-1"),
    )
    assert payment.id is not None
    return payment.id


def confirm(session: Session, payment_id: int, licensor_id: int) -> PaymentStatus:
    """The licensor confirms, as ``POST /payments/{id}/confirm`` does: a confirmed upfront fee
    puts its pending license in force."""
    return acceptance.confirm_payment(
        session=session, payment_id=payment_id, organization_id=licensor_id, user=None
    ).status
