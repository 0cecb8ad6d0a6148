"""The licensor's confirmation of an upfront payment while the daily sweep lapses unpaid licenses
(PostgreSQL, real commits). Exactly one lawful outcome, whichever goes first: a payment the
licensee recorded in time puts the license in force on its confirmation and is never lost to the
sweep; a payment the licensor rejects leaves the license to lapse.

The two transactions overlap on purpose: the first holds its locks until the server shows the
second waiting for it (``tests.concurrency.overlap``), so nothing rests on timing."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import OrganizationKind
from marketplace.events.models import Event
from marketplace.licensing import payments
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.models.obligations import (
    Obligation,
    ObligationKind,
    ObligationStatus,
    PaymentCreate,
)
from marketplace.workflows import acceptance
from tests import factories
from tests.concurrency import overlap
from tests.conftest import postgres_only
from tests.factories import SetToday
from tests.licensing.royalty_builders import license_for

pytestmark = postgres_only

DUE = date(2026, 6, 15) + timedelta(days=30)


@dataclass(frozen=True)
class Pending:
    license_id: int
    licensor_id: int
    payment_id: int


@pytest.fixture
def pending(committed_engine: Engine) -> Pending:
    """A hybrid license accepted 2026-06-15, its 50,000 entry fee paid and recorded that day,
    not yet confirmed by the licensor (due 2026-07-15)."""
    with Session(committed_engine, expire_on_commit=False) as session:
        license_ = license_for(
            session,
            factories.organization(session, kind=OrganizationKind.university),
            factories.organization(session),
            paid=False,
        )
        fee = session.scalars(
            select(Obligation).where(
                Obligation.license_id == license_.id, Obligation.kind == ObligationKind.upfront
            )
        ).one()
        payment = payments.record_payment(
            session=session,
            obligation_id=fee.id or 0,
            organization_id=license_.licensee_id,
            user=None,
            data=PaymentCreate(
                amount=Decimal("50000.00"), paid_on=date(2026, 6, 15), reference="TT-ON-TIME"
            ),
        )
        session.commit()
        return Pending(license_.id or 0, license_.licensor_id, payment.id or 0)


def confirm(scene: Pending) -> Callable[[Session], object]:
    def step(session: Session) -> object:
        return acceptance.confirm_payment(
            session=session,
            payment_id=scene.payment_id,
            organization_id=scene.licensor_id,
            user=None,
        )

    return step


def reject(scene: Pending) -> Callable[[Session], object]:
    def step(session: Session) -> object:
        return payments.reject_payment(
            session=session,
            payment_id=scene.payment_id,
            organization_id=scene.licensor_id,
            user=None,
            reason="not received",
        )

    return step


def sweep(session: Session) -> object:
    return licensing.lapse_unpaid_licenses(session=session, today=clock.today())


def outcome(engine: Engine, scene: Pending) -> tuple[str, str, list[str]]:
    with Session(engine) as session:
        license_ = session.get_one(License, scene.license_id)
        fee = session.scalars(
            select(Obligation).where(
                Obligation.license_id == scene.license_id,
                Obligation.kind == ObligationKind.upfront,
            )
        ).one()
        kinds = session.scalars(
            select(Event.type)
            .where(col(Event.subject) == f"license:{scene.license_id}")
            .where(col(Event.type).in_(["license.in_force", "license.lapsed_unpaid"]))
        ).all()
        return str(license_.status), str(fee.status), sorted(set(kinds))


@pytest.mark.parametrize("confirmation_first", [True, False])
def test_a_payment_recorded_in_time_wins_over_the_sweep_either_way(
    committed_engine: Engine, pending: Pending, set_today: SetToday, confirmation_first: bool
) -> None:
    set_today(DUE + timedelta(days=3))
    steps = (confirm(pending), sweep) if confirmation_first else (sweep, confirm(pending))

    failures = overlap(committed_engine, *steps)

    assert failures == []
    assert outcome(committed_engine, pending) == (
        LicenseStatus.active,
        ObligationStatus.paid,
        ["license.in_force"],
    )
    with Session(committed_engine) as session:
        license_ = session.get_one(License, pending.license_id)
        assert license_.effective_date == DUE + timedelta(days=3)


def test_a_rejection_before_the_sweep_lets_the_license_lapse(
    committed_engine: Engine, pending: Pending, set_today: SetToday
) -> None:
    set_today(DUE + timedelta(days=3))

    failures = overlap(committed_engine, reject(pending), sweep)

    assert failures == []
    assert outcome(committed_engine, pending) == (
        LicenseStatus.lapsed_unpaid,
        ObligationStatus.void,
        ["license.lapsed_unpaid"],
    )


def test_a_sweep_before_the_rejection_leaves_the_lapse_to_the_next_sweep(
    committed_engine: Engine, pending: Pending, set_today: SetToday
) -> None:
    set_today(DUE + timedelta(days=3))

    failures = overlap(committed_engine, sweep, reject(pending))

    assert failures == []
    # The sweep saw a payment awaiting the licensor and held the lapse off.
    assert outcome(committed_engine, pending) == (
        LicenseStatus.pending_payment,
        ObligationStatus.due,
        [],
    )
    with Session(committed_engine) as session:
        assert [lapsed.id for lapsed in sweep_now(session)] == [pending.license_id]
        session.commit()
    assert outcome(committed_engine, pending)[0] == LicenseStatus.lapsed_unpaid


def sweep_now(session: Session) -> list[License]:
    return licensing.lapse_unpaid_licenses(session=session, today=clock.today())
