"""Who sees which pledge, and how much of it."""

from sqlmodel import Session

from marketplace.pagination import PageParams
from marketplace.pledges import views
from marketplace.pledges.errors import PledgeNotFound
from marketplace.pledges.models import Pledge, PledgeStatus
from tests import factories
from tests.factories import Party
from tests.pledges.conftest import MakePledge

# Who sees what ---------------------------------------------------------------------------------


def test_get_visible_pledge_hides_applications_from_other_banks(
    session: Session, bank: Party, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    registered = pledge_of()
    applied = pledge_of(status=PledgeStatus.applied)

    def visible(pledge: Pledge, party: Party, *, is_bank: bool) -> bool:
        assert pledge.id is not None
        try:
            # A bank reads the register with the pledges scope; without it, only its own.
            scopes = None if is_bank else frozenset[str]()
            views.get_visible_pledge(
                session=session,
                pledge_id=pledge.id,
                caller=factories.caller(party.organization, scopes),
            )
        except PledgeNotFound:
            return False
        return True

    assert visible(applied, bank, is_bank=True)
    assert visible(applied, owner, is_bank=False)
    assert not visible(applied, other_bank, is_bank=True)
    assert visible(registered, other_bank, is_bank=True)
    # Only banks read the register.
    assert not visible(registered, other_bank, is_bank=False)


def test_list_pledges_shows_other_banks_only_the_register(
    session: Session, bank: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    registered = pledge_of()
    pledge_of(status=PledgeStatus.applied)
    pledge_of(status=PledgeStatus.refused)
    withdrawn = pledge_of(status=PledgeStatus.cancelled, confirmed=False)
    found, _ = views.list_pledges(
        session=session,
        params=PageParams(limit=50),
        caller=factories.caller(other_bank.organization),
    )
    assert [p.id for p in found] == [registered.id]
    assert withdrawn.registration_number is None


def test_to_view_for_the_register_leaves_private_fields_out(pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.changed)
    view = views.to_view(pledge, full=False)
    assert view.visibility == "register"
    assert view.registration_number == pledge.registration_number
    private = {
        "debtor_name",
        "secured_amount",
        "currency",
        "debt_start_date",
        "debt_end_date",
        "guarantee_scope",
        "valuation",
        "pledgor_confirmed_at",
        "refusal_reasons",
        "cancellation_reason",
        "history",
        "consents",
        "created_at",
    }
    assert {name for name in private if getattr(view, name) is not None} == set()
    full = views.to_view(pledge, full=True)
    assert {name for name in private if getattr(full, name) is None} == {
        "guarantee_scope",
        "cancellation_reason",
    }
