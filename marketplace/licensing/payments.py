"""Payments: the licensee records a payment against an obligation; it counts once the licensor
confirms receipt, and an obligation whose confirmed payments cover it is paid."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import User
from marketplace.db import transition
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing.errors import (
    LicenseLapsedUnpaid,
    ObligationNotPayable,
    OnlyLicenseePays,
    OnlyLicensorConfirms,
    Overpayment,
    PaymentBeforeLicense,
    PaymentDateInFuture,
    PaymentNotFound,
    PaymentNotRecorded,
)
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.models.obligations import (
    Obligation,
    ObligationKind,
    ObligationStatus,
    Payment,
    PaymentCreate,
    PaymentStatus,
)
from marketplace.licensing.obligations import (
    awaiting_decision,
    get_obligation,
    lock_obligation,
    money,
    of_a_party,
)
from marketplace.pagination import (
    PageParams,
    paginate_by_id,
)


def _refuse_if_lapsed(session: Session, obligation: Obligation) -> None:
    """An upfront fee whose license lapsed unpaid takes no payment: the license never arose.
    Past its due date with no payment awaiting the licensor, it has lapsed even before the
    daily sweep says so."""
    assert obligation.id is not None
    if obligation.kind is not ObligationKind.upfront:
        return
    lapsed = obligation.status is ObligationStatus.void or (
        obligation.status is ObligationStatus.due
        and obligation.due_date < clock.today()
        and not awaiting_decision(session, obligation.id)
        and _license_waits_for_payment(session, obligation.license_id)
    )
    if lapsed:
        raise LicenseLapsedUnpaid(
            f"License {obligation.license_id} lapsed: its upfront fee was due by "
            f"{obligation.due_date}. Accept the offer again to take a new license.",
            license_id=obligation.license_id,
        )


def _license_waits_for_payment(session: Session, license_id: int) -> bool:
    status = session.scalar(select(License.status).where(col(License.id) == license_id))
    return status is LicenseStatus.pending_payment


def _payment_sum(
    session: Session, obligation_id: int, statuses: Sequence[PaymentStatus]
) -> Decimal:
    total = session.scalar(
        select(sa.func.sum(col(Payment.amount)))
        .where(col(Payment.obligation_id) == obligation_id)
        .where(col(Payment.status).in_(list(statuses)))
    )
    return money(total)


def record_payment(
    *,
    session: Session,
    obligation_id: int,
    organization_id: int,
    user: User | None,
    data: PaymentCreate,
) -> Payment:
    """The licensee records a payment it made; it counts once the licensor confirms it. Partial
    payments are allowed; recorded and confirmed payments together may not exceed the amount."""
    obligation = get_obligation(
        session=session, obligation_id=obligation_id, organization_id=organization_id
    )
    if obligation.licensee_id != organization_id:
        raise OnlyLicenseePays("Only the licensee records payments against this obligation.")
    if data.paid_on > clock.today():
        raise PaymentDateInFuture(f"{data.paid_on} is in the future.")
    license_ = session.get(License, obligation.license_id)
    assert license_ is not None
    # A license waiting for its upfront fee counts from its acceptance until it takes effect.
    if data.paid_on < license_.effective_date:
        raise PaymentBeforeLicense(
            f"{data.paid_on} is before the license took effect ({license_.effective_date}).",
            effective_date=license_.effective_date.isoformat(),
        )
    obligation = lock_obligation(session, obligation_id)
    _refuse_if_lapsed(session, obligation)
    if obligation.status is not ObligationStatus.due:
        raise ObligationNotPayable(f"Obligation {obligation_id} is {obligation.status}.")
    pending = _payment_sum(
        session, obligation_id, (PaymentStatus.recorded, PaymentStatus.confirmed)
    )
    open_amount = obligation.amount - pending
    if data.amount > open_amount:
        raise Overpayment(
            f"At most {open_amount} {obligation.currency} is still open "
            "(recorded but unconfirmed payments count).",
            open_amount=str(open_amount),
        )
    payment = Payment(
        obligation_id=obligation_id,
        licensor_id=obligation.licensor_id,
        licensee_id=obligation.licensee_id,
        amount=data.amount,
        currency=obligation.currency,
        paid_on=data.paid_on,
        reference=data.reference,
        recorded_by_user_id=user.id if user else None,
    )
    session.add(payment)
    session.flush()
    _payment_event(
        session,
        payment,
        EventType.payment_recorded,
        to=obligation.licensor_id,
        license_id=obligation.license_id,
        paid_on=payment.paid_on.isoformat(),
        reference=payment.reference,
    )
    return payment


def get_payment(*, session: Session, payment_id: int, organization_id: int) -> Payment:
    payment = of_a_party(session, Payment, payment_id, organization_id)
    if payment is None:
        raise PaymentNotFound(f"Payment {payment_id} does not exist.")
    return payment


def list_payments(
    *, session: Session, obligation: Obligation, params: PageParams
) -> tuple[Sequence[Payment], str | None]:
    statement = select(Payment).where(col(Payment.obligation_id) == obligation.id)
    return paginate_by_id(session, statement, id_column=Payment.id, params=params)


@dataclass(frozen=True, slots=True)
class _Decision:
    payment: Payment
    obligation: Obligation


def _decide(
    session: Session,
    *,
    payment_id: int,
    organization_id: int,
    user: User | None,
    outcome: PaymentStatus,
    reason: str | None = None,
) -> _Decision:
    payment = get_payment(session=session, payment_id=payment_id, organization_id=organization_id)
    if payment.licensor_id != organization_id:
        raise OnlyLicensorConfirms("Only the licensor confirms or rejects this payment.")
    # The obligation's row lock orders decisions on its payments: each one sees the others'.
    obligation = lock_obligation(session, payment.obligation_id)
    if outcome is PaymentStatus.confirmed and obligation.status is ObligationStatus.void:
        _refuse_if_lapsed(session, obligation)
    now = clock.now()
    if not transition(
        session,
        sa.update(Payment)
        .where(col(Payment.id) == payment_id)
        .where(col(Payment.status) == PaymentStatus.recorded)
        .values(
            status=outcome,
            decided_at=now,
            decided_by_user_id=user.id if user else None,
            rejection_reason=reason,
        ),
    ):
        session.refresh(payment)
        raise PaymentNotRecorded(f"Payment {payment_id} is {payment.status} already.")
    session.refresh(payment)
    return _Decision(payment, obligation)


def confirm_payment(
    *, session: Session, payment_id: int, organization_id: int, user: User | None
) -> Payment:
    """The licensor confirms receipt. When confirmed payments cover the obligation, it is paid."""
    decision = _decide(
        session,
        payment_id=payment_id,
        organization_id=organization_id,
        user=user,
        outcome=PaymentStatus.confirmed,
    )
    obligation, payment = decision.obligation, decision.payment
    assert obligation.id is not None
    confirmed = _payment_sum(session, obligation.id, (PaymentStatus.confirmed,))
    if confirmed >= obligation.amount and obligation.status is ObligationStatus.due:
        obligation.status = ObligationStatus.paid
        obligation.paid_at = clock.now()
        session.add(obligation)
        session.flush()
    _payment_event(
        session,
        payment,
        EventType.payment_confirmed,
        to=payment.licensee_id,
        license_id=obligation.license_id,
        obligation_status=str(obligation.status),
    )
    return payment


def reject_payment(
    *,
    session: Session,
    payment_id: int,
    organization_id: int,
    user: User | None,
    reason: str,
) -> Payment:
    """The licensor has not received it: the payment no longer counts, the amount is open again."""
    decision = _decide(
        session,
        payment_id=payment_id,
        organization_id=organization_id,
        user=user,
        outcome=PaymentStatus.rejected,
        reason=reason,
    )
    payment = decision.payment
    _payment_event(
        session, payment, EventType.payment_rejected, to=payment.licensee_id, reason=reason
    )
    return payment


def _payment_event(
    session: Session,
    payment: Payment,
    type: EventType,
    *,
    to: int,
    license_id: int | None = None,
    **details: Any,
) -> None:
    """Tell one party about a payment: which one, for which obligation (and license), how much."""
    payload: dict[str, Any] = {"payment_id": payment.id, "obligation_id": payment.obligation_id}
    if license_id is not None:
        payload["license_id"] = license_id
    payload |= {"amount": str(payment.amount), "currency": payment.currency, **details}
    events.record(
        session, recipients=[to], type=type, subject=f"payment:{payment.id}", payload=payload
    )
