"""A listing shows that acceptance of its offers is suspended by a pledge without the pledgee's
consent (Civil Code art. 444): in its own view and as an item of every list, until the pledgee
consents or the pledge ends."""

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace import clock
from marketplace.accounts.models import OrganizationKind
from marketplace.listings.models import Listing
from marketplace.pledges import declarations
from marketplace.pledges import service as pledges
from tests import factories
from tests.factories import NewParty, Party
from tests.pledges.conftest import MakePledge

LISTINGS = "/api/v1/listings"


def declared(session: Session, owner: Party) -> Listing:
    listing, _ = factories.published_listing(
        session,
        owner.organization,
        offers=[factories.offer_data(royalty_type="running", royalty_rate="3.5")],
    )
    return listing


def item_of(page: dict[str, Any], listing: Listing) -> dict[str, Any]:
    [item] = [item for item in page["items"] if item["id"] == listing.id]
    found: dict[str, Any] = item
    return found


def test_the_service_names_the_suspending_pledges(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    listing, free = declared(session, owner), declared(session, owner)
    pledge = pledge_of(patents=list(listing.patents))
    pledge_of(patents=list(free.patents), consents_to_open_licenses=True)

    found = declarations.suspensions(session, [listing.id or 0, free.id or 0])

    assert list(found) == [listing.id]
    suspension = found[listing.id or 0]
    assert suspension.pledge_ids == [pledge.id]
    assert suspension.application_numbers == [listing.patents[0].application_number]
    assert suspension.since == clock.today()
    assert suspension.code == "declaration_suspended_by_pledge"
    assert declarations.suspensions(session, []) == {}


def test_a_listing_shows_its_suspension_until_the_pledgee_consents(
    client: TestClient,
    session: Session,
    owner: Party,
    bank: Party,
    new_party: NewParty,
    pledge_of: MakePledge,
) -> None:
    listing = declared(session, owner)
    reader = new_party(kind=OrganizationKind.enterprise)
    before = client.get(f"{LISTINGS}/{listing.id}").json()
    assert before["suspension"] is None

    pledge = pledge_of(patents=list(listing.patents))

    viewed = client.get(f"{LISTINGS}/{listing.id}", headers=reader.headers)
    assert viewed.status_code == 200, viewed.text
    body = viewed.json()
    assert body["suspension"] == {
        "code": "declaration_suspended_by_pledge",
        "pledge_ids": [pledge.id],
        "application_numbers": [listing.patents[0].application_number],
        "since": clock.today().isoformat(),
    }
    # Every other field is as it was.
    unchanged = {k: v for k, v in body.items() if k not in ("suspension", "updated_at")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("suspension", "updated_at")}
    assert body["status"] == "published"
    searched = client.get(LISTINGS, params={"owner_id": owner.id}).json()
    assert item_of(searched, listing)["suspension"]["pledge_ids"] == [pledge.id]
    mine = client.get(f"{LISTINGS}/mine", headers=owner.headers).json()
    assert item_of(mine, listing)["suspension"]["pledge_ids"] == [pledge.id]

    pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id or 0
    )

    assert client.get(f"{LISTINGS}/{listing.id}").json()["suspension"] is None
    searched = client.get(LISTINGS, params={"owner_id": owner.id}).json()
    assert item_of(searched, listing)["suspension"] is None
    mine = client.get(f"{LISTINGS}/mine", headers=owner.headers).json()
    assert item_of(mine, listing)["suspension"] is None


def test_a_consented_pledge_or_an_undeclared_listing_shows_no_suspension(
    client: TestClient, session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    listing = declared(session, owner)
    pledge_of(patents=list(listing.patents), consents_to_open_licenses=True)
    draft = factories.draft_listing(session, owner.organization)
    pledge_of(patents=list(draft.patents))

    assert client.get(f"{LISTINGS}/{listing.id}").json()["suspension"] is None
    own = client.get(f"{LISTINGS}/{draft.id}", headers=owner.headers).json()
    assert own["suspension"] is None
    assert all(
        item["suspension"] is None
        for item in client.get(f"{LISTINGS}/mine", headers=owner.headers).json()["items"]
    )
