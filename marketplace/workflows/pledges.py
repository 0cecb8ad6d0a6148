"""Pledge use cases that reach beyond the pledge record: registration claims the patents, starts
the pledgee's watch over them and tells both parties."""

from sqlmodel import Session

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.events.models import EventType
from marketplace.pledges import collateral, lifecycle
from marketplace.pledges.models import Pledge


def register_pledge(*, session: Session, pledge: Pledge, admin: Organization) -> Pledge:
    """Registration (the pledge takes effect): every rule is checked again, then each patent is
    claimed by conditional update, so that of two racing registrations on a patent one fails."""
    today = clock.today()
    lifecycle.check_registrable(pledge, today=today)
    lifecycle.mark_registered(session=session, pledge=pledge)
    lifecycle.claim_patents(session=session, pledge=pledge)
    collateral.start_watching(session=session, pledge=pledge, today=today)
    lifecycle.record_registration(session=session, pledge=pledge, admin=admin, today=today)
    lifecycle.announce(session, pledge, EventType.pledge_registered)
    return pledge
