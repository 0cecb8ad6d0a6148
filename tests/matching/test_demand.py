"""The demand a listing meets, without HTTP: views and search hits counted per day, relevant
open needs and per-patent prospects."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization, OrganizationKind, Verification
from marketplace.matching import demand_counters, needs
from marketplace.matching.demand import (
    listing_demand,
    prospect_of,
    record_search_hits,
    record_views,
    search_and_record,
)
from marketplace.matching.models import ListingDemandDaily, Prospect
from tests import factories
from tests.factories import NewParty
from tests.matching.helpers import listed, need_data, org


def test_views_and_search_hits_are_counted_per_day(session: Session, set_today: Any) -> None:
    listing = listed(session, "battery cooling")
    assert listing.id is not None
    record_views(listing_ids=[listing.id, listing.id])
    record_views(listing_ids=[listing.id])
    record_search_hits(listing_ids=[listing.id])
    set_today(factories.TODAY - timedelta(days=40))
    record_views(listing_ids=[listing.id])
    set_today(factories.TODAY)
    # Counted, not written: the read path takes no lock and writes nothing ...
    assert session.exec(select(ListingDemandDaily)).all() == []
    unflushed = listing_demand(session=session, listing=listing, reader=listing.owner)
    assert (unflushed.views_total, unflushed.views_last_30_days) == (3, 2)
    # ... until the tally is flushed, in one upsert, and then counted once.
    assert demand_counters.tally.flush(session.connection()) == 2
    rows = session.exec(select(ListingDemandDaily).order_by(col(ListingDemandDaily.day))).all()
    assert [(r.day, r.views, r.search_hits) for r in rows] == [
        (factories.TODAY - timedelta(days=40), 1, 0),
        (factories.TODAY, 2, 1),
    ]
    demand = listing_demand(session=session, listing=listing, reader=listing.owner)
    assert (demand.views_total, demand.views_last_30_days) == (3, 2)
    assert (demand.search_hits_total, demand.search_hits_last_30_days) == (1, 1)


def test_demand_lists_relevant_open_needs_and_prospects(session: Session) -> None:
    listing = listed(session, "锂电池 thermal management", ipc_codes=["H01M 10/0525"])
    assert listing.id is not None
    sme: Organization = org(session)
    by_words = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="thermal management", description="锂电池"),
    )
    by_ipc = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="zzqx", description="qqzx", ipc_codes=["H01M 10/44"]),
    )
    needs.create_need(
        session=session, organization=sme, data=need_data(title="gearbox", description="tractor")
    )
    closed = needs.create_need(
        session=session, organization=sme, data=need_data(title="thermal management")
    )
    needs.close_need(session=session, need=closed)
    demand = listing_demand(session=session, listing=listing, reader=listing.owner)
    assert {n.need_id for n in demand.matching_needs} == {by_words.id, by_ipc.id}
    assert demand.matching_needs[0].need_id == by_words.id
    [patent] = demand.patents
    assert patent.matching_needs == 2
    assert (patent.signal, patent.prospect) == (4.0, Prospect.medium)
    record_views(listing_ids=[listing.id])
    for _ in range(39):
        record_views(listing_ids=[listing.id])
    [patent] = listing_demand(session=session, listing=listing, reader=listing.owner).patents
    assert (patent.signal, patent.prospect) == (8.0, Prospect.high)
    assert prospect_of(2.99) is Prospect.low


def test_a_need_sharing_only_boilerplate_words_is_not_demand(session: Session) -> None:
    """The demand view weighs a need's words as the search weighs a query's."""
    for title in ("一种污水处理方法", "一种种子处理装置及方法", "一种钢材焊接方法", "茶叶加工装置"):
        listed(session, title)
    listing = listed(session, "一种锂离子电池热管理装置及方法")
    sme: Organization = org(session)
    relevant = needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="锂离子电池 热管理", description="方法"),
    )
    needs.create_need(
        session=session,
        organization=sme,
        data=need_data(title="一种饲料加工装置及方法", description="装置"),
    )
    demand = listing_demand(session=session, listing=listing, reader=listing.owner)
    [shown] = demand.matching_needs
    assert shown.need_id == relevant.id
    assert {"锂离子电池", "热管理"} <= set(shown.matched_terms)


def test_a_first_page_of_a_word_search_counts_as_demand(session: Session) -> None:
    first, second = listed(session, "battery cooling"), listed(session, "battery pack")
    page = search_and_record(session=session, q="battery", limit=1)
    assert page.next_cursor is not None
    search_and_record(session=session, q="battery", limit=1, cursor=page.next_cursor)
    search_and_record(session=session)  # no words: not a search
    demand_counters.tally.flush(session.connection())
    hits = {
        row.listing_id: row.search_hits for row in session.exec(select(ListingDemandDaily)).all()
    }
    assert hits == {page.hits[0].listing_id: 1}
    assert page.hits[0].listing_id in {first.id, second.id}


@pytest.mark.parametrize(
    ("kind", "verification", "sees"),
    [
        (OrganizationKind.university, Verification.verified, "every open need"),
        (OrganizationKind.university, Verification.pending, "none"),
        (OrganizationKind.research_institute, Verification.rejected, "none"),
        (OrganizationKind.enterprise, Verification.verified, "its own"),
    ],
)
def test_the_demand_view_shows_only_the_needs_get_need_would_show(
    session: Session, kind: OrganizationKind, verification: Verification, sees: str
) -> None:
    owner = factories.organization(
        session, kind=kind, verified=verification == Verification.verified
    )
    owner.verification = verification
    patent = factories.patent(session, owner, title="锂电池 thermal management")
    listing = factories.draft_listing(session, owner, patent_list=[patent])
    others = needs.create_need(
        session=session, organization=org(session), data=need_data(title="thermal management")
    )
    expected = {"every open need": {others.id}, "none": set(), "its own": set()}[sees]
    if kind == OrganizationKind.enterprise:
        own = needs.create_need(
            session=session, organization=owner, data=need_data(title="thermal management")
        )
        expected = {own.id}

    shown = listing_demand(session=session, listing=listing, reader=owner)

    assert {need.need_id for need in shown.matching_needs} == expected
    for need_id in expected:
        assert need_id is not None
        needs.get_need(session=session, need_id=need_id, reader=owner)


def test_an_unverified_owner_reads_no_other_firms_needs_over_http(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = new_party(kind=OrganizationKind.university, verified=False)
    patent = factories.patent(session, owner.organization, title="thermal management")
    listing = factories.draft_listing(session, owner.organization, patent_list=[patent])
    needs.create_need(
        session=session, organization=org(session), data=need_data(title="thermal management")
    )

    response = client.get(f"/api/v1/listings/{listing.id}/demand", headers=owner.headers)

    assert response.status_code == 200, response.text
    assert response.json()["matching_needs"] == []


def test_flushes_add_up_and_drop_counts_of_deleted_listings(session: Session) -> None:
    kept = listed(session, "battery cooling")
    assert kept.id is not None
    record_views(listing_ids=[kept.id, 999_999])
    assert demand_counters.tally.flush(session.connection()) == 1
    record_views(listing_ids=[kept.id])
    record_search_hits(listing_ids=[kept.id])
    assert demand_counters.tally.flush(session.connection()) == 1
    assert demand_counters.tally.flush(session.connection()) == 0
    [row] = session.exec(select(ListingDemandDaily)).all()
    assert (row.listing_id, row.views, row.search_hits) == (kept.id, 2, 1)


def test_a_failed_flush_keeps_the_counts_for_the_next(session: Session) -> None:
    listing = listed(session, "battery cooling")
    assert listing.id is not None
    record_views(listing_ids=[listing.id])

    class Broken:
        dialect = session.connection().dialect

        def execute(self, *_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError):
        demand_counters.tally.flush(Broken())  # type: ignore[arg-type]
    assert demand_counters.tally.flush(session.connection()) == 1
    [row] = session.exec(select(ListingDemandDaily)).all()
    assert row.views == 1
