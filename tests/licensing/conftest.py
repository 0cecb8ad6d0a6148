"""Builders shared by the licensing tests: a university that has published an open-license
listing, and verified enterprises that accept its offer."""

import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License
from marketplace.listings.models import Listing, Offer
from tests import factories
from tests.factories import NewParty, Party
from tests.licensing.royalty_builders import license_for

Accept = Callable[..., httpx.Response]


@pytest.fixture
def licensor(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.university)


@pytest.fixture
def licensee(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.enterprise)


@pytest.fixture
def published(session: Session, licensor: Party) -> tuple[Listing, Offer]:
    """The licensor's published listing (one invention filed 2020-03-01) and its offer: a running
    royalty of 3.5 % with a 20,000 minimum a year for three years. Nothing is paid up front, so
    an acceptance puts the license in force at once (the upfront-payment path has tests of its
    own)."""
    return factories.published_listing(
        session,
        licensor.organization,
        offers=[
            factories.offer_data(
                royalty_type="running",
                royalty_rate=Decimal("3.5"),
                minimum_annual=Decimal("20000"),
            )
        ],
    )


@pytest.fixture
def listing(published: tuple[Listing, Offer]) -> Listing:
    return published[0]


@pytest.fixture
def offer(published: tuple[Listing, Offer]) -> Offer:
    return published[1]


@pytest.fixture
def accept(client: TestClient) -> Accept:
    """``accept(offer_or_id, party, key=None)``: POST the acceptance, a fresh key unless given."""

    def post(offer: Offer | int, party: Party, key: str | None = None) -> httpx.Response:
        offer_id = offer if isinstance(offer, int) else offer.id
        headers = party.headers | {"Idempotency-Key": key or str(uuid.uuid4())}
        response: httpx.Response = client.post(f"/api/v1/offers/{offer_id}/accept", headers=headers)
        return response

    return post


Grant = Callable[..., License]


@pytest.fixture
def grant(session: Session, offer: Offer) -> Grant:
    """``grant(party, offer=None)``: the party takes a license under the offer, via the service."""

    def take(party: Party, under: Offer | None = None) -> License:
        chosen = under or offer
        assert chosen.id is not None
        license_, _ = licensing.accept_offer(
            session=session,
            offer_id=chosen.id,
            licensee=party.organization,
            user=party.user,
            idempotency_key=str(uuid.uuid4()),
        )
        # The upfront fee paid and confirmed: the license in force, as most tests need it.
        return factories.pay_upfront(session, license_)

    return take


# Organizations and licenses for the royalty, obligation and payment tests (no HTTP).


@pytest.fixture
def licensor_org(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


@pytest.fixture
def licensee_org(session: Session) -> Organization:
    return factories.organization(session)


@pytest.fixture
def hybrid(session: Session, licensor_org: Organization, licensee_org: Organization) -> License:
    """Hybrid: 50,000 entry fee, 3.5 % of net sales, 20,000 minimum a year, three years."""
    return license_for(session, licensor_org, licensee_org)


@pytest.fixture
def unpaid_hybrid(
    session: Session, licensor_org: Organization, licensee_org: Organization
) -> License:
    """The hybrid license before its 50,000 entry fee is paid: pending, the fee due 2026-07-15."""
    return license_for(session, licensor_org, licensee_org, paid=False)


@pytest.fixture
def running(session: Session, licensor_org: Organization, licensee_org: Organization) -> License:
    """Running royalty of 5 %, no minimum, no entry fee."""
    return license_for(
        session, licensor_org, licensee_org, royalty_type="running", royalty_rate=Decimal(5)
    )
