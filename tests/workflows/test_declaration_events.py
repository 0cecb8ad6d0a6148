"""A declaration's patentee, licensees and pledgees hear of its publication, of its withdrawal
being requested and taking effect, and of its lapse (and so do their webhooks)."""

from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization
from marketplace.events.models import Event, EventType
from marketplace.listings.models import Listing
from marketplace.patents.models import LegalStatus, PatentUpdate
from marketplace.pledges import service as pledges
from marketplace.pledges.models import PledgeStatus
from marketplace.workflows import acceptance, declarations
from marketplace.workflows import patents as patent_workflows
from tests import factories
from tests.factories import Party
from tests.pledges.conftest import MakePledge

DECLARATION_EVENTS = [
    EventType.declaration_published,
    EventType.declaration_withdrawal_requested,
    EventType.declaration_withdrawn,
    EventType.declaration_lapsed,
]


def told(session: Session, organization_id: int) -> list[tuple[str, dict[str, Any]]]:
    rows = session.scalars(
        select(Event)
        .where(col(Event.recipient_id) == organization_id)
        .where(col(Event.type).in_([t.value for t in DECLARATION_EVENTS]))
        .order_by(col(Event.id))
    ).all()
    return [(event.type, event.payload) for event in rows]


def declared_with_licensee_and_pledgee(
    session: Session, owner: Party, bank: Party, pledge_of: MakePledge
) -> tuple[Listing, Organization]:
    pledge = pledge_of(status=PledgeStatus.registered)
    listing = factories.draft_listing(session, owner.organization, patent_list=list(pledge.patents))
    pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id or 0
    )
    factories.publish(session, listing)
    licensee = factories.organization(session)
    acceptance.accept_offer(
        session=session,
        offer_id=listing.offers[0].id or 0,
        licensee=licensee,
        user=None,
        idempotency_key="k",
    )
    return listing, licensee


def test_publication_is_told_to_the_patentee(session: Session, owner: Party) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    [(kind, payload)] = told(session, owner.id)
    assert kind == "declaration.published"
    assert payload["listing_id"] == listing.id
    assert payload["announcement_number"] == listing.announcement_number
    assert payload["announcement_date"] == "2026-06-15"
    assert payload["announcement_source"] == "office"
    assert payload["application_numbers"] == [listing.patents[0].application_number]
    assert payload["fee_reductions"][0]["basis"] == "open_license"


def test_withdrawal_is_told_to_patentee_licensees_and_pledgees(
    session: Session, owner: Party, bank: Party, pledge_of: MakePledge
) -> None:
    listing, licensee = declared_with_licensee_and_pledgee(session, owner, bank, pledge_of)
    bystander = factories.organization(session)

    factories.withdraw(session, listing)

    for organization_id in (owner.id, licensee.id, bank.id):
        kinds = [kind for kind, _ in told(session, organization_id or 0)]
        assert kinds[-2:] == ["declaration.withdrawal_requested", "declaration.withdrawn"]
    assert told(session, bystander.id or 0) == []
    (_, requested), (_, withdrawn) = told(session, licensee.id or 0)
    assert requested["reason"] == "Licensed exclusively"
    assert requested["co_owner_consents"] == []
    assert withdrawn["withdrawal_announcement_number"] == listing.withdrawal_announcement_number
    assert withdrawn["withdrawal_announcement_date"] == "2026-06-15"


def test_a_lapse_is_told_to_patentee_licensees_and_pledgees(
    session: Session, owner: Party, bank: Party, pledge_of: MakePledge
) -> None:
    listing, licensee = declared_with_licensee_and_pledgee(session, owner, bank, pledge_of)
    patent_workflows.update_patent(
        session=session,
        patent=listing.patents[0],
        changes=PatentUpdate(legal_status=LegalStatus.lapsed),
    )
    for organization_id in (owner.id, licensee.id, bank.id):
        kind, payload = told(session, organization_id or 0)[-1]
        assert kind == "declaration.lapsed"
        assert listing.patents[0].application_number in payload["lapse_reason"]


def test_the_daily_sweep_tells_of_the_lapses_it_finds(
    session: Session, owner: Party, set_today: Any
) -> None:
    listing, _ = factories.published_listing(session, owner.organization)
    # The factory pays the fee 200 days ahead: by then unpaid past its late-payment period.
    set_today(date(2028, 1, 15))
    lapsed = declarations.lapse_expired_declarations(session=session)
    assert [item.id for item in lapsed] == [listing.id]
    assert [kind for kind, _ in told(session, owner.id)][-1] == "declaration.lapsed"


def test_a_withdrawal_over_http_is_told_to_the_licensee(
    client: TestClient, session: Session, owner: Party
) -> None:
    listing, offer = factories.published_listing(session, owner.organization)
    licensee = factories.organization(session)
    acceptance.accept_offer(
        session=session, offer_id=offer.id or 0, licensee=licensee, user=None, idempotency_key="k"
    )
    base = f"/api/v1/listings/{listing.id}"
    requested = client.post(f"{base}/withdraw", headers=owner.headers, json={"reason": "Sold"})
    assert requested.status_code == 200, requested.text
    announced = client.post(
        f"{base}/withdrawal-announcement",
        headers=owner.headers,
        json={"announcement_number": "KFCX2026000099", "announcement_date": "2026-06-15"},
    )
    assert announced.status_code == 200, announced.text
    assert [kind for kind, _ in told(session, licensee.id or 0)] == [
        "declaration.withdrawal_requested",
        "declaration.withdrawn",
    ]
