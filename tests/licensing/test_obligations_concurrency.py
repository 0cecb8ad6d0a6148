"""Royalties under real concurrency (PostgreSQL only): every request commits for real, and the
sync endpoints run side by side in the threadpool."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.events.models import Event
from marketplace.licensing import payments
from marketplace.licensing.models.obligations import (
    Obligation,
    ObligationKind,
    ObligationStatus,
    Payment,
    PaymentCreate,
    PaymentStatus,
)
from marketplace.licensing.models.royalty_reports import RoyaltyReport
from tests import factories
from tests.concurrency import post_at_once
from tests.conftest import postgres_only
from tests.licensing.royalty_builders import Q1, license_for

pytestmark = postgres_only

CONCURRENCY = 10


@dataclass(frozen=True)
class Deal:
    license_id: int
    upfront_id: int
    licensor: dict[str, str]
    licensee: dict[str, str]


@pytest.fixture
def deal(committed_engine: Engine) -> Deal:
    """A hybrid license waiting for its 50,000 entry fee."""
    return make_deal(committed_engine, paid=False)


@pytest.fixture
def paid_deal(committed_engine: Engine) -> Deal:
    """The hybrid license in force, its entry fee paid and confirmed."""
    return make_deal(committed_engine, paid=True)


def make_deal(committed_engine: Engine, *, paid: bool) -> Deal:
    with Session(committed_engine, expire_on_commit=False) as session:
        university = factories.member(session, kind=OrganizationKind.university)
        enterprise = factories.member(session)
        license_ = license_for(
            session,
            session.get_one(Organization, university.organization_id),
            session.get_one(Organization, enterprise.organization_id),
            paid=paid,
        )
        upfront = session.scalars(
            select(Obligation).where(
                Obligation.license_id == license_.id, Obligation.kind == ObligationKind.upfront
            )
        ).one()
        deal = Deal(
            license_id=license_.id or 0,
            upfront_id=upfront.id or 0,
            licensor=factories.auth(session, university),
            licensee=factories.auth(session, enterprise),
        )
        session.commit()
    return deal


def record(engine: Engine, deal: Deal, *amounts: str) -> list[int]:
    with Session(engine, expire_on_commit=False) as session:
        upfront = session.get_one(Obligation, deal.upfront_id)
        ids = [
            payments.record_payment(
                session=session,
                obligation_id=deal.upfront_id,
                organization_id=upfront.licensee_id,
                user=None,
                data=PaymentCreate(
                    amount=Decimal(amount), paid_on=clock.today(), reference=f"TT-{n}"
                ),
            ).id
            or 0
            for n, amount in enumerate(amounts)
        ]
        session.commit()
    return ids


def test_confirmations_racing_count_each_payment_once(
    committed_engine: Engine, live_app: FastAPI, deal: Deal
) -> None:
    payment_ids = record(committed_engine, deal, "20000", "30000")
    calls = [(f"/api/v1/payments/{pid}/confirm", deal.licensor, None) for pid in payment_ids]

    responses = post_at_once(live_app, calls)

    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    with Session(committed_engine) as session:
        upfront = session.get_one(Obligation, deal.upfront_id)
        # Without the row lock each would see only its own confirmation and none would pay it.
        assert upfront.status is ObligationStatus.paid


def test_one_payment_confirmed_at_once_many_times_is_confirmed_once(
    committed_engine: Engine, live_app: FastAPI, deal: Deal
) -> None:
    [payment_id] = record(committed_engine, deal, "50000")
    calls = [(f"/api/v1/payments/{payment_id}/confirm", deal.licensor, None)] * CONCURRENCY

    responses = post_at_once(live_app, calls)

    outcomes = sorted(r.status_code for r in responses)
    assert outcomes == [200] + [409] * (CONCURRENCY - 1), [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"payment_not_recorded"}
    with Session(committed_engine) as session:
        payment = session.get_one(Payment, payment_id)
        assert payment.status is PaymentStatus.confirmed
        assert session.get_one(Obligation, deal.upfront_id).status is ObligationStatus.paid
        events = session.scalars(select(Event).where(Event.type == "payment.confirmed")).all()
        assert len(events) == 1


def test_payments_recorded_at_once_never_exceed_the_amount(
    committed_engine: Engine, live_app: FastAPI, deal: Deal
) -> None:
    body = {"amount": "20000", "paid_on": "2026-06-15", "reference": "TT"}
    calls = [(f"/api/v1/obligations/{deal.upfront_id}/payments", deal.licensee, body)] * 5

    responses = post_at_once(live_app, calls)

    statuses = sorted(r.status_code for r in responses)
    # 50,000 holds two payments of 20,000; the third would exceed it.
    assert statuses == [201, 201, 422, 422, 422], [r.text for r in responses]
    with Session(committed_engine) as session:
        assert len(session.scalars(select(Payment)).all()) == 2


def test_the_same_period_reported_at_once_yields_one_report(
    committed_engine: Engine,
    live_app: FastAPI,
    paid_deal: Deal,
    set_today: Any,
) -> None:
    deal = paid_deal
    set_today(date(2026, 9, 20))
    body = {
        "period_start": Q1[0].isoformat(),
        "period_end": Q1[1].isoformat(),
        "net_sales": "100000",
        "currency": "CNY",
    }
    calls = [
        (f"/api/v1/licenses/{deal.license_id}/royalty-reports", deal.licensee, body)
    ] * CONCURRENCY

    responses = post_at_once(live_app, calls)

    outcomes = sorted(r.status_code for r in responses)
    assert outcomes == [201] + [409] * (CONCURRENCY - 1), [r.text for r in responses]
    with Session(committed_engine) as session:
        assert len(session.scalars(select(RoyaltyReport)).all()) == 1
        royalties = session.scalars(
            select(Obligation).where(Obligation.kind == ObligationKind.royalty)
        ).all()
        assert [o.amount for o in royalties] == [Decimal("3500.00")]
