"""Pledges as the domains above call them: the pledgee's consent to open licensing of pledged
patents (Civil Code art. 444), and what pledgees are told of their collateral
(``collateral``)."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization
from marketplace.listings.models import ListingPatent
from marketplace.patents.models import Patent
from marketplace.pledges import declarations, lifecycle
from marketplace.pledges.collateral import active_pledge_ids, notify_pledgees, patent_changed
from marketplace.pledges.declarations import check_acceptance_allowed
from marketplace.pledges.errors import ListingNotOnPledgedPatent, NotPledgee, PledgeWrongState
from marketplace.pledges.models import ACTIVE_PLEDGE_STATUSES, Pledge, PledgeConsent

__all__ = [
    "active_pledge_ids",
    "check_acceptance_allowed",
    "consent_to_listing",
    "notify_pledgees",
    "patent_changed",
    "pledges_without_consent",
]


def consent_to_listing(
    *, session: Session, pledge: Pledge, pledgee: Organization, listing_id: int
) -> PledgeConsent:
    """The pledgee agrees that the pledged patents in this listing be openly licensed."""
    if pledge.pledgee_id != pledgee.id:
        raise NotPledgee("Only the pledgee consents to licensing pledged patents.")
    if pledge.status not in ACTIVE_PLEDGE_STATUSES:
        raise PledgeWrongState(f"Pledge {pledge.id} is {pledge.status}, not registered.")
    covered = session.scalars(
        select(ListingPatent.patent_id).where(ListingPatent.listing_id == listing_id)
    ).all()
    if not set(covered) & {patent.id for patent in pledge.patents}:
        raise ListingNotOnPledgedPatent(
            f"Listing {listing_id} covers none of the patents of pledge {pledge.id}."
        )
    existing = next((item for item in pledge.consents if item.listing_id == listing_id), None)
    if existing is not None:
        return existing
    assert pledge.id is not None
    consent = PledgeConsent(pledge_id=pledge.id, listing_id=listing_id)
    pledge.consents.append(consent)
    session.add(consent)
    session.flush()
    lifecycle.record_change(
        session, pledge, actor=pledgee, changes={"consent_listing_id": listing_id}
    )
    declarations.on_consent(session=session, pledge=pledge, listing_id=listing_id)
    return consent


def pledges_without_consent(
    session: Session, patents_: Sequence[Patent], listing_id: int
) -> list[Patent]:
    """The pledged patents among ``patents_`` whose pledgee has not consented to this listing."""
    pledged = {patent.active_pledge_id for patent in patents_ if patent.active_pledge_id}
    if not pledged:
        return []
    consented = set(
        session.scalars(
            select(PledgeConsent.pledge_id).where(
                col(PledgeConsent.pledge_id).in_(pledged), PledgeConsent.listing_id == listing_id
            )
        ).all()
    )
    return [
        patent
        for patent in patents_
        if patent.active_pledge_id is not None and patent.active_pledge_id not in consented
    ]
