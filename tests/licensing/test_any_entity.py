"""Any entity may take an open license (Patent Law art. 51): verified universities and research
institutes as well as enterprises, never the patentee under its own declaration."""

import uuid

import pytest
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.licensing.errors import SelfLicense
from marketplace.licensing.models.licenses import LicenseStatus
from marketplace.listings.models import Offer
from marketplace.workflows import acceptance
from tests import factories
from tests.factories import NewParty
from tests.licensing.conftest import Accept
from tests.problems import assert_problem

RESEARCH_KINDS = [OrganizationKind.university, OrganizationKind.research_institute]


@pytest.mark.parametrize("kind", RESEARCH_KINDS)
def test_a_university_or_institute_takes_a_license(
    session: Session, offer: Offer, new_party: NewParty, kind: OrganizationKind
) -> None:
    taker = new_party(kind=kind)

    accepted = acceptance.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=taker.organization,
        user=taker.user,
        idempotency_key=str(uuid.uuid4()),
    )
    license_ = accepted.license

    assert accepted.created
    assert (license_.licensee_id, license_.status) == (taker.id, LicenseStatus.active)
    assert license_.terms["licensee"]["id"] == taker.id


@pytest.mark.parametrize("kind", RESEARCH_KINDS)
def test_never_under_its_own_declaration(
    session: Session, new_party: NewParty, accept: Accept, kind: OrganizationKind
) -> None:
    patentee = new_party(kind=kind)
    _, own_offer = factories.published_listing(session, patentee.organization)

    with pytest.raises(SelfLicense):
        acceptance.accept_offer(
            session=session,
            offer_id=own_offer.id or 0,
            licensee=patentee.organization,
            user=patentee.user,
            idempotency_key=str(uuid.uuid4()),
        )
    assert_problem(accept(own_offer, patentee), 403, "self_license")


@pytest.mark.parametrize("kind", RESEARCH_KINDS)
def test_an_unverified_university_or_institute_cannot_accept(
    accept: Accept, offer: Offer, new_party: NewParty, kind: OrganizationKind
) -> None:
    assert_problem(
        accept(offer, new_party(kind=kind, verified=False)), 403, "organization_not_verified"
    )
