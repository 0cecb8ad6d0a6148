"""Payments against obligations: recording, confirming, rejecting; the services, without HTTP."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from marketplace import clock
from marketplace.licensing import errors, obligations, payments
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.models.obligations import (
    ObligationStatus,
    PaymentCreate,
    PaymentStatus,
)
from marketplace.pagination import PageParams
from tests import factories
from tests.factories import SetNow
from tests.licensing.royalty_builders import (
    Q1,
    confirm,
    events_of,
    file,
    obligations_of,
    pay,
    report_data,
)

SetToday = Callable[[date], None]
PAGE = PageParams(limit=200)


# Payments --------------------------------------------------------------------------------------


def test_partial_payments_settle_the_obligation_once_confirmed(
    session: Session, unpaid_hybrid: License
) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    first = pay(session, upfront, "20000")
    second = pay(session, upfront, "30000")
    assert confirm(session, first, unpaid_hybrid.licensor_id) is PaymentStatus.confirmed
    session.refresh(upfront)
    assert upfront.status is ObligationStatus.due
    [public] = obligations.obligations_public(session, [upfront])
    assert (public.paid_amount, public.outstanding) == (Decimal("20000.00"), Decimal("30000.00"))
    confirm(session, second, unpaid_hybrid.licensor_id)
    assert factories.reread(session, upfront).status is ObligationStatus.paid
    assert upfront.paid_at is not None
    assert [e.recipient_id for e in events_of(session, "payment.confirmed")] == [
        unpaid_hybrid.licensee_id
    ] * 2
    assert [e.recipient_id for e in events_of(session, "payment.recorded")] == [
        unpaid_hybrid.licensor_id
    ] * 2


def test_payments_beyond_the_amount_are_refused(session: Session, unpaid_hybrid: License) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    with pytest.raises(errors.Overpayment):
        pay(session, upfront, "50000.01")
    pay(session, upfront, "40000")
    # A recorded payment, not yet confirmed, already counts against the amount.
    with pytest.raises(errors.Overpayment):
        pay(session, upfront, "10000.01")
    pay(session, upfront, "10000")


def test_a_payment_dated_before_the_acceptance_is_refused(
    session: Session, unpaid_hybrid: License
) -> None:
    """A license waiting for its entry fee counts from its acceptance: the fee cannot have been
    paid before the notice."""
    [upfront] = obligations_of(session, unpaid_hybrid)
    with pytest.raises(errors.PaymentBeforeLicense):
        pay(session, upfront, "100", on=unpaid_hybrid.effective_date - timedelta(days=1))
    pay(session, upfront, "100", on=unpaid_hybrid.effective_date)


def test_a_rejected_payment_frees_its_amount(session: Session, unpaid_hybrid: License) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    payment = pay(session, upfront, "50000")
    rejected = payments.reject_payment(
        session=session,
        payment_id=payment,
        organization_id=unpaid_hybrid.licensor_id,
        user=None,
        reason="not received",
    )
    assert rejected.status is PaymentStatus.rejected
    with pytest.raises(errors.PaymentNotRecorded):
        confirm(session, payment, unpaid_hybrid.licensor_id)
    pay(session, upfront, "50000")


def test_confirming_twice_is_a_conflict(session: Session, unpaid_hybrid: License) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    payment = pay(session, upfront, "100")
    confirm(session, payment, unpaid_hybrid.licensor_id)
    with pytest.raises(errors.PaymentNotRecorded):
        confirm(session, payment, unpaid_hybrid.licensor_id)


def test_only_the_licensor_confirms_and_strangers_see_nothing(
    session: Session, unpaid_hybrid: License
) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    payment = pay(session, upfront, "100")
    with pytest.raises(errors.OnlyLicensorConfirms):
        confirm(session, payment, unpaid_hybrid.licensee_id)
    stranger = factories.organization(session)
    with pytest.raises(errors.PaymentNotFound):
        confirm(session, payment, stranger.id or 0)
    with pytest.raises(errors.ObligationNotFound):
        obligations.get_obligation(
            session=session, obligation_id=upfront.id or 0, organization_id=stranger.id or 0
        )


def test_only_the_licensee_pays_what_is_due_and_not_in_the_future(
    session: Session, unpaid_hybrid: License, set_today: SetToday
) -> None:
    [upfront] = obligations_of(session, unpaid_hybrid)
    with pytest.raises(errors.OnlyLicenseePays):
        payments.record_payment(
            session=session,
            obligation_id=upfront.id or 0,
            organization_id=unpaid_hybrid.licensor_id,
            user=None,
            data=PaymentCreate(amount=Decimal(1), paid_on=clock.today(), reference="x"),
        )
    with pytest.raises(errors.PaymentDateInFuture):
        pay(session, upfront, "1", on=clock.today() + timedelta(days=1))
    confirm(session, pay(session, upfront, "50000"), unpaid_hybrid.licensor_id)
    with pytest.raises(errors.ObligationNotPayable):
        pay(session, upfront, "1")
    # The confirmed entry fee put the license in force: its reports are due from then.
    session.refresh(unpaid_hybrid)
    assert unpaid_hybrid.status is LicenseStatus.active
    set_today(date(2026, 9, 20))
    original, _ = file(session, unpaid_hybrid, report_data(Q1, "100000"))
    _, credit = file(session, unpaid_hybrid, report_data(Q1, "0", corrects=original.id))
    assert credit is not None
    with pytest.raises(errors.ObligationNotPayable):
        pay(session, credit, "1")


def test_a_payment_made_today_in_china_is_not_in_the_future_and_the_license_follows_it(
    session: Session, unpaid_hybrid: License, set_now: SetNow
) -> None:
    # 20:00 UTC on 15 June is 04:00 on 16 June in China, where the licensee's bank dates it.
    set_now(datetime(2026, 6, 15, 20, 0, tzinfo=UTC))
    [upfront] = obligations_of(session, unpaid_hybrid)
    with pytest.raises(errors.PaymentDateInFuture):
        pay(session, upfront, "50000", on=date(2026, 6, 17))
    payment = pay(session, upfront, "50000", on=date(2026, 6, 16))
    confirm(session, payment, unpaid_hybrid.licensor_id)
    # In force from the day of the payment it rests on, not the day before.
    session.refresh(unpaid_hybrid)
    assert unpaid_hybrid.effective_date == date(2026, 6, 16)
