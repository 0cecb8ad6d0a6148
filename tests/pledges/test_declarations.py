"""Civil Code art. 444 for a declaration in force when its patent is pledged: the pledge carries
the pledgee's consent to it, or acceptance of its offers is suspended (409
``declaration_suspended_by_pledge``) until the pledgee consents or the pledge ends. Licenses
granted before the pledge are untouched; the licensor and the pledgee are told."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.events.models import Event, EventType
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.listings.errors import OfferNotFound
from marketplace.listings.models import Listing, ListingPatent, Offer
from marketplace.pledges import declarations, license_links, lifecycle
from marketplace.pledges import service as pledges
from marketplace.pledges.errors import DeclarationSuspendedByPledge
from marketplace.pledges.models import (
    CancellationReason,
    Pledge,
    PledgeCancellation,
    PledgeConsent,
    PledgeStatus,
)
from marketplace.workflows import acceptance
from tests import factories
from tests.factories import NewParty, Party
from tests.pledges.conftest import MakePledge
from tests.problems import assert_problem
from tests.statements import counting_statements


def events_of(session: Session, organization_id: int | None, type_: EventType) -> list[Event]:
    return list(
        session.scalars(
            select(Event)
            .where(col(Event.recipient_id) == organization_id, col(Event.type) == type_.value)
            .order_by(col(Event.id))
        ).all()
    )


def accept(session: Session, offer: Offer, licensee: Organization, key: str = "") -> License:
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=licensee,
        user=None,
        idempotency_key=key or str(uuid.uuid4()),
    ).license
    return license_


@pytest.fixture
def declared(session: Session, owner: Party) -> tuple[Listing, Offer]:
    """A declaration in force on a patent of ``owner`` (the pledgor-to-be), under a running
    royalty: nothing is paid up front, so an acceptance makes a license in force at once."""
    return factories.published_listing(
        session,
        owner.organization,
        offers=[factories.offer_data(royalty_type="running", royalty_rate="3.5")],
    )


PledgeDeclared = Callable[..., Pledge]


@pytest.fixture
def pledge_declared(pledge_of: MakePledge, declared: tuple[Listing, Offer]) -> PledgeDeclared:
    """Pledges the declared patent (registered, unless ``status`` says otherwise; without the
    pledgee's consent, unless ``consents_to_open_licenses=True``)."""
    listing, _ = declared

    def pledge(**options: Any) -> Pledge:
        return pledge_of(patents=list(listing.patents), **options)

    return pledge


def licensee(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.enterprise)


def accept_new(session: Session, offer: Offer) -> License:
    """An acceptance by an enterprise not seen before."""
    return accept(session, offer, licensee(session))


# Service ----------------------------------------------------------------------------------------


def test_a_pledge_without_consent_suspends_the_declaration_and_leaves_earlier_licenses_alone(
    session: Session,
    bank: Party,
    owner: Party,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    listing, offer = declared
    first_licensee = licensee(session)
    earlier = accept(session, offer, first_licensee, key="before-the-pledge")

    pledge = pledge_declared()

    with pytest.raises(DeclarationSuspendedByPledge) as refused:
        accept_new(session, offer)
    assert refused.value.code == "declaration_suspended_by_pledge"
    assert refused.value.extra["application_numbers"] == [listing.patents[0].application_number]
    assert session.scalars(select(License).where(License.listing_id == listing.id)).all() == [
        earlier
    ]
    # Granted before the pledge: still in force, and not the pledgee's income.
    assert earlier.status is LicenseStatus.active
    assert license_links.pledge_ids_by_license(session, [earlier.id or 0]) == {}
    # A replay of the earlier acceptance still answers with its license.
    replay = accept(session, offer, first_licensee, key="before-the-pledge")
    assert replay.id == earlier.id

    [to_licensor] = events_of(session, owner.id, EventType.pledge_recorded_on_declared_patent)
    [to_pledgee] = events_of(session, bank.id, EventType.pledge_recorded_on_declared_patent)
    assert to_licensor.payload == to_pledgee.payload
    assert to_licensor.payload | {"registered_date": None} == {
        "pledge_id": pledge.id,
        "registration_number": pledge.registration_number,
        "registered_date": None,
        "pledgee_id": bank.id,
        "pledgee_name": bank.organization.name,
        "listing_id": listing.id,
        "application_numbers": [listing.patents[0].application_number],
        "pledgee_consented": False,
        "suspended": True,
    }
    [suspended] = events_of(session, owner.id, EventType.declaration_suspended)
    assert suspended.subject == f"listing:{listing.id}"
    assert suspended.payload["pledge_id"] == pledge.id
    assert events_of(session, bank.id, EventType.declaration_suspended) == []


def test_a_pledge_carrying_the_pledgees_consent_keeps_the_declaration_open(
    session: Session,
    bank: Party,
    owner: Party,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    listing, offer = declared
    pledge = pledge_declared(consents_to_open_licenses=True)

    assert [consent.listing_id for consent in pledge.consents] == [listing.id]
    license_ = accept_new(session, offer)
    # Granted under the pledge: linked to it, and the pledgee hears of it.
    assert license_links.pledge_ids_by_license(session, [license_.id or 0]) == {
        license_.id: [pledge.id]
    }
    [told] = events_of(session, owner.id, EventType.pledge_recorded_on_declared_patent)
    assert (told.payload["pledgee_consented"], told.payload["suspended"]) == (True, False)
    assert events_of(session, owner.id, EventType.declaration_suspended) == []


def test_the_pledgees_later_consent_resumes_the_declaration(
    session: Session,
    bank: Party,
    owner: Party,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    listing, offer = declared
    pledge = pledge_declared()
    assert declarations.suspending_pledges(session, listing.id or 0) == {pledge.id}

    pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id or 0
    )

    assert declarations.suspending_pledges(session, listing.id or 0) == set()
    [resumed] = events_of(session, owner.id, EventType.declaration_resumed)
    assert resumed.payload | {"pledgee_name": None} == {
        "pledge_id": pledge.id,
        "pledgee_id": bank.id,
        "pledgee_name": None,
        "listing_id": listing.id,
        "cause": "pledgee_consented",
    }
    assert accept_new(session, offer).status is LicenseStatus.active


def test_the_end_of_the_pledge_resumes_the_declaration(
    session: Session,
    bank: Party,
    owner: Party,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    listing, offer = declared
    pledge = pledge_declared()

    lifecycle.cancel_pledge(
        session=session,
        pledge=pledge,
        caller=factories.caller(bank.organization),
        cancellation=PledgeCancellation(reason=CancellationReason.debt_repaid),
    )

    [resumed] = events_of(session, owner.id, EventType.declaration_resumed)
    assert (resumed.payload["listing_id"], resumed.payload["cause"]) == (
        listing.id,
        "pledge_ended",
    )
    assert accept_new(session, offer).status is LicenseStatus.active


def test_a_consented_pledge_that_ends_announces_no_resumption(
    session: Session,
    bank: Party,
    owner: Party,
    pledge_declared: PledgeDeclared,
) -> None:
    pledge = pledge_declared(status=PledgeStatus.cancelled)
    assert pledge.consents == []
    assert len(events_of(session, owner.id, EventType.declaration_resumed)) == 1

    other = pledge_declared(consents_to_open_licenses=True)
    lifecycle.cancel_pledge(
        session=session,
        pledge=other,
        caller=factories.caller(bank.organization),
        cancellation=PledgeCancellation(reason=CancellationReason.waived),
    )
    assert len(events_of(session, owner.id, EventType.declaration_resumed)) == 1


def test_a_pledge_on_an_undeclared_patent_suspends_nothing(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(consents_to_open_licenses=True)
    assert events_of(session, owner.id, EventType.pledge_recorded_on_declared_patent) == []
    assert (
        session.scalars(select(PledgeConsent).where(PledgeConsent.pledge_id == pledge.id)).all()
        == []
    )


def test_a_draft_on_a_pledged_patent_is_not_found_rather_than_suspended(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    draft = factories.draft_listing(session, owner.organization, patent_list=list(pledge.patents))
    declarations.check_acceptance_allowed(session=session, listing_id=draft.id or 0)
    # Not in force, so not suspended; and its offers are not even visible to a licensee.
    with pytest.raises(OfferNotFound):
        accept_new(session, draft.offers[0])


def test_only_pledges_registered_without_consent_suspend(
    session: Session,
    owner: Party,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    _, offer = declared
    for status in (PledgeStatus.applied, PledgeStatus.refused, PledgeStatus.cancelled):
        pledge_declared(status=status)
    assert accept_new(session, offer).status is LicenseStatus.active


# HTTP -------------------------------------------------------------------------------------------


def accept_over_http(client: TestClient, offer: Offer, party: Party) -> Any:
    headers = party.headers | {"Idempotency-Key": str(uuid.uuid4())}
    return client.post(f"/api/v1/offers/{offer.id}/accept", headers=headers)


def test_accepting_a_suspended_declaration_is_a_409_until_the_pledgee_consents(
    client: TestClient,
    session: Session,
    bank: Party,
    owner: Party,
    new_party: NewParty,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    listing, offer = declared
    taker = new_party(kind=OrganizationKind.enterprise)
    pledge = pledge_declared()

    body = assert_problem(
        accept_over_http(client, offer, taker), 409, "declaration_suspended_by_pledge"
    )
    assert body["application_numbers"] == [listing.patents[0].application_number]
    assert session.scalars(select(License).where(License.listing_id == listing.id)).all() == []
    assert len(events_of(session, owner.id, EventType.declaration_suspended)) == 1

    consented = client.post(
        f"/api/v1/pledges/{pledge.id}/consents",
        headers=bank.headers,
        json={"listing_id": listing.id},
    )
    assert consented.status_code == 201, consented.text

    accepted = accept_over_http(client, offer, taker)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["pledge_ids"] == [pledge.id]
    assert len(events_of(session, owner.id, EventType.declaration_resumed)) == 1


def test_accepting_works_again_once_the_pledge_is_cancelled(
    client: TestClient,
    bank: Party,
    new_party: NewParty,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    _, offer = declared
    taker = new_party(kind=OrganizationKind.enterprise)
    pledge = pledge_declared()
    assert_problem(accept_over_http(client, offer, taker), 409, "declaration_suspended_by_pledge")

    cancelled = client.post(
        f"/api/v1/pledges/{pledge.id}/cancel", headers=bank.headers, json={"reason": "waived"}
    )
    assert cancelled.status_code == 200, cancelled.text

    accepted = accept_over_http(client, offer, taker)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["pledge_ids"] == []


def test_registration_over_http_with_consent_in_the_application_keeps_offers_open(
    client: TestClient,
    session: Session,
    bank: Party,
    owner: Party,
    new_party: NewParty,
    declared: tuple[Listing, Offer],
) -> None:
    listing, offer = declared
    patent = listing.patents[0]
    applied = client.post(
        "/api/v1/pledges",
        headers=bank.headers,
        json={
            "pledgor_id": owner.id,
            "application_numbers": [patent.application_number],
            "secured_amount": "1000000",
            "debt_start_date": "2026-07-01",
            "debt_end_date": "2029-06-30",
            "consents_to_open_licenses": True,
        },
    )
    assert applied.status_code == 201, applied.text
    pledge_id = applied.json()["id"]
    assert client.post(f"/api/v1/pledges/{pledge_id}/confirm", headers=owner.headers).is_success
    registered = client.post(
        f"/api/v1/pledges/{pledge_id}/registration",
        headers=bank.headers,
        json={"registration_number": "Y2026980000321", "registration_date": "2026-06-15"},
    )
    assert registered.status_code == 200, registered.text
    assert [item["listing_id"] for item in registered.json()["consents"]] == [listing.id]

    accepted = accept_over_http(client, offer, new_party(kind=OrganizationKind.enterprise))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["pledge_ids"] == [pledge_id]
    assert session.get_one(Pledge, pledge_id).consents_to_open_licenses is True


def test_another_bank_cannot_lift_a_suspension(
    client: TestClient,
    other_bank: Party,
    pledge_declared: PledgeDeclared,
    declared: tuple[Listing, Offer],
) -> None:
    listing, _ = declared
    pledge = pledge_declared()
    # The register shows the pledge to other banks; consenting is the pledgee's alone.
    assert_problem(
        client.post(
            f"/api/v1/pledges/{pledge.id}/consents",
            headers=other_bank.headers,
            json={"listing_id": listing.id},
        ),
        403,
        "not_pledgee",
    )


def test_the_acceptance_check_locks_the_listing_and_its_patents_in_one_statement(
    session: Session, owner: Party
) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    session.flush()
    with counting_statements(session) as statements:
        declarations.check_acceptance_allowed(session=session, listing_id=listing.id or 0)

    [locked] = statements
    if session.get_bind().dialect.name == "postgresql":
        assert " ".join(locked.split()).endswith("FOR SHARE OF listing, patent")


def test_a_listing_without_patents_is_locked_all_the_same(session: Session, owner: Party) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    session.flush()
    session.execute(sa.delete(ListingPatent).where(col(ListingPatent.listing_id) == listing.id))
    with counting_statements(session) as statements:
        declarations.check_acceptance_allowed(session=session, listing_id=listing.id or 0)

    # No patent row to lock it with: the listing's own lock follows.
    assert len(statements) == 2
    if session.get_bind().dialect.name == "postgresql":
        assert " ".join(statements[1].split()).endswith("FOR SHARE")
        assert "FROM listing" in statements[1]
