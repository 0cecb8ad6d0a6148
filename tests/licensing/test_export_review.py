"""Technology-export review: a foreign licensee's license of a patent in a flagged category waits
for a platform admin, and takes effect only on approval."""

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.events.models import Event
from marketplace.licensing import export_review
from marketplace.licensing import service as licensing
from marketplace.licensing.errors import LicenseAlreadyActive, LicenseNotPendingReview
from marketplace.licensing.models.export_review import ExportControlCreate
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.models.obligations import Obligation
from marketplace.listings.models import Offer
from tests import factories
from tests.factories import NewParty, Party
from tests.problems import assert_problem

CONTROLS = "/api/v1/export-controls"


@pytest.fixture
def admin(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.platform)


@pytest.fixture
def foreign(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.enterprise, country="US", region=None)


@pytest.fixture
def battery_offer(session: Session, licensor: Party) -> Offer:
    """A published hybrid offer (50,000 entry fee) on a patent classified H01M 10/0525 and
    G06F 16/33."""
    return factories.published_listing(session, licensor.organization)[1]


@pytest.fixture
def running_battery_offer(session: Session, licensor: Party) -> Offer:
    """The same patent's classes under a running royalty: nothing is paid up front."""
    return factories.published_listing(
        session,
        licensor.organization,
        offers=[factories.offer_data(royalty_type="running", royalty_rate="3.5")],
    )[1]


def flag(session: Session, prefix: str) -> None:
    export_review.add_control(
        session=session,
        data=ExportControlCreate(ipc_prefix=prefix, description="Controlled"),
        user=None,
    )


def accept(session: Session, offer: Offer, party: Party) -> License:
    license_, _ = licensing.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=party.organization,
        user=None,
        idempotency_key=str(uuid.uuid4()),
    )
    return license_


def obligations_of(session: Session, license_: License) -> list[Obligation]:
    return list(
        session.scalars(select(Obligation).where(col(Obligation.license_id) == license_.id))
    )


def events_of(session: Session, license_: License) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Event.recipient_id, Event.type).where(Event.subject == f"license:{license_.id}")
    ).all()
    return sorted((recipient, kind) for recipient, kind in rows)


# Who goes to review ----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["H", "H01M", "H01M 10", "H01M 10/0525", "G06F 16"])
def test_a_foreign_licensee_of_a_flagged_patent_waits_for_review(
    session: Session, battery_offer: Offer, foreign: Party, licensor: Party, prefix: str
) -> None:
    flag(session, prefix)

    license_ = accept(session, battery_offer, foreign)

    assert license_.status is LicenseStatus.pending_export_review
    assert license_.export_controls == [prefix]
    assert obligations_of(session, license_) == []
    assert events_of(session, license_) == sorted(
        [
            (licensor.id, "license.accepted"),
            (licensor.id, "license.export_review_pending"),
            (foreign.id, "license.export_review_pending"),
        ]
    )


def test_a_domestic_licensee_is_never_reviewed(
    session: Session, battery_offer: Offer, licensee: Party
) -> None:
    flag(session, "H01M")

    license_ = accept(session, battery_offer, licensee)

    # Not reviewed: it waits only for its entry fee.
    assert license_.status is LicenseStatus.pending_payment
    assert license_.export_controls is None
    assert obligations_of(session, license_)


@pytest.mark.parametrize("prefix", ["A", "G06F 160", "G06F 16/34", "H01L"])
def test_a_category_the_patent_is_not_under_changes_nothing(
    session: Session, battery_offer: Offer, foreign: Party, prefix: str
) -> None:
    flag(session, prefix)

    # Not reviewed: it waits only for its entry fee.
    assert accept(session, battery_offer, foreign).status is LicenseStatus.pending_payment


def test_a_pending_license_holds_the_offer(
    session: Session, battery_offer: Offer, foreign: Party
) -> None:
    flag(session, "H01M")
    accept(session, battery_offer, foreign)

    with pytest.raises(LicenseAlreadyActive):
        accept(session, battery_offer, foreign)


# Decisions -------------------------------------------------------------------------------------


def test_approval_makes_it_take_effect_that_day(
    session: Session, running_battery_offer: Offer, foreign: Party, set_today: Any
) -> None:
    flag(session, "H01M")
    pending = accept(session, running_battery_offer, foreign)
    accepted_terms = dict(pending.terms)
    approval_day = date(2026, 7, 1)
    set_today(approval_day)

    approved = export_review.approve(
        session=session, license_id=pending.id or 0, admin=None, note="End use checked"
    )

    assert approved.status is LicenseStatus.active
    assert approved.effective_date == approval_day
    assert approved.expires_on == date(2029, 6, 30)
    assert approved.recordation_deadline == date(2026, 10, 1)
    assert approved.terms["effective_date"] == "2026-07-01"
    assert approved.terms["offer"] == accepted_terms["offer"]
    assert approved.terms["payment"] is None
    assert approved.terms_sha256 == licensing.terms_digest(approved.terms)
    assert approved.export_decision_note == "End use checked"
    assert obligations_of(session, approved) == []
    kinds = {kind for _, kind in events_of(session, approved)}
    assert {"license.export_approved", "license.in_force"} <= kinds


def test_with_money_up_front_approval_starts_the_payment_clock(
    session: Session, battery_offer: Offer, foreign: Party, set_today: Any
) -> None:
    """Approved, a hybrid license still waits for its entry fee (Patent Law art. 51): due 30
    days after the approval, and the license takes effect on the day the licensor confirms it."""
    flag(session, "H01M")
    pending = accept(session, battery_offer, foreign)
    approval_day = date(2026, 7, 1)
    set_today(approval_day)

    approved = export_review.approve(
        session=session, license_id=pending.id or 0, admin=None, note="End use checked"
    )

    assert approved.status is LicenseStatus.pending_payment
    assert approved.payment_due_date == approval_day + timedelta(days=30)
    [upfront] = obligations_of(session, approved)
    assert upfront.due_date == approval_day + timedelta(days=30)
    kinds = {kind for _, kind in events_of(session, approved)}
    assert "license.export_approved" in kinds
    assert "license.in_force" not in kinds

    set_today(date(2026, 7, 10))
    in_force = factories.pay_upfront(session, approved)

    assert in_force.status is LicenseStatus.active
    assert in_force.effective_date == date(2026, 7, 10)
    assert in_force.expires_on == date(2029, 7, 9)
    assert in_force.recordation_deadline == date(2026, 10, 10)
    assert in_force.terms["payment"]["amount"] == "50000.00"
    assert in_force.terms_sha256 == licensing.terms_digest(in_force.terms)


def test_refusal_ends_it_and_frees_the_offer(
    session: Session, battery_offer: Offer, foreign: Party
) -> None:
    flag(session, "H01M")
    pending = accept(session, battery_offer, foreign)

    refused = export_review.refuse(
        session=session, license_id=pending.id or 0, admin=None, note=None
    )

    assert refused.status is LicenseStatus.export_refused
    assert obligations_of(session, refused) == []
    with pytest.raises(LicenseNotPendingReview):
        export_review.approve(session=session, license_id=pending.id or 0, admin=None, note=None)
    # Refused, it no longer holds the offer: the licensee may try again (and is reviewed again).
    assert accept(session, battery_offer, foreign).status is LicenseStatus.pending_export_review


def test_an_active_license_is_not_up_for_review(
    session: Session, battery_offer: Offer, licensee: Party
) -> None:
    active = accept(session, battery_offer, licensee)
    with pytest.raises(LicenseNotPendingReview):
        export_review.refuse(session=session, license_id=active.id or 0, admin=None, note=None)


# HTTP ------------------------------------------------------------------------------------------


def test_admins_keep_the_flagged_categories(client: TestClient, admin: Party) -> None:
    created = client.post(
        CONTROLS, headers=admin.headers, json={"ipc_prefix": "h01l21", "description": "Chips"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["ipc_prefix"] == "H01L 21"

    duplicate = client.post(
        CONTROLS, headers=admin.headers, json={"ipc_prefix": "H01L 21", "description": "Again"}
    )
    assert_problem(duplicate, 409, "export_control_exists")
    assert [c["ipc_prefix"] for c in client.get(CONTROLS, headers=admin.headers).json()] == [
        "H01L 21"
    ]

    removed = client.delete(f"{CONTROLS}/{created.json()['id']}", headers=admin.headers)
    assert removed.status_code == 204
    assert client.get(CONTROLS, headers=admin.headers).json() == []
    missing = client.delete(f"{CONTROLS}/{created.json()['id']}", headers=admin.headers)
    assert_problem(missing, 404, "export_control_not_found")


def test_only_admins_touch_export_review(
    client: TestClient, licensor: Party, foreign: Party
) -> None:
    body = {"ipc_prefix": "H01L", "description": "Chips"}
    assert_problem(client.post(CONTROLS, json=body), 401, "not_authenticated")
    for party in (licensor, foreign):
        assert_problem(
            client.post(CONTROLS, headers=party.headers, json=body), 403, "not_platform_admin"
        )
        assert_problem(
            client.get("/api/v1/export-reviews", headers=party.headers), 403, "not_platform_admin"
        )


@pytest.mark.parametrize(
    "body",
    [
        {"ipc_prefix": "Z99", "description": "x"},
        {"ipc_prefix": "H01L", "description": ""},
        {"ipc_prefix": "H01L"},
    ],
)
def test_a_bad_category_is_refused(client: TestClient, admin: Party, body: dict[str, str]) -> None:
    assert_problem(
        client.post(CONTROLS, headers=admin.headers, json=body), 422, "validation_failed"
    )
    assert client.get(CONTROLS, headers=admin.headers).json() == []


def test_reviewing_over_http(
    client: TestClient,
    session: Session,
    admin: Party,
    foreign: Party,
    licensor: Party,
    battery_offer: Offer,
) -> None:
    flag(session, "H01M")
    pending = accept(session, battery_offer, foreign)

    queue = client.get("/api/v1/export-reviews", headers=admin.headers).json()
    assert [item["id"] for item in queue["items"]] == [pending.id]
    assert queue["items"][0]["export_controls"] == ["H01M"]
    # The licensee sees its license waiting, and cannot decide it.
    own = client.get(f"/api/v1/licenses/{pending.id}", headers=foreign.headers).json()
    assert own["status"] == "pending_export_review"
    approve = f"/api/v1/licenses/{pending.id}/export-review/approve"
    assert_problem(client.post(approve, headers=foreign.headers), 403, "not_platform_admin")

    approved = client.post(approve, headers=admin.headers, json={"note": "Cleared"})
    assert approved.status_code == 200, approved.text
    # Approved, the hybrid license now waits for its entry fee.
    assert approved.json()["status"] == "pending_payment"
    assert approved.json()["export_decision_note"] == "Cleared"
    again = client.post(
        f"/api/v1/licenses/{pending.id}/export-review/refuse", headers=admin.headers
    )
    assert_problem(again, 409, "license_not_pending_export_review")
    assert client.get("/api/v1/export-reviews", headers=admin.headers).json()["items"] == []
    unknown = client.post("/api/v1/licenses/999999/export-review/approve", headers=admin.headers)
    assert_problem(unknown, 404, "license_not_found")
