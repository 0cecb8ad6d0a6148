"""What other domains call: the pledgee's consent to open licensing (Civil Code art. 444) and the
registered pledges on patents."""

import pytest
from sqlmodel import Session

from marketplace.pledges import service as pledges
from marketplace.pledges.errors import ListingNotOnPledgedPatent, NotPledgee, PledgeWrongState
from marketplace.pledges.models import PledgeStatus
from marketplace.workflows import declarations
from tests import factories
from tests.factories import Party
from tests.pledges.conftest import MakePledge

# Consent to open licensing (Civil Code art. 444) -----------------------------------------------


def test_consent_is_recorded_once_per_listing(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    first = pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
    )
    again = pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
    )
    assert again.id == first.id
    assert [c.listing_id for c in pledge.consents] == [listing.id]
    assert [c.changes for c in pledge.history].count({"consent_listing_id": listing.id}) == 1


def test_consent_is_for_the_pledgee_only(
    session: Session, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    with pytest.raises(NotPledgee):
        pledges.consent_to_listing(
            session=session, pledge=pledge, pledgee=other_bank.organization, listing_id=listing.id
        )
    assert pledge.consents == []


@pytest.mark.parametrize(
    "status", [PledgeStatus.applied, PledgeStatus.refused, PledgeStatus.cancelled]
)
def test_consent_needs_a_registered_pledge(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    with pytest.raises(PledgeWrongState):
        pledges.consent_to_listing(
            session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
        )


def test_consent_needs_a_listing_on_a_pledged_patent(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    elsewhere = factories.draft_listing(session, owner.organization)
    assert elsewhere.id is not None
    with pytest.raises(ListingNotOnPledgedPatent):
        pledges.consent_to_listing(
            session=session, pledge=pledge, pledgee=bank.organization, listing_id=elsewhere.id
        )


def test_consent_to_a_listing_covering_one_of_several_pledged_patents(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    covered = [factories.patent(session, owner.organization) for _ in range(2)]
    pledge = pledge_of(patents=covered)
    mixed = factories.draft_listing(
        session,
        owner.organization,
        patent_list=[factories.patent(session, owner.organization), covered[1]],
    )
    assert mixed.id is not None
    consent = pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=mixed.id
    )
    assert consent.pledge_id == pledge.id


def test_pledges_without_consent(
    session: Session, bank: Party, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    free = factories.patent(session, owner.organization)
    first = pledge_of()
    second = pledge_of(pledgee=other_bank)
    covered = [free, first.patents[0], second.patents[0]]
    listing = factories.draft_listing(session, owner.organization, patent_list=covered)
    other_listing = factories.draft_listing(session, owner.organization, patent_list=covered)
    assert listing.id is not None
    assert other_listing.id is not None

    def blocked(listing_id: int) -> list[int | None]:
        return [p.id for p in pledges.pledges_without_consent(session, covered, listing_id)]

    assert pledges.pledges_without_consent(session, [free], listing.id) == []
    assert blocked(listing.id) == [first.patents[0].id, second.patents[0].id]
    pledges.consent_to_listing(
        session=session, pledge=first, pledgee=bank.organization, listing_id=listing.id
    )
    assert blocked(listing.id) == [second.patents[0].id]
    # A consent covers the listing it names, not another on the same patents.
    assert blocked(other_listing.id) == [first.patents[0].id, second.patents[0].id]


def test_publishing_a_listing_on_a_pledged_patent_needs_the_consent(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert listing.id is not None
    blockers = declarations.publication_blockers(session=session, listing=listing)
    assert [(b.code, b.patent_id) for b in blockers] == [
        ("pledgee_consent_missing", pledge.patents[0].id)
    ]
    pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=listing.id
    )
    assert declarations.publication_blockers(session=session, listing=listing) == []


def test_active_pledge_ids_are_the_registered_pledges_of_the_patents(
    session: Session, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    first = pledge_of()
    second = pledge_of(pledgee=other_bank)
    applied = pledge_of(status=PledgeStatus.applied)
    covered = [*second.patents, *first.patents, *applied.patents, *first.patents]
    assert pledges.active_pledge_ids(covered) == sorted([first.id or 0, second.id or 0])
