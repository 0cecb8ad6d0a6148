"""SME profiles and technology needs without HTTP: who keeps them, who sees them, paging."""

from decimal import Decimal

import pytest
from sqlmodel import Session, select

from marketplace.accounts.errors import OrganizationNotVerified
from marketplace.accounts.models import OrganizationKind
from marketplace.matching import needs
from marketplace.matching.errors import (
    NeedClosed,
    NeedNotFound,
    NeedsNotVisible,
    NotAnEnterprise,
    ProfileNotFound,
)
from marketplace.matching.models import SmeProfileUpdate, TechnologyNeed
from tests.matching.helpers import need_data, org


def test_profile_is_not_found_before_the_first_put_then_replaced(session: Session) -> None:
    sme = org(session)
    with pytest.raises(ProfileNotFound):
        needs.get_profile(session=session, organization=sme)
    data = SmeProfileUpdate(ipc_interests=["h01m 10", "H01M 10"], budget_max=Decimal(5))
    needs.put_profile(session=session, organization=sme, data=data)
    profile = needs.get_profile(session=session, organization=sme)
    assert profile.ipc_interests == ["H01M 10"]
    needs.put_profile(session=session, organization=sme, data=SmeProfileUpdate(industry="EV"))
    profile = needs.get_profile(session=session, organization=sme)
    assert (profile.industry, profile.budget_max, profile.ipc_interests) == ("EV", None, [])


def test_only_enterprises_keep_profiles_and_post_needs(session: Session) -> None:
    university = org(session, OrganizationKind.university)
    with pytest.raises(NotAnEnterprise):
        needs.put_profile(session=session, organization=university, data=SmeProfileUpdate())
    with pytest.raises(NotAnEnterprise):
        needs.create_need(session=session, organization=university, data=need_data())
    assert session.exec(select(TechnologyNeed)).all() == []


def test_need_visibility(session: Session) -> None:
    sme = org(session)
    need = needs.create_need(
        session=session, organization=sme, data=need_data(budget_max=Decimal(9))
    )
    assert need.id is not None
    university = org(session, OrganizationKind.university)
    seen = needs.get_need(session=session, need_id=need.id, reader=university)
    public = needs.need_public(seen, reader_id=university.id or 0)
    assert public.budget_max is None
    assert needs.need_public(seen, reader_id=sme.id or 0).budget_max == Decimal(9)
    with pytest.raises(NeedNotFound):
        needs.get_need(session=session, need_id=need.id, reader=org(session))
    with pytest.raises(NeedsNotVisible):
        needs.get_need(session=session, need_id=need.id, reader=org(session, OrganizationKind.bank))
    unverified = org(session, OrganizationKind.university, verified=False)
    with pytest.raises(OrganizationNotVerified):
        needs.get_need(session=session, need_id=need.id, reader=unverified)
    # A licensor may read the need, but not rank listings for it.
    with pytest.raises(NeedNotFound):
        needs.get_own_need(session=session, need_id=need.id, owner=university)
    needs.close_need(session=session, need=need)
    with pytest.raises(NeedClosed):
        needs.close_need(session=session, need=need)
    with pytest.raises(NeedNotFound):
        needs.get_need(session=session, need_id=need.id, reader=university)
    assert needs.get_need(session=session, need_id=need.id, reader=sme) is need


def test_list_needs_pages_own_or_open(session: Session) -> None:
    sme, other = org(session), org(session)
    mine = [needs.create_need(session=session, organization=sme, data=need_data()) for _ in "abc"]
    theirs = needs.create_need(session=session, organization=other, data=need_data())
    needs.close_need(session=session, need=mine[0])
    first, cursor = needs.list_needs(session=session, reader=sme, limit=2, cursor=None)
    assert [n.id for n in first] == [mine[2].id, mine[1].id]
    rest, end = needs.list_needs(session=session, reader=sme, limit=2, cursor=cursor)
    assert ([n.id for n in rest], end) == ([mine[0].id], None)
    university = org(session, OrganizationKind.research_institute)
    seen, _ = needs.list_needs(session=session, reader=university, limit=50, cursor=None)
    assert [n.id for n in seen] == [theirs.id, mine[2].id, mine[1].id]
