"""Cancelling a withdrawal request before the office announces it: the declaration stays in force,
and whoever was told of the request hears of its cancellation."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import OrganizationKind
from marketplace.audit.models import AuditEvent
from marketplace.events.models import Event, EventType
from marketplace.listings.errors import (
    ListingNotPublished,
    WithdrawalAlreadyAnnounced,
    WithdrawalNotRequested,
)
from marketplace.listings.models import Listing, ListingStatus, WithdrawalAnnouncement
from marketplace.patents.models import CoOwner
from marketplace.workflows import acceptance, declarations
from tests import factories
from tests.factories import NewParty, Party
from tests.problems import assert_problem


@pytest.fixture
def owner(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.university)


LISTINGS = "/api/v1/listings"


def told(session: Session, organization_id: int, kind: EventType) -> list[dict[str, Any]]:
    return [
        event.payload
        for event in session.scalars(
            select(Event)
            .where(col(Event.recipient_id) == organization_id)
            .where(col(Event.type) == kind.value)
            .order_by(col(Event.id))
        )
    ]


def requested(session: Session, listing: Listing) -> Listing:
    return declarations.request_withdrawal(
        session=session, listing=listing, request=factories.withdrawal_request(listing)
    )


# The service ----------------------------------------------------------------------------------


def test_a_cancelled_request_leaves_the_declaration_in_force_and_tells_the_licensee(
    session: Session, owner: Party
) -> None:
    listing, offer = factories.published_listing(session, owner.organization)
    licensee = factories.organization(session)
    acceptance.accept_offer(
        session=session, offer_id=offer.id or 0, licensee=licensee, user=None, idempotency_key="k"
    )
    bystander = factories.organization(session)
    requested(session, listing)

    declarations.cancel_withdrawal(session=session, listing=listing)

    assert listing.status == ListingStatus.published
    assert listing.withdrawal_requested_at is None
    assert listing.withdrawal_reason is None
    assert listing.withdrawal_consents == []
    for organization_id in (owner.id, licensee.id or 0):
        [payload] = told(session, organization_id, EventType.declaration_withdrawal_cancelled)
        assert payload["listing_id"] == listing.id
        assert payload["reason"] == "Licensed exclusively"
        assert payload["requested_at"] <= payload["cancelled_at"]
    assert told(session, bystander.id or 0, EventType.declaration_withdrawal_cancelled) == []
    # A new request may follow, and the office may then announce it.
    factories.withdraw(session, listing)
    assert factories.reread(session, listing).status == ListingStatus.withdrawn


def test_the_cancellation_is_audited(session: Session, owner: Party) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    requested(session, listing)
    session.commit()  # the audit entries are written when the transaction commits

    declarations.cancel_withdrawal(session=session, listing=listing)
    session.commit()

    last = session.scalars(
        select(AuditEvent)
        .where(col(AuditEvent.object_type) == "listing")
        .where(col(AuditEvent.object_id) == listing.id)
        .order_by(col(AuditEvent.id).desc())
    ).first()
    assert last is not None
    assert last.changes["withdrawal_requested_at"][1] is None
    assert last.changes["withdrawal_reason"] == ["Licensed exclusively", None]


def test_nothing_to_cancel_is_refused(session: Session, owner: Party) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    with pytest.raises(WithdrawalNotRequested):
        declarations.cancel_withdrawal(session=session, listing=listing)
    requested(session, listing)
    declarations.cancel_withdrawal(session=session, listing=listing)
    with pytest.raises(WithdrawalNotRequested):
        declarations.cancel_withdrawal(session=session, listing=listing)


def test_an_announced_withdrawal_cannot_be_cancelled(session: Session, owner: Party) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    factories.withdraw(session, listing)
    with pytest.raises(WithdrawalAlreadyAnnounced):
        declarations.cancel_withdrawal(session=session, listing=listing)
    draft = factories.draft_listing(session, owner.organization)
    with pytest.raises(ListingNotPublished):
        declarations.cancel_withdrawal(session=session, listing=draft)


def test_the_office_cannot_announce_a_cancelled_withdrawal(session: Session, owner: Party) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    requested(session, listing)
    declarations.cancel_withdrawal(session=session, listing=listing)
    with pytest.raises(WithdrawalNotRequested):
        declarations.record_withdrawal_announcement(
            session=session,
            listing=listing,
            announcement=WithdrawalAnnouncement(
                announcement_number="KFCX2026000088", announcement_date=clock.today()
            ),
        )


# Over HTTP ------------------------------------------------------------------------------------


def test_cancel_over_http(client: TestClient, session: Session, new_party: NewParty) -> None:
    owner = new_party(kind=OrganizationKind.university)
    listing, _ = factories.published_listing(session, owner.organization)
    base = f"{LISTINGS}/{listing.id}"
    assert_problem(
        client.post(f"{base}/withdrawal-cancellation", headers=owner.headers),
        409,
        "withdrawal_not_requested",
    )
    client.post(f"{base}/withdraw", headers=owner.headers, json=factories.withdrawal_body(listing))

    cancelled = client.post(f"{base}/withdrawal-cancellation", headers=owner.headers)

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "published"
    assert body["withdrawal_requested_at"] is None
    assert body["withdrawal_reason"] is None
    assert len(told(session, owner.id, EventType.declaration_withdrawal_cancelled)) == 1
    assert_problem(
        client.post(f"{base}/withdrawal-cancellation", headers=owner.headers),
        409,
        "withdrawal_not_requested",
    )


def test_cancel_refusals_over_http(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = new_party(kind=OrganizationKind.university)
    listing, _ = factories.published_listing(session, owner.organization)
    draft = factories.draft_listing(session, owner.organization)
    base = f"{LISTINGS}/{listing.id}"
    client.post(f"{base}/withdraw", headers=owner.headers, json=factories.withdrawal_body(listing))
    stranger = new_party(kind=OrganizationKind.university)
    assert_problem(
        client.post(f"{base}/withdrawal-cancellation", headers=stranger.headers),
        403,
        "not_listing_owner",
    )
    assert_problem(
        client.post(f"{LISTINGS}/{draft.id}/withdrawal-cancellation", headers=stranger.headers),
        404,
        "listing_not_found",
    )
    assert client.post(f"{base}/withdrawal-cancellation").status_code == 401
    assert_problem(
        client.post(f"{LISTINGS}/{draft.id}/withdrawal-cancellation", headers=owner.headers),
        409,
        "listing_not_published",
    )
    # The stranger's attempt changed nothing: the request still stands, and the office's
    # announcement ends the declaration; a cancellation then comes too late.
    announced = client.post(
        f"{base}/withdrawal-announcement",
        headers=owner.headers,
        json={"announcement_number": "KFCX2026000077", "announcement_date": "2026-06-15"},
    )
    assert announced.status_code == 200, announced.text
    assert_problem(
        client.post(f"{base}/withdrawal-cancellation", headers=owner.headers),
        409,
        "withdrawal_already_announced",
    )


def test_a_co_owner_consent_dated_in_the_future_is_refused_over_http(
    client: TestClient, session: Session, owner: Party
) -> None:
    patent = factories.patent(
        session,
        owner.organization,
        co_owners=[CoOwner(name="Provincial Research Fund", open_license_consent=True)],
    )
    listing, _ = factories.published_listing(session, owner.organization, patent_list=[patent])
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    body = {
        "reason": "Sold",
        "co_owner_consents": [{"name": "Provincial Research Fund", "consented_on": tomorrow}],
    }
    assert_problem(
        client.post(f"{LISTINGS}/{listing.id}/withdraw", headers=owner.headers, json=body),
        422,
        "consent_date_out_of_range",
    )
    assert client.get(f"{LISTINGS}/{listing.id}").json()["withdrawal_requested_at"] is None
