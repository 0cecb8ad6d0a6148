"""A patent's facts change: what follows for its declaration, its index entry and its pledgee."""

from sqlmodel import Session

from marketplace.listings import publication
from marketplace.listings.models import Listing
from marketplace.matching import search_index as matching
from marketplace.patents import service as patents
from marketplace.patents.models import Patent, PatentUpdate
from marketplace.pledges import service as pledges
from marketplace.workflows.declarations import lapse_if_not_in_force


def update_patent(*, session: Session, patent: Patent, changes: PatentUpdate) -> Patent:
    """A patent edit, and its consequences: a declaration on a patent no longer in force lapses,
    the declaring listing's index entry takes the new title, abstract or IPC codes, and the
    pledgee of a pledged patent hears of a change in its standing."""
    legal_status_before = str(patent.legal_status)
    updated = patents.update_patent(session=session, patent=patent, changes=changes)
    lapse_if_not_in_force(session=session, patent=updated)
    if updated.open_license_listing_id is not None:
        declaring = session.get(Listing, updated.open_license_listing_id)
        if declaring is not None:
            matching.index_listing(session=session, listing=declaring)
            if "fee_reduction_percent" in changes.model_fields_set:
                # The more favourable reduction is recorded anew: the two never combine.
                publication.record_fee_reductions(declaring)
                session.add(declaring)
    pledges.patent_changed(session, updated, legal_status_before=legal_status_before)
    return updated
