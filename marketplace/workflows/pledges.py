"""Pledge use cases that reach beyond the pledge record: recording the office's registration
claims the patents, starts the pledgee's watch over them, applies Civil Code art. 444 to the
declarations in force on them and tells the parties."""

from sqlmodel import Session

from marketplace import clock
from marketplace.accounts.caller import Caller
from marketplace.events.models import EventType
from marketplace.pledges import collateral, declarations, lifecycle
from marketplace.pledges.models import Pledge, PledgeRegistrationCreate


def record_registration(
    *, session: Session, pledge: Pledge, caller: Caller, registration: PledgeRegistrationCreate
) -> Pledge:
    """The office registered the pledge (it takes effect); the pledgee or a platform admin
    records the office's number and date. Every rule is checked again, then each patent is
    claimed by conditional update, so that of two racing registrations on a patent one fails."""
    number = lifecycle.check_registration(session, pledge, caller=caller, registration=registration)
    today = clock.today()
    lifecycle.check_registrable(pledge, today=today)
    lifecycle.mark_registered(session=session, pledge=pledge)
    lifecycle.claim_patents(session=session, pledge=pledge)
    collateral.start_watching(session=session, pledge=pledge, today=today)
    lifecycle.record_registration(
        session=session,
        pledge=pledge,
        actor=caller.organization,
        registration_number=number,
        registration_date=registration.registration_date,
    )
    lifecycle.announce(session, pledge, EventType.pledge_registered)
    declarations.on_registration(session=session, pledge=pledge)
    return pledge
