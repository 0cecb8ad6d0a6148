"""Saved searches: the service rules, and the alerts a published listing raises."""

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.events.models import Event, EventType
from marketplace.listings import service as listings
from marketplace.listings.models import Listing
from marketplace.matching import saved_searches
from marketplace.matching import service as matching
from marketplace.matching.errors import InvalidSavedSearch, SavedSearchLimitReached
from marketplace.matching.models import (
    SavedSearch,
    SavedSearchCreate,
    SavedSearchQuery,
    SavedSearchTerm,
    SavedSearchUpdate,
)
from tests import factories
from tests.matching.helpers import listed


def save(session: Session, org: Organization, name: str = "Alert", **query: Any) -> SavedSearch:
    return saved_searches.create_saved_search(
        session=session,
        organization=org,
        data=SavedSearchCreate.model_validate({"name": name, **query}),
    )


def alerts(session: Session, org: Organization) -> list[Event]:
    return list(
        session.scalars(
            select(Event)
            .where(col(Event.recipient_id) == org.id)
            .where(col(Event.type) == EventType.saved_search_matched.value)
            .order_by(col(Event.id))
        )
    )


def test_a_chinese_saved_search_alerts_on_a_matching_listing(session: Session) -> None:
    saver = factories.organization(session)
    saved = save(session, saver, "电池", q="电池")
    assert saved.terms == ["电池"]
    listing = listed(session, "一种锂离子电池的制备方法")
    [event] = alerts(session, saver)
    assert event.subject == f"listing:{listing.id}"
    assert event.payload["saved_search_id"] == saved.id
    assert event.payload["name"] == "电池"
    assert event.payload["listing_id"] == listing.id
    assert event.payload["title"] == "一种锂离子电池的制备方法"
    assert event.payload["matched_terms"] == ["电池"]
    assert event.payload["saved_searches"] == [
        {"id": saved.id, "name": "电池", "matched_terms": ["电池"]}
    ]
    assert saved.last_alerted_at is not None


def test_english_words_match_by_stem(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, q="Batteries charging")
    listed(session, "Battery pack", abstract="Charged quickly")
    assert len(alerts(session, saver)) == 1


def test_every_word_must_appear(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, q="电池 gearbox")
    listed(session, "一种锂离子电池的制备方法")
    assert alerts(session, saver) == []
    listed(session, "电池 gearbox assembly")
    assert len(alerts(session, saver)) == 1


def test_words_in_the_description_and_abstract_count(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, q="graphene")
    listed(session, "Electrode", abstract="made of graphene sheets")
    assert len(alerts(session, saver)) == 1


def test_filters_are_respected(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, "Beijing", q="电池", region="Beijing")
    save(session, saver, "Cheap", q="电池", max_upfront_fee="1000")
    listed(session, "电池 A")  # owner in Zhejiang, upfront fee 50,000
    assert alerts(session, saver) == []
    beijing = factories.organization(session, kind=OrganizationKind.university, region="Beijing")
    listed(session, "电池 B", owner=beijing)
    cheap = listed(
        session,
        "电池 C",
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("1000"))],
    )
    found = alerts(session, saver)
    assert [(e.payload["name"], e.payload["title"]) for e in found] == [
        ("Beijing", "电池 B"),
        ("Cheap", "电池 C"),
    ]
    assert found[1].payload["listing_id"] == cheap.id


def test_a_filters_only_saved_search_alerts(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, ipc="H01M", kind="utility_model")
    listed(session, "Anything", ipc_codes=["H01M 10/0525"], type_digit=1)
    assert alerts(session, saver) == []
    listed(session, "Anything else", ipc_codes=["G06F 16/33"], type_digit=2)
    assert alerts(session, saver) == []
    listed(session, "A cell", ipc_codes=["H01M 4/00"], type_digit=2)
    assert len(alerts(session, saver)) == 1


def test_drafts_and_withdrawals_never_alert(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, q="电池")
    owner = factories.organization(session, kind=OrganizationKind.university)
    patent = factories.patent(session, owner, title="一种锂离子电池")
    draft = factories.draft_listing(session, owner, patent_list=[patent])
    assert alerts(session, saver) == []
    listings.publish_listing(session=session, listing=draft)
    assert len(alerts(session, saver)) == 1
    listings.withdraw_listing(session=session, listing=draft)
    assert len(alerts(session, saver)) == 1
    # Declared again in a new listing: a new publication, a new alert.
    again = factories.draft_listing(session, owner, patent_list=[patent])
    listings.publish_listing(session=session, listing=again)
    assert [e.payload["listing_id"] for e in alerts(session, saver)] == [draft.id, again.id]


def test_the_publisher_is_never_alerted_about_its_own_listing(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, q="电池")
    listed(session, "一种锂离子电池", owner=saver)
    assert alerts(session, saver) == []


def test_every_saver_is_alerted_once_per_listing(session: Session) -> None:
    first, second = factories.organization(session), factories.organization(session)
    one = save(session, first, "one", q="电池")
    two = save(session, first, "two", q="锂离子 电池")
    save(session, second, q="battery")
    listed(session, "一种锂离子电池 battery")
    [event] = alerts(session, first)
    assert [s["id"] for s in event.payload["saved_searches"]] == [one.id, two.id]
    assert event.payload["saved_search_id"] == one.id
    assert len(alerts(session, second)) == 1


def test_deleted_and_paused_saved_searches_stop_alerting(session: Session) -> None:
    saver = factories.organization(session)
    deleted = save(session, saver, "deleted", q="电池")
    paused = save(session, saver, "paused", q="电池")
    saved_searches.delete_saved_search(session=session, saved=deleted)
    saved_searches.update_saved_search(
        session=session, saved=paused, changes=SavedSearchUpdate(active=False)
    )
    listed(session, "一种锂离子电池")
    assert alerts(session, saver) == []
    assert (
        session.scalars(
            select(SavedSearchTerm).where(col(SavedSearchTerm.saved_search_id) == deleted.id)
        ).all()
        == []
    )
    saved_searches.update_saved_search(
        session=session, saved=paused, changes=SavedSearchUpdate(active=True)
    )
    listed(session, "电池组")
    assert [e.payload["name"] for e in alerts(session, saver)] == ["paused"]


def test_saving_keeps_the_validated_query_and_its_words(session: Session) -> None:
    saver = factories.organization(session)
    saved = save(session, saver, q="Lithium BATTERIES 电池", ipc="h01m10", max_upfront_fee="0")
    assert saved.terms == ["lithium", "batteri", "电池"]
    assert saved.term_count == 3
    assert saved.query == {"q": "Lithium BATTERIES 电池", "ipc": "H01M 10", "max_upfront_fee": "0"}
    stored = session.scalars(
        select(SavedSearchTerm.term).where(col(SavedSearchTerm.saved_search_id) == saved.id)
    ).all()
    assert sorted(stored) == sorted(saved.terms)


@pytest.mark.parametrize(
    "query",
    [{"q": "的 and the"}, {}, {"q": None}],
)
def test_a_search_without_words_or_filters_is_refused(
    session: Session, query: dict[str, Any]
) -> None:
    saver = factories.organization(session)
    with pytest.raises(InvalidSavedSearch):
        save(session, saver, **query)
    assert session.scalar(select(sa.func.count()).select_from(SavedSearch)) == 0


def test_the_number_of_saved_searches_is_limited(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "saved_searches_per_organization", 2)
    saver, other = factories.organization(session), factories.organization(session)
    save(session, saver, q="one")
    save(session, saver, q="two")
    with pytest.raises(SavedSearchLimitReached):
        save(session, saver, q="three")
    save(session, other, q="three")
    count = select(sa.func.count()).select_from(SavedSearch)
    assert session.scalar(count.where(col(SavedSearch.organization_id) == saver.id)) == 2


FILTER_CASES: list[dict[str, Any]] = [
    {"ipc": "H01M"},
    {"ipc": "H01M 10"},
    {"ipc": "H01M 10/0525"},
    {"ipc": "G06F 16"},
    {"ipc": "G06F 16/30"},
    {"ipc": "H"},
    {"kind": "invention"},
    {"kind": "utility_model"},
    {"royalty_type": "lump_sum"},
    {"royalty_type": "hybrid"},
    {"owner_kind": "university"},
    {"owner_kind": "enterprise"},
    {"region": "Zhejiang"},
    {"region": "Beijing"},
    {"max_upfront_fee": "1000"},
    {"max_upfront_fee": "0"},
    {"max_royalty_rate": "3"},
    {"max_royalty_rate": "3.5"},
    {"min_remaining_years": 5},
    {"min_remaining_years": 15},
    {"region": "Beijing", "kind": "utility_model", "max_upfront_fee": "1000"},
]


def test_the_alert_filters_agree_with_the_search(session: Session) -> None:
    """The filters checked in memory at publish time select what the search's SQL selects."""
    beijing = factories.organization(session, kind=OrganizationKind.enterprise, region="Beijing")
    found: list[Listing] = [
        listed(session, "one", ipc_codes=["H01M 10/0525"]),
        listed(session, "two", ipc_codes=["G06F 16/33"], type_digit=2, owner=beijing),
        listed(
            session,
            "three",
            ipc_codes=["H01M 4/00", "H04L 9/32"],
            offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("1000"))],
        ),
        listed(
            session,
            "four",
            ipc_codes=["G06F 16/30"],
            type_digit=2,
            owner=beijing,
            offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("3"))],
        ),
    ]
    sizes: set[int] = set()
    for case in FILTER_CASES:
        filters = saved_searches.filters_of(SavedSearchQuery.model_validate(case))
        by_search = {
            hit.listing_id
            for hit in matching.search_listings(session=session, filters=filters, limit=50).hits
        }
        by_alert = {
            listing.id
            for listing in found
            if saved_searches.matches_filters(
                filters,
                matching.search_row(listing),
                owner=session.get_one(Organization, listing.owner_id),
                today=clock.today(),
            )
        }
        assert by_alert == by_search, case
        sizes.add(len(by_search))
    # The cases select nothing, some and all of the listings.
    assert {0, 1, len(found)} <= sizes
