"""The daily sweep: what the calendar changes, across domains, in one transaction."""

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from marketplace.accounts import revocations
from marketplace.licensing import obligations, recordation
from marketplace.licensing import service as licensing
from marketplace.pledges import collateral
from marketplace.workflows.declarations import lapse_expired_declarations


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    lapsed_listings: int
    expired_licenses: int
    lapsed_unpaid_licenses: int
    recordation_events: int
    pledgees_told: int
    minimum_years_settled: int
    obligations_overdue: int
    revocations_purged: int = 0


def run_daily_sweep(*, session: Session, today: date) -> SweepOutcome:
    """Open licenses lapse when their patents leave force (term end, unpaid fee), licenses
    expire at the end of their term, licenses waiting for an upfront payment past its due day
    lapse unpaid, the parties hear of recordation deadlines near and past, pledgees hear of
    pledged patents whose annual fee fell due or went unpaid, minimum royalties of ended license
    years become owed, and overdue obligations are announced. Revoked tokens and logins that
    can no longer be presented are forgotten."""
    lapsed = lapse_expired_declarations(session=session, today=today)
    expired = licensing.expire_licenses(session=session, today=today)
    lapsed_unpaid = licensing.lapse_unpaid_licenses(session=session, today=today)
    recordation_told = recordation.announce_deadlines(session=session, today=today)
    told = collateral.watch_fee_standing(session=session, today=today)
    settled = obligations.settle_minimum_years(session=session, today=today)
    overdue = obligations.notify_overdue(session=session, today=today)
    purged = revocations.purge_expired_revocations(session=session)
    return SweepOutcome(
        lapsed_listings=len(lapsed),
        expired_licenses=expired,
        lapsed_unpaid_licenses=len(lapsed_unpaid),
        recordation_events=recordation_told,
        pledgees_told=told,
        minimum_years_settled=settled,
        obligations_overdue=overdue,
        revocations_purged=purged,
    )
