"""Who sees which pledge, and how much of it: the parties and platform admins see everything;
banks reading with the pledges scope also see the public register (registered pledges, with
register fields only); nobody else learns that a pledge exists."""

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace.accounts.caller import Caller
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents.models import Patent
from marketplace.pledges.errors import PledgeNotFound
from marketplace.pledges.models import (
    Pledge,
    PledgeChangePublic,
    PledgeConsentPublic,
    PledgedPatent,
    PledgePatent,
    PledgeStatus,
    PledgeView,
    Valuation,
)


def get_pledge(*, session: Session, pledge_id: int) -> Pledge:
    pledge = session.get(Pledge, pledge_id)
    if pledge is None:
        raise PledgeNotFound(f"Pledge {pledge_id} does not exist.")
    return pledge


def is_on_register(pledge: Pledge) -> bool:
    """Registration is public; applications and refusals concern only the parties."""
    return pledge.registration_number is not None


def sees_everything(pledge: Pledge, caller: Caller) -> bool:
    """The parties and platform admins see a pledge in full."""
    parties = (pledge.pledgee_id, pledge.pledgor_id)
    return caller.is_platform_admin or caller.organization_id in parties


def reads_register(caller: Caller) -> bool:
    """Banks reading with the pledges scope also see the public register."""
    return caller.is_bank and "pledges" in caller.scopes


def get_visible_pledge(*, session: Session, pledge_id: int, caller: Caller) -> Pledge:
    pledge = get_pledge(session=session, pledge_id=pledge_id)
    if sees_everything(pledge, caller):
        return pledge
    if reads_register(caller) and is_on_register(pledge):
        return pledge
    raise PledgeNotFound(f"Pledge {pledge_id} does not exist.")


def list_pledges(
    *,
    session: Session,
    params: PageParams,
    caller: Caller,
    patent_id: int | None = None,
    application_number: str | None = None,
    pledgor_id: int | None = None,
    pledgee_id: int | None = None,
    status: PledgeStatus | None = None,
    registered_from: date | None = None,
    registered_to: date | None = None,
) -> tuple[Sequence[Pledge], str | None]:
    statement = select(Pledge)
    if not caller.is_platform_admin:
        own = sa.or_(
            col(Pledge.pledgee_id) == caller.organization_id,
            col(Pledge.pledgor_id) == caller.organization_id,
        )
        # Banks also see the public register: every registered pledge, with register fields only.
        on_register = col(Pledge.registration_number).is_not(None)
        visible = sa.or_(own, on_register) if reads_register(caller) else own
        statement = statement.where(visible)
    if application_number is not None:
        statement = statement.where(
            col(Pledge.id).in_(
                select(PledgePatent.pledge_id)
                .join(Patent, col(Patent.id) == col(PledgePatent.patent_id))
                .where(Patent.application_number == application_number)
            )
        )
    if patent_id is not None:
        statement = statement.where(
            col(Pledge.id).in_(
                select(PledgePatent.pledge_id).where(PledgePatent.patent_id == patent_id)
            )
        )
    if pledgor_id is not None:
        statement = statement.where(col(Pledge.pledgor_id) == pledgor_id)
    if pledgee_id is not None:
        statement = statement.where(col(Pledge.pledgee_id) == pledgee_id)
    if status is not None:
        statement = statement.where(col(Pledge.status) == status)
    if registered_from is not None:
        statement = statement.where(col(Pledge.registered_date) >= registered_from)
    if registered_to is not None:
        statement = statement.where(col(Pledge.registered_date) <= registered_to)
    return paginate_by_id(session, statement, id_column=Pledge.id, params=params)


def view_for(pledge: Pledge, caller: Caller) -> PledgeView:
    """The pledge as ``caller`` may see it: in full, or as the register shows it."""
    return to_view(pledge, full=sees_everything(pledge, caller))


def to_view(pledge: Pledge, *, full: bool) -> PledgeView:
    names = _names(pledge)
    view: dict[str, Any] = {
        "visibility": "full" if full else "register",
        "id": pledge.id,
        "status": pledge.status,
        "pledgor_id": pledge.pledgor_id,
        "pledgor_name": names[pledge.pledgor_id],
        "pledgee_id": pledge.pledgee_id,
        "pledgee_name": names[pledge.pledgee_id],
        "patents": [PledgedPatent.model_validate(p, from_attributes=True) for p in pledge.patents],
        "registration_number": pledge.registration_number,
        "registered_date": pledge.registered_date,
        "registration_number_platform_assigned": pledge.registration_number_platform_assigned,
        "cancelled_at": pledge.cancelled_at,
    }
    if full:
        view |= {
            "debtor_name": pledge.debtor_name,
            "secured_amount": pledge.secured_amount,
            "currency": pledge.currency,
            "debt_start_date": pledge.debt_start_date,
            "debt_end_date": pledge.debt_end_date,
            "guarantee_scope": pledge.guarantee_scope,
            "valuation": _valuation(pledge),
            "pledgor_confirmed_at": pledge.pledgor_confirmed_at,
            "co_owner_consents": pledge.co_owner_consents,
            "consents_to_open_licenses": pledge.consents_to_open_licenses,
            "pledgee_proceeds_despite_invalidation": pledge.pledgee_proceeds_despite_invalidation,
            "pledgor_proceeds_despite_invalidation": pledge.pledgor_proceeds_despite_invalidation,
            "refusal_reasons": pledge.refusal_reasons,
            "cancellation_reason": pledge.cancellation_reason,
            "history": [
                PledgeChangePublic.model_validate(change, from_attributes=True)
                for change in pledge.history
            ],
            "consents": [
                PledgeConsentPublic.model_validate(consent, from_attributes=True)
                for consent in pledge.consents
            ],
            "created_at": pledge.created_at,
        }
    return PledgeView.model_validate(view)


def _names(pledge: Pledge) -> dict[int, str]:
    return {pledge.pledgor_id: pledge.pledgor.name, pledge.pledgee_id: pledge.pledgee.name}


def _valuation(pledge: Pledge) -> Valuation | None:
    if pledge.valuation_amount is None:
        return None
    # Stored from one Valuation, so the fields are all present together.
    return Valuation.model_validate(
        {
            "amount": pledge.valuation_amount,
            "method": pledge.valuation_method,
            "valuer": pledge.valuer,
            "valuation_date": pledge.valuation_date,
            "report_ref": pledge.valuation_report_ref,
        }
    )
