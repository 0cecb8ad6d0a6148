"""Patent edits and what they set off in the domains above patents."""

from sqlmodel import Session

from marketplace.listings import service as listings
from marketplace.listings.models import Listing
from marketplace.matching import service as matching
from marketplace.patents import service as patents
from marketplace.patents.models import Patent, PatentUpdate
from marketplace.pledges import service as pledges


def update_patent(*, session: Session, patent: Patent, changes: PatentUpdate) -> Patent:
    """A patent edit, and its consequences: a declaration on a patent no longer in force lapses,
    and the pledgee of a pledged patent hears of a change in its standing."""
    legal_status_before = str(patent.legal_status)
    updated = patents.update_patent(session=session, patent=patent, changes=changes)
    listings.lapse_if_not_in_force(session=session, patent=updated)
    if updated.open_license_listing_id is not None:
        # Its title, abstract or IPC codes are part of the declaring listing's index entry.
        declaring = session.get(Listing, updated.open_license_listing_id)
        if declaring is not None:
            matching.index_listing(session=session, listing=declaring)
    pledges.patent_changed(session, updated, legal_status_before=legal_status_before)
    return updated
