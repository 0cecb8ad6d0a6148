"""Notice, then payment, then the license (Patent Law art. 51): with money due up front the
license waits for the licensor's confirmation of that payment, takes effect on that day, and
lapses unpaid when it does not come in time; the licensor hears of every acceptance."""

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace import signing
from marketplace.config import get_settings
from marketplace.events.models import Event
from marketplace.licensing import certificates, errors
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.models.obligations import Obligation, ObligationStatus
from marketplace.listings.models import Offer
from marketplace.workflows import acceptance, sweep
from tests import factories
from tests.factories import Party, SetToday
from tests.licensing.conftest import Accept
from tests.licensing.royalty_builders import confirm, obligations_of, pay
from tests.problems import assert_problem

ACCEPTED_ON = date(2026, 6, 15)
DUE = ACCEPTED_ON + timedelta(days=30)


@pytest.fixture(autouse=True)
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Certificate keys of this test's own."""
    directory = tmp_path / "signing-keys"
    monkeypatch.setattr(get_settings(), "signing_keys_dir", directory)
    signing.rotate(directory)
    return directory


@pytest.fixture
def hybrid_offer(session: Session, licensor: Party) -> Offer:
    """The licensor's hybrid offer: 50,000 entry fee, 3.5 %, 20,000 minimum, three years."""
    return factories.published_listing(session, licensor.organization)[1]


class Pending(NamedTuple):
    license: License
    fee: Obligation


@pytest.fixture
def pending(session: Session, hybrid_offer: Offer, licensee: Party) -> Pending:
    """The licensee's license under the hybrid offer, waiting for its entry fee, and that fee."""
    license_ = take(session, hybrid_offer, licensee)
    [fee] = obligations_of(session, license_)
    return Pending(license_, fee)


@pytest.fixture
def in_force(session: Session, offer: Offer, licensee: Party) -> License:
    """The licensee's license under the running-royalty offer: in force on notice."""
    return take(session, offer, licensee)


def take(session: Session, offer: Offer, party: Party, key: str | None = None) -> License:
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=party.organization,
        user=party.user,
        idempotency_key=key or str(uuid.uuid4()),
    ).license
    return license_


def told(session: Session, license_: License, kind: str) -> list[Event]:
    return list(
        session.scalars(
            select(Event)
            .where(col(Event.subject) == f"license:{license_.id}")
            .where(col(Event.type) == kind)
            .order_by(col(Event.recipient_id))
        ).all()
    )


def recipients(session: Session, license_: License, kind: str) -> list[int]:
    return sorted(event.recipient_id for event in told(session, license_, kind))


# Service ---------------------------------------------------------------------------------------


def test_an_acceptance_with_money_up_front_waits_for_the_payment(
    session: Session, pending: Pending, licensor: Party, licensee: Party
) -> None:
    license_ = pending.license

    assert license_.status is LicenseStatus.pending_payment
    assert license_.payment_due_date == DUE
    assert license_.terms["payment"] is None
    [fee] = obligations_of(session, license_)
    assert (fee.amount, fee.due_date, fee.status) == (
        Decimal("50000.00"),
        DUE,
        ObligationStatus.due,
    )
    # The acceptance is the written notice: the licensor hears of it, with who and on what.
    [notice] = told(session, license_, "license.accepted")
    assert notice.recipient_id == licensor.id
    assert notice.payload["status"] == "pending_payment"
    assert notice.payload["licensee"]["id"] == licensee.id
    assert notice.payload["licensee"]["credit_code"] == licensee.organization.credit_code
    assert notice.payload["terms"] == license_.terms
    assert (notice.payload["payment_due_date"], notice.payload["upfront_fee"]) == (
        DUE.isoformat(),
        "50000.00",
    )
    assert told(session, license_, "license.in_force") == []
    with pytest.raises(errors.LicenseNotInForce):
        certificates.issue_certificate(license_=license_)


def test_nothing_up_front_is_in_force_on_notice(
    session: Session, in_force: License, licensor: Party, licensee: Party
) -> None:
    license_ = in_force

    assert license_.status is LicenseStatus.active
    assert license_.payment_due_date is None
    assert recipients(session, license_, "license.accepted") == [licensor.id]
    assert recipients(session, license_, "license.in_force") == sorted([licensor.id, licensee.id])
    assert [e.payload["payment"] for e in told(session, license_, "license.in_force")] == [None] * 2


def test_the_confirmed_payment_puts_the_license_in_force_that_day(
    session: Session,
    pending: Pending,
    licensor: Party,
    licensee: Party,
    set_today: SetToday,
) -> None:
    license_, fee = pending
    set_today(date(2026, 7, 2))
    payment_id = pay(session, fee, "50000", on=date(2026, 7, 1))
    # Recorded, not yet confirmed: still waiting.
    session.refresh(license_)
    assert license_.status is LicenseStatus.pending_payment
    set_today(date(2026, 7, 3))

    confirm(session, payment_id, licensor.id)

    assert factories.reread(session, license_).status is LicenseStatus.active
    assert license_.effective_date == date(2026, 7, 3)
    assert license_.expires_on == date(2029, 7, 2)
    assert license_.recordation_deadline == date(2026, 10, 3)
    assert license_.terms["effective_date"] == "2026-07-03"
    assert license_.terms["payment"] == {
        "payment_id": payment_id,
        "obligation_id": fee.id,
        "paid_on": "2026-07-01",
        "confirmed_on": "2026-07-03",
        "amount": "50000.00",
        "currency": "CNY",
    }
    assert license_.terms_sha256 == licensing.terms_digest(license_.terms)
    assert recipients(session, license_, "license.in_force") == sorted([licensor.id, licensee.id])
    assert {
        e.payload["payment"]["payment_id"] for e in told(session, license_, "license.in_force")
    } == {payment_id}


def test_a_partial_payment_does_not_make_the_license(
    session: Session, pending: Pending, licensor: Party, licensee: Party
) -> None:
    license_, fee = pending

    confirm(session, pay(session, fee, "20000"), licensor.id)
    session.refresh(license_)
    assert license_.status is LicenseStatus.pending_payment

    confirm(session, pay(session, fee, "30000"), licensor.id)
    assert factories.reread(session, license_).status is LicenseStatus.active


def test_left_unpaid_it_lapses_and_the_licensee_may_accept_again(
    session: Session,
    hybrid_offer: Offer,
    pending: Pending,
    licensor: Party,
    licensee: Party,
    set_today: SetToday,
) -> None:
    license_, fee = pending
    set_today(DUE)
    assert sweep.run_daily_sweep(session=session, today=DUE).lapsed_unpaid_licenses == 0

    set_today(DUE + timedelta(days=1))
    outcome = sweep.run_daily_sweep(session=session, today=DUE + timedelta(days=1))

    assert outcome.lapsed_unpaid_licenses == 1
    session.refresh(license_)
    session.refresh(fee)
    assert license_.status is LicenseStatus.lapsed_unpaid
    assert fee.status is ObligationStatus.void
    assert recipients(session, license_, "license.lapsed_unpaid") == sorted(
        [licensor.id, licensee.id]
    )
    with pytest.raises(errors.LicenseLapsedUnpaid):
        pay(session, fee, "50000")
    # Once only.
    assert (
        sweep.run_daily_sweep(session=session, today=DUE + timedelta(days=2)).lapsed_unpaid_licenses
        == 0
    )

    again = take(session, hybrid_offer, licensee)
    assert again.id != license_.id
    assert again.status is LicenseStatus.pending_payment
    assert again.payment_due_date == DUE + timedelta(days=31)


def test_accepting_again_lapses_the_unpaid_license_without_waiting_for_the_sweep(
    session: Session, hybrid_offer: Offer, licensee: Party, set_today: SetToday
) -> None:
    first = take(session, hybrid_offer, licensee)
    with pytest.raises(errors.LicenseAlreadyActive):
        take(session, hybrid_offer, licensee)
    set_today(DUE + timedelta(days=1))

    second = take(session, hybrid_offer, licensee)

    session.refresh(first)
    assert first.status is LicenseStatus.lapsed_unpaid
    assert second.status is LicenseStatus.pending_payment


def test_a_payment_awaiting_the_licensors_decision_holds_the_lapse_off(
    session: Session,
    pending: Pending,
    licensor: Party,
    licensee: Party,
    set_today: SetToday,
) -> None:
    license_, fee = pending
    payment_id = pay(session, fee, "50000")
    set_today(DUE + timedelta(days=5))

    assert licensing.lapse_unpaid_licenses(session=session, today=DUE + timedelta(days=5)) == []

    confirm(session, payment_id, licensor.id)
    session.refresh(license_)
    # The licensee paid in time; the license arises on the licensor's (late) confirmation.
    assert license_.status is LicenseStatus.active
    assert license_.effective_date == DUE + timedelta(days=5)


def test_the_payment_days_are_configurable(
    session: Session,
    hybrid_offer: Offer,
    licensee: Party,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "license_payment_days", 10)
    license_ = take(session, hybrid_offer, licensee)
    assert license_.payment_due_date == ACCEPTED_ON + timedelta(days=10)


def test_recordation_deadlines_are_announced_once_each(
    session: Session, in_force: License, licensor: Party, licensee: Party, set_today: SetToday
) -> None:
    license_ = in_force
    deadline = license_.recordation_deadline
    reminder_days = get_settings().recordation_reminder_days

    def run(day: date) -> None:
        set_today(day)
        sweep.run_daily_sweep(session=session, today=day)

    run(deadline - timedelta(days=reminder_days + 1))
    assert told(session, license_, "license.recordation_deadline_near") == []
    run(deadline - timedelta(days=reminder_days))
    run(deadline - timedelta(days=1))
    near = told(session, license_, "license.recordation_deadline_near")
    assert sorted(e.recipient_id for e in near) == sorted([licensor.id, licensee.id])
    assert {e.payload["days_left"] for e in near} == {reminder_days}
    run(deadline)
    assert told(session, license_, "license.recordation_deadline_passed") == []
    run(deadline + timedelta(days=1))
    run(deadline + timedelta(days=2))
    passed = told(session, license_, "license.recordation_deadline_passed")
    assert sorted(e.recipient_id for e in passed) == sorted([licensor.id, licensee.id])


def test_a_pending_license_has_no_recordation_reminders(
    session: Session, pending: Pending, licensee: Party, set_today: SetToday
) -> None:
    license_ = pending.license
    day = license_.recordation_deadline - timedelta(days=1)
    set_today(day)
    sweep.run_daily_sweep(session=session, today=day)
    assert told(session, license_, "license.recordation_deadline_near") == []


def test_terminated_and_expired_are_told_to_both_parties(
    session: Session,
    offer: Offer,
    in_force: License,
    licensor: Party,
    licensee: Party,
    set_today: SetToday,
) -> None:
    ended = in_force
    licensing.terminate_license(
        session=session, license_=ended, organization_id=licensee.id, reason="switched"
    )
    assert recipients(session, ended, "license.terminated") == sorted([licensor.id, licensee.id])

    other = factories.organization(session)
    runs_out = acceptance.accept_offer(
        session=session, offer_id=offer.id or 0, licensee=other, user=None, idempotency_key="x"
    ).license
    day = runs_out.expires_on + timedelta(days=1)
    set_today(day)
    sweep.run_daily_sweep(session=session, today=day)
    assert other.id is not None
    assert recipients(session, runs_out, "license.expired") == sorted([licensor.id, other.id])


# HTTP ------------------------------------------------------------------------------------------


def test_over_http_acceptance_then_payment_then_the_license(
    client: TestClient,
    accept: Accept,
    hybrid_offer: Offer,
    licensor: Party,
    licensee: Party,
    set_today: SetToday,
) -> None:
    accepted = accept(hybrid_offer, licensee)
    assert accepted.status_code == 201, accepted.text
    body = accepted.json()
    assert (body["status"], body["payment_due_date"]) == ("pending_payment", DUE.isoformat())
    license_id = body["id"]
    certificate = f"/api/v1/licenses/{license_id}/certificate"
    assert_problem(client.get(certificate, headers=licensee.headers), 409, "license_not_in_force")
    record = f"/api/v1/licenses/{license_id}/recordation"
    refused = client.post(
        record,
        headers=licensee.headers,
        json={"record_number": "2026330000123", "record_date": "2026-06-15"},
    )
    assert_problem(refused, 409, "license_not_in_force")

    [fee] = client.get("/api/v1/obligations?kind=upfront", headers=licensee.headers).json()["items"]
    set_today(date(2026, 7, 1))
    paid = client.post(
        f"/api/v1/obligations/{fee['id']}/payments",
        headers=licensee.headers,
        json={"amount": "50000.00", "paid_on": "2026-07-01", "reference": "TT-1"},
    )
    assert paid.status_code == 201, paid.text
    # Only the licensor confirms; the licensee cannot put its own license in force.
    confirm_path = f"/api/v1/payments/{paid.json()['id']}/confirm"
    assert_problem(
        client.post(confirm_path, headers=licensee.headers), 403, "only_licensor_confirms"
    )
    confirmed = client.post(confirm_path, headers=licensor.headers)
    assert confirmed.status_code == 200, confirmed.text

    in_force = client.get(f"/api/v1/licenses/{license_id}", headers=licensee.headers).json()
    assert (in_force["status"], in_force["effective_date"]) == ("active", "2026-07-01")
    assert in_force["recordation_deadline"] == "2026-10-01"
    assert in_force["terms"]["payment"]["payment_id"] == paid.json()["id"]
    issued = client.get(certificate, headers=licensee.headers)
    assert issued.status_code == 200, issued.text
    # The certificate says on which payment the license rests.
    assert issued.json()["claims"]["payment"]["payment_id"] == paid.json()["id"]
    assert issued.json()["claims"]["payment"]["amount"] == "50000.00"


def test_over_http_a_lapsed_license_takes_no_payment_and_the_offer_is_open_again(
    client: TestClient,
    session: Session,
    accept: Accept,
    hybrid_offer: Offer,
    licensee: Party,
    set_today: SetToday,
) -> None:
    first = accept(hybrid_offer, licensee).json()
    [fee] = client.get("/api/v1/obligations?kind=upfront", headers=licensee.headers).json()["items"]
    set_today(DUE + timedelta(days=1))
    late = client.post(
        f"/api/v1/obligations/{fee['id']}/payments",
        headers=licensee.headers,
        json={"amount": "50000.00", "paid_on": DUE.isoformat(), "reference": "TT-late"},
    )
    assert_problem(late, 409, "license_lapsed_unpaid")

    again = accept(hybrid_offer, licensee)
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "pending_payment"
    lapsed = client.get(f"/api/v1/licenses/{first['id']}", headers=licensee.headers).json()
    assert lapsed["status"] == "lapsed_unpaid"


def test_over_http_the_events_feed_documents_license_events(client: TestClient) -> None:
    description = client.get("/openapi.json").json()["paths"]["/api/v1/events"]["get"][
        "description"
    ]
    for kind in (
        "license.accepted",
        "license.in_force",
        "license.lapsed_unpaid",
        "license.terminated",
        "license.expired",
        "license.recordation_deadline_near",
        "license.recordation_deadline_passed",
    ):
        assert f"`{kind}`" in description
