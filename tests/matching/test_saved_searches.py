"""Saved searches: the service rules, and the alerts a published listing raises."""

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.events.models import Event, EventType
from marketplace.listings.bulk_models import (
    BulkDeclarationCreate,
)
from marketplace.listings.models import (
    Listing,
)
from marketplace.matching import candidates, relevance, saved_searches, search, tokenizer
from marketplace.matching.errors import InvalidSavedSearch, NeedClosed, SavedSearchLimitReached
from marketplace.matching.models import (
    SavedSearch,
    SavedSearchClass,
    SavedSearchCreate,
    SavedSearchQuery,
    SavedSearchTerm,
    SavedSearchUpdate,
)
from marketplace.patents.models import LegalStatus, PatentUpdate
from marketplace.workflows import declarations
from marketplace.workflows import patents as patent_workflows
from tests import factories
from tests.factories import NewParty
from tests.matching.helpers import found, listed
from tests.problems import assert_problem
from tests.statements import counting_statements, inserts_into


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
        {
            "id": saved.id,
            "name": "电池",
            "matched_terms": ["电池"],
            "coverage": 1.0,
            "matched_class": None,
        }
    ]
    assert saved.last_alerted_at is not None


def test_english_words_match_by_stem(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, q="Batteries charging")
    listed(session, "Battery pack", abstract="Charged quickly")
    assert len(alerts(session, saver)) == 1


def test_a_listing_with_only_the_commoner_word_does_not_alert(session: Session) -> None:
    for title in ("电池外壳", "电池管理系统", "一种电池隔膜"):
        listed(session, title)
    saver = factories.organization(session)
    save(session, saver, q="电池 gearbox")
    listed(session, "一种锂离子电池的制备方法")
    assert alerts(session, saver) == []
    listed(session, "电池 gearbox assembly")
    assert len(alerts(session, saver)) == 1


BOILERPLATE_CORPUS = (
    "一种污水处理方法",
    "一种种子处理装置及方法",
    "一种钢材焊接方法",
    "茶叶加工装置",
)


def test_a_listing_the_search_ranks_first_alerts_without_every_word(session: Session) -> None:
    """Alerts judge a listing as the search ranks it: the rare words of the saved query count,
    its boilerplate hardly."""
    for title in BOILERPLATE_CORPUS:
        listed(session, title)
    saver = factories.organization(session)
    saved = save(session, saver, q="锂离子电池 热管理 方法")
    relevant = listed(session, "锂离子电池热管理系统")
    [event] = alerts(session, saver)
    assert event.payload["listing_id"] == relevant.id
    [alert] = event.payload["saved_searches"]
    assert alert["id"] == saved.id
    assert "方法" not in alert["matched_terms"]
    assert {"锂离子电池", "热管理"} <= set(alert["matched_terms"])
    assert 0.5 <= alert["coverage"] <= 1
    boilerplate = listed(session, "一种饲料加工方法")
    assert len(alerts(session, saver)) == 1
    # The search agrees: the listing that alerted ranks first, the boilerplate one below it.
    found = search.search_listings(session=session, q="锂离子电池 热管理 方法")
    ranked = [hit.listing_id for hit in found.hits]
    assert ranked[0] == relevant.id
    assert ranked.index(boilerplate.id or 0) > 0


def test_a_listing_with_only_boilerplate_words_does_not_alert(session: Session) -> None:
    for title in BOILERPLATE_CORPUS:
        listed(session, title)
    saver = factories.organization(session)
    save(session, saver, q="一种电池散热装置及方法")
    listed(session, "一种家具组装装置及方法")
    assert alerts(session, saver) == []
    listed(session, "电池散热装置")
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


def test_an_amount_filter_is_exact_below_the_offers_scale(session: Session) -> None:
    saver = factories.organization(session)
    # Without an amount an offer counts as 0: the royalty type keeps the other offer out.
    save(session, saver, "fee", royalty_type="lump_sum", max_upfront_fee="999.999")
    save(session, saver, "rate", royalty_type="running", max_royalty_rate="2.99999")
    listed(
        session,
        "At 1000",
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("1000"))],
    )
    listed(
        session,
        "At 3%",
        offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("3"))],
    )
    assert alerts(session, saver) == []
    listed(
        session,
        "At 999.99",
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("999.99"))],
    )
    listed(
        session,
        "At 2.9999%",
        offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("2.9999"))],
    )
    assert [e.payload["name"] for e in alerts(session, saver)] == ["fee", "rate"]


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
    factories.publish(session, draft)
    assert len(alerts(session, saver)) == 1
    factories.withdraw(session, draft)
    assert len(alerts(session, saver)) == 1
    # Declared again in a new listing: a new publication, a new alert.
    again = factories.draft_listing(session, owner, patent_list=[patent])
    factories.publish(session, again)
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


def test_the_alerts_of_many_organizations_are_one_insert(session: Session) -> None:
    savers = [factories.organization(session) for _ in range(25)]
    for saver in savers:
        save(session, saver, q="电池")
        save(session, saver, region="Zhejiang")
    owner = factories.organization(session, kind=OrganizationKind.university)
    patent = factories.patent(session, owner, title="一种锂离子电池")
    draft = factories.draft_listing(session, owner, patent_list=[patent])
    with counting_statements(session) as statements:
        factories.publish(session, draft)
    # One for the 25 organizations' alerts; one more for the patentee's own notice of the
    # publication (declaration.published).
    assert len(inserts_into(statements, "event")) == 2
    for saver in savers:
        [event] = alerts(session, saver)
        assert len(event.payload["saved_searches"]) == 2


def test_saved_searches_whose_filters_fail_are_not_read(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = factories.organization(session)
    wanted = [save(session, saver, "worded", q="电池"), save(session, saver, "ipc", ipc="H01M")]
    for number in range(20):
        save(session, factories.organization(session), f"Beijing {number}", region="Beijing")
        save(session, factories.organization(session), f"design {number}", q="电池", kind="design")
    read: list[tuple[Any, ...]] = []
    match = saved_searches.Match

    def reading(*row: Any) -> saved_searches.Match:
        read.append(row)
        return match(*row)

    monkeypatch.setattr(saved_searches, "Match", reading)
    listed(session, "一种锂离子电池", ipc_codes=["H01M 10/0525"])
    assert sorted(row[0] for row in read) == [saved.id for saved in wanted]


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
    """The filters that the database checks at publish time, for saved searches with words and
    without, select what the search's SQL selects."""
    beijing = factories.organization(session, kind=OrganizationKind.enterprise, region="Beijing")
    cases = [*FILTER_CASES, {"owner_id": beijing.id}]
    savers = []
    for case in cases:
        filters_only, worded = factories.organization(session), factories.organization(session)
        save(session, filters_only, **case)
        save(session, worded, q="widget", **case)
        savers.append((filters_only, worded))
    found: list[Listing] = [
        listed(session, "widget one", ipc_codes=["H01M 10/0525"]),
        listed(session, "widget two", ipc_codes=["G06F 16/33"], type_digit=2, owner=beijing),
        listed(
            session,
            "widget three",
            ipc_codes=["H01M 4/00", "H04L 9/32"],
            offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("1000"))],
        ),
        listed(
            session,
            "widget four",
            ipc_codes=["G06F 16/30"],
            type_digit=2,
            owner=beijing,
            offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("3"))],
        ),
    ]
    sizes: set[int] = set()
    for case, (filters_only, worded) in zip(cases, savers, strict=True):
        filters = saved_searches.filters_of(SavedSearchQuery.model_validate(case))
        by_search = {
            hit.listing_id
            for hit in search.search_listings(session=session, filters=filters, limit=50).hits
        }
        for saver in (filters_only, worded):
            by_alert = {event.payload["listing_id"] for event in alerts(session, saver)}
            assert by_alert == by_search, (case, saver is worded)
        sizes.add(len(by_search))
    # The cases select nothing, some and all of the listings.
    assert {0, 1, len(found)} <= sizes


# The routes -------------------------------------------------------------------------------------

SAVED = "/api/v1/saved-searches"


def count_saved(session: Session) -> int:
    return session.scalar(select(sa.func.count()).select_from(SavedSearch)) or 0


def test_save_a_search_and_hear_about_a_matching_listing(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    saver = new_party()
    response = client.post(
        SAVED,
        json={"name": "Batteries", "q": "电池", "ipc": "h01m", "max_upfront_fee": "60000"},
        headers=saver.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Batteries"
    assert body["query"]["q"] == "电池"
    assert body["query"]["ipc"] == "H01M"
    assert Decimal(body["query"]["max_upfront_fee"]) == Decimal("60000")
    assert body["query"]["region"] is None
    assert body["terms"] == ["电池"]
    assert body["active"] is True
    assert body["created_by_id"] == saver.user.id
    assert body["last_alerted_at"] is None
    listing = listed(session, "一种锂离子电池的制备方法")
    session.commit()
    # (The feed itself, which shows committed events only, is tested with real commits.)
    [event] = alerts(session, saver.organization)
    assert event.subject == f"listing:{listing.id}"
    assert event.payload["saved_search_id"] == body["id"]
    assert event.payload["matched_terms"] == ["电池"]
    shown = client.get(f"{SAVED}/{body['id']}", headers=saver.headers).json()
    assert shown["last_alerted_at"] is not None


def test_publishing_through_the_api_alerts(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    saver = new_party()
    publisher = new_party(kind=OrganizationKind.university)
    client.post(SAVED, json={"name": "batteries", "q": "batteries"}, headers=saver.headers)
    patent = factories.patent(session, publisher.organization, title="Battery pack")
    draft = factories.draft_listing(session, publisher.organization, patent_list=[patent])
    response = client.post(
        f"/api/v1/listings/{draft.id}/publish",
        json=factories.announcement_body(),
        headers=publisher.headers,
    )
    assert response.status_code == 200, response.text
    assert [e.payload["listing_id"] for e in alerts(session, saver.organization)] == [draft.id]


def test_saved_searches_need_a_token_and_a_possible_licensee(
    client: TestClient, new_party: NewParty
) -> None:
    """Saving a search is for whoever may take a license: any entity but a bank (a university
    searches for licenses too, Patent Law art. 51)."""
    body = {"name": "x", "q": "电池"}
    assert_problem(client.post(SAVED, json=body), 401, "not_authenticated")
    assert_problem(client.get(SAVED), 401, "not_authenticated")
    university = new_party(kind=OrganizationKind.university)
    assert client.post(SAVED, json=body, headers=university.headers).status_code == 201
    for kind in (OrganizationKind.bank,):
        other = new_party(kind=kind)
        assert_problem(
            client.post(SAVED, json=body, headers=other.headers), 403, "insufficient_scope"
        )
        assert_problem(client.get(SAVED, headers=other.headers), 403, "insufficient_scope")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "ipc": "not an ipc"},
        {"name": "x", "q": "电池", "kind": "trademark"},
        {"name": "x", "q": "电池", "max_upfront_fee": "-1"},
        {"name": "x", "q": "电池", "max_royalty_rate": "101"},
        {"name": "x", "q": "电池", "min_remaining_years": 31},
        {"name": "x", "q": "电池", "owner_id": 0},
        {"name": "x", "q": ""},
        {"name": "x", "q": "x" * 201},
        {"name": "", "q": "电池"},
        {"q": "电池"},
        {"name": "x", "q": "电池", "sort": "newest"},
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    client: TestClient, session: Session, new_party: NewParty, body: dict[str, Any]
) -> None:
    saver = new_party()
    assert_problem(client.post(SAVED, json=body, headers=saver.headers), 422, "validation_failed")
    assert count_saved(session) == 0


def test_a_search_that_would_match_everything_is_refused(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    saver = new_party()
    for body in ({"name": "x"}, {"name": "x", "q": "的 the"}):
        response = client.post(SAVED, json=body, headers=saver.headers)
        assert_problem(response, 422, "invalid_saved_search")
    assert count_saved(session) == 0


def test_over_the_limit_is_a_conflict(
    client: TestClient,
    session: Session,
    new_party: NewParty,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "saved_searches_per_organization", 1)
    saver = new_party()
    assert client.post(SAVED, json={"name": "a", "q": "a1"}, headers=saver.headers).is_success
    response = client.post(SAVED, json={"name": "b", "q": "b1"}, headers=saver.headers)
    body = assert_problem(response, 409, "saved_search_limit_reached")
    assert body["limit"] == 1
    assert count_saved(session) == 1


def test_list_and_read_only_your_own(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    saver, stranger = new_party(), new_party()
    ids = [
        client.post(SAVED, json={"name": f"n{i}", "q": f"word{i}"}, headers=saver.headers).json()[
            "id"
        ]
        for i in range(3)
    ]
    foreign = client.post(SAVED, json={"name": "f", "q": "电池"}, headers=stranger.headers)
    first = client.get(SAVED, params={"limit": 2}, headers=saver.headers).json()
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    second = client.get(
        SAVED, params={"limit": 2, "cursor": first["next_cursor"]}, headers=saver.headers
    ).json()
    assert [item["id"] for item in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    assert client.get(f"{SAVED}/{ids[0]}", headers=saver.headers).json()["name"] == "n0"
    foreign_id = foreign.json()["id"]
    for method in ("GET", "DELETE", "PATCH"):
        response = client.request(
            method,
            f"{SAVED}/{foreign_id}",
            headers=saver.headers,
            json={"active": False} if method == "PATCH" else None,
        )
        assert_problem(response, 404, "saved_search_not_found")
    assert_problem(
        client.get(f"{SAVED}/{foreign_id}/results", headers=saver.headers),
        404,
        "saved_search_not_found",
    )
    assert session.get(SavedSearch, foreign_id) is not None
    assert session.get_one(SavedSearch, foreign_id).active is True
    assert_problem(
        client.get(f"{SAVED}/999999", headers=saver.headers), 404, "saved_search_not_found"
    )
    assert_problem(client.get(f"{SAVED}/0", headers=saver.headers), 422, "validation_failed")


def test_delete_stops_the_alerts(client: TestClient, session: Session, new_party: NewParty) -> None:
    saver = new_party()
    saved_id = client.post(SAVED, json={"name": "x", "q": "电池"}, headers=saver.headers).json()[
        "id"
    ]
    response = client.delete(f"{SAVED}/{saved_id}", headers=saver.headers)
    assert response.status_code == 204
    assert_problem(
        client.get(f"{SAVED}/{saved_id}", headers=saver.headers), 404, "saved_search_not_found"
    )
    listed(session, "一种锂离子电池")
    session.commit()
    assert alerts(session, saver.organization) == []


def test_pause_and_rename(client: TestClient, session: Session, new_party: NewParty) -> None:
    saver = new_party()
    saved_id = client.post(SAVED, json={"name": "x", "q": "电池"}, headers=saver.headers).json()[
        "id"
    ]
    response = client.patch(
        f"{SAVED}/{saved_id}", json={"active": False, "name": "later"}, headers=saver.headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["active"], response.json()["name"]) == (False, "later")
    for body in ({"active": None}, {"name": None}):
        response = client.patch(f"{SAVED}/{saved_id}", json=body, headers=saver.headers)
        assert_problem(response, 422, "invalid_saved_search")
    assert_problem(
        client.patch(f"{SAVED}/{saved_id}", json={"q": "x"}, headers=saver.headers),
        422,
        "validation_failed",
    )
    assert session.get_one(SavedSearch, saved_id).name == "later"
    listed(session, "一种锂离子电池")
    session.commit()
    assert alerts(session, saver.organization) == []


def test_results_run_the_saved_search_now(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    saver = new_party()
    older = listed(session, "一种锂离子电池")
    # In another class than the batteries: not brought in across languages by its class.
    listed(session, "Gearbox", ipc_codes=["F16H 1/00"])
    cheap = listed(
        session,
        "电池组 cheap",
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("1000"))],
    )
    words = client.post(SAVED, json={"name": "w", "q": "电池"}, headers=saver.headers).json()
    body = client.get(f"{SAVED}/{words['id']}/results", headers=saver.headers).json()
    assert {item["id"] for item in body["items"]} == {older.id, cheap.id}
    assert body["total"] == 2
    assert all(item["highlights"] for item in body["items"])
    fee = client.post(
        SAVED, json={"name": "f", "max_upfront_fee": "1000"}, headers=saver.headers
    ).json()
    body = client.get(f"{SAVED}/{fee['id']}/results", headers=saver.headers).json()
    assert [item["id"] for item in body["items"]] == [cheap.id]
    assert_problem(client.get(f"{SAVED}/{fee['id']}/results"), 401, "not_authenticated")


def test_only_a_publication_alerts_not_a_later_edit_of_a_patent(session: Session) -> None:
    """An edit that re-indexes a published listing with new words is not a publication."""
    saver = factories.organization(session)
    save(session, saver, q="graphene")
    listing = listed(session, "Electrode")
    assert alerts(session, saver) == []
    patent_workflows.update_patent(
        session=session,
        patent=listing.patents[0],
        changes=PatentUpdate(abstract="Now with graphene"),
    )
    found = search.search_listings(session=session, q="graphene")
    assert [hit.listing_id for hit in found.hits] == [listing.id]
    assert alerts(session, saver) == []


def test_a_bulk_declaration_alerts_for_each_published_listing_only(session: Session) -> None:
    saver = factories.organization(session)
    save(session, saver, q="电池")
    owner = factories.organization(session, kind=OrganizationKind.university)
    good = factories.patent(session, owner, title="一种锂离子电池")
    lapsed = factories.patent(session, owner, title="电池外壳", legal_status=LegalStatus.lapsed)
    outcome = declarations.declare_in_bulk(
        session=session,
        owner=owner,
        data=BulkDeclarationCreate(
            patent_ids=[good.id or 0, lapsed.id or 0],
            offer=factories.offer_data(),
            publish=True,
            announcements=factories.bulk_announcements([good.id or 0, lapsed.id or 0]),
        ),
    )
    assert [r.status for r in outcome.results] == ["published", "refused"]
    assert [e.payload["listing_id"] for e in alerts(session, saver)] == [
        outcome.results[0].listing_id
    ]


# Across languages ------------------------------------------------------------------------------

BATTERY = ["H01M 10/0525"]
GEARS = ["F16H 1/00"]


def test_a_chinese_saved_search_alerts_on_an_english_listing_of_its_field(
    session: Session,
) -> None:
    """As the search ranks it: the best matches of the Chinese words are batteries (H01M), so
    an English battery listing alerts, and an English gearbox does not."""
    saver = factories.organization(session)
    for title in ("一种锂离子电池正极材料", "锂离子电池隔膜", "锂离子电池电解液"):
        listed(session, title, ipc_codes=BATTERY)
    saved = save(session, saver, "锂电", q="锂离子电池")
    assert saved.classes_weighed_at is not None
    english = listed(session, "Cathode coating for rechargeable cells", ipc_codes=["H01M 4/36"])
    listed(session, "Planetary gearbox", ipc_codes=GEARS)
    # A Chinese listing of the class without the words: its own language needs the words.
    listed(session, "一种电极极耳焊接装置", ipc_codes=BATTERY)
    assert english.id in found(session, "锂离子电池")
    [event] = alerts(session, saver)
    assert event.payload["listing_id"] == english.id
    assert event.payload["saved_searches"] == [
        {
            "id": saved.id,
            "name": "锂电",
            "matched_terms": [],
            "coverage": 0.0,
            "matched_class": "H01M",
        }
    ]


def test_an_english_saved_search_alerts_on_a_chinese_listing_of_its_field(
    session: Session,
) -> None:
    saver = factories.organization(session)
    for title in ("Lithium battery cathode", "Lithium battery separator", "Lithium cell"):
        listed(session, title, ipc_codes=BATTERY)
    listed(session, "Gear tooth profile", ipc_codes=GEARS)
    save(session, saver, q="lithium battery")
    chinese = listed(session, "一种固态电解质及其制备方法", ipc_codes=["H01M 10/056"])
    listed(session, "一种行星齿轮减速器", ipc_codes=GEARS)
    listed(session, "Separator coating", ipc_codes=BATTERY)
    assert [
        (e.payload["listing_id"], e.payload["saved_searches"][0]["matched_class"])
        for e in alerts(session, saver)
    ] == [(chinese.id, "H01M")]


def test_a_minor_class_of_the_best_matches_does_not_alert_across_languages(
    session: Session,
) -> None:
    """Only the field most of the best matches share bridges the languages."""
    saver = factories.organization(session)
    for title in ("锂离子电池正极", "锂离子电池负极", "锂离子电池隔膜"):
        listed(session, title, ipc_codes=BATTERY)
    listed(session, "锂离子电池 齿轮箱", ipc_codes=GEARS)
    save(session, saver, q="锂离子电池")
    battery = listed(session, "Anode slurry", ipc_codes=["H01M 4/13"])
    listed(session, "Helical gear", ipc_codes=GEARS)
    assert [e.payload["listing_id"] for e in alerts(session, saver)] == [battery.id]


def test_the_saved_filters_hold_across_languages(session: Session) -> None:
    saver = factories.organization(session)
    for title in ("锂离子电池正极", "锂离子电池负极"):
        listed(session, title, ipc_codes=BATTERY, type_digit=2)
    save(session, saver, q="锂离子电池", kind="utility_model")
    listed(session, "Anode slurry", ipc_codes=BATTERY)
    assert alerts(session, saver) == []
    utility = listed(session, "Anode slurry", ipc_codes=BATTERY, type_digit=2)
    assert [e.payload["listing_id"] for e in alerts(session, saver)] == [utility.id]


def test_a_saved_search_no_listing_had_words_for_is_weighed_at_its_first_alert(
    session: Session,
) -> None:
    saver = factories.organization(session)
    saved = save(session, saver, q="锂离子电池")
    assert saved.classes_weighed_at is None
    listed(session, "Anode slurry", ipc_codes=BATTERY)
    assert alerts(session, saver) == []
    first = listed(session, "一种锂离子电池", ipc_codes=BATTERY)
    assert saved.classes_weighed_at is not None
    english = listed(session, "Cathode coating", ipc_codes=BATTERY)
    assert [e.payload["listing_id"] for e in alerts(session, saver)] == [first.id, english.id]


def _recorded_classes(session: Session, saved: SavedSearch) -> dict[str, float]:
    rows = session.execute(
        select(SavedSearchClass.subclass, SavedSearchClass.share).where(
            col(SavedSearchClass.saved_search_id) == saved.id
        )
    ).all()
    return dict(rows)


def _classes_of_the_full_ranking(session: Session, q: str) -> dict[str, float]:
    """The classes the search ranks by for ``q``, over its full bound."""
    query = SavedSearchQuery(q=q)
    ranking = relevance.rank(
        session,
        terms=tokenizer.query_terms(q),
        conditions=search.filter_conditions(
            session, saved_searches.filters_of(query), today=clock.today()
        ),
        bound=get_settings().search_candidate_limit,
    )
    return ranking.model.classes


def test_the_saved_classes_are_those_the_search_ranks_by(session: Session) -> None:
    """Within the bound, the classes a saved search keeps are the search's own: the best text
    matches' vote, a minor class with its share, and no vote from the listings in the other
    language that the classes bring."""
    saver = factories.organization(session)
    for title in ("一种锂离子电池正极材料", "锂离子电池负极", "锂离子电池隔膜", "一种电池极片"):
        listed(session, title, ipc_codes=BATTERY)
    listed(session, "锂离子电池 齿轮箱", ipc_codes=[*GEARS, "H02K 7/116"])
    listed(session, "一种锂离子电池充电器", ipc_codes=["H02J 7/00", "H01M 10/44"])
    for title in ("Lithium battery cathode", "Lithium battery separator", "Gear tooth profile"):
        listed(session, title, ipc_codes=BATTERY if "battery" in title else GEARS)
    listed(session, "Anode slurry", ipc_codes=GEARS)
    for q in ("锂离子电池", "锂离子电池 齿轮", "lithium battery", "gear"):
        expected = _classes_of_the_full_ranking(session, q)
        assert expected, q
        saved = save(session, saver, q, q=q)
        assert _recorded_classes(session, saved) == expected, q


def test_weighing_the_classes_reads_no_more_listings_than_its_bound(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saving reads at most the search's text candidates (three quarters of its bound), all by
    their words: not the listings of the classes in the other language, which do not vote."""
    saver = factories.organization(session)
    for n in range(12):
        listed(session, f"锂离子电池 {n}号", ipc_codes=BATTERY)
    for title in ("Cathode coating", "Separator film", "Anode slurry"):
        listed(session, title, ipc_codes=BATTERY)
    expected = _classes_of_the_full_ranking(session, "锂离子电池")
    fetches: list[tuple[int, int, bool]] = []
    fetch = candidates._fetch_candidates

    def counted(session: Session, **arguments: Any) -> list[candidates.SearchCandidate]:
        found = fetch(session, **arguments)
        fetches.append((arguments["limit"], len(found), bool(arguments.get("terms"))))
        return found

    monkeypatch.setattr(candidates, "_fetch_candidates", counted)
    monkeypatch.setenv("MARKETPLACE_SEARCH_CANDIDATE_LIMIT", "10")
    get_settings.cache_clear()
    try:
        saved = save(session, saver, q="锂离子电池")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert fetches
    assert all(limit <= 8 and with_words for limit, _, with_words in fetches)
    assert sum(rows for _, rows, _ in fetches) == 8
    # The eight matches it read vote as the search's best ten do.
    assert _recorded_classes(session, saved) == expected == {"H01M": 1.0}


def test_deleting_a_saved_search_deletes_its_classes(session: Session) -> None:
    saver = factories.organization(session)
    listed(session, "一种锂离子电池", ipc_codes=BATTERY)
    saved = save(session, saver, q="锂离子电池")
    assert session.scalars(
        select(SavedSearchClass.subclass).where(col(SavedSearchClass.saved_search_id) == saved.id)
    ).all() == ["H01M"]
    saved_searches.delete_saved_search(session=session, saved=saved)
    assert session.scalars(select(SavedSearchClass)).all() == []
    listed(session, "Cathode coating", ipc_codes=BATTERY)
    assert alerts(session, saver) == []


# Saved needs -----------------------------------------------------------------------------------


def _need(session: Session, org: Organization, title: str, description: str) -> Any:
    from marketplace.matching import needs
    from marketplace.matching.models import NeedCreate

    return needs.create_need(
        session=session,
        organization=org,
        data=NeedCreate(title=title, description=description),
    )


def test_a_saved_need_alerts_on_listings_with_two_of_its_key_words(session: Session) -> None:
    saver = factories.organization(session)
    need = _need(session, saver, "锂电池 散热 液冷板", "电动车 需要 方案")
    saved = save(session, saver, "my need", need_id=need.id)
    assert saved.need_id == need.id
    assert saved.terms == need.key_terms()
    assert saved.required_terms == 2
    listed(session, "一种锂电池组件")  # one key word: no alert
    assert alerts(session, saver) == []
    two = listed(session, "锂电池 散热 结构")
    [event] = alerts(session, saver)
    assert event.payload["listing_id"] == two.id
    assert event.payload["saved_search_id"] == saved.id


def test_closing_the_need_pauses_its_saved_search(session: Session) -> None:
    from marketplace.matching import needs

    saver = factories.organization(session)
    need = _need(session, saver, "锂电池 散热", "液冷")
    saved = save(session, saver, "my need", need_id=need.id)
    needs.close_need(session=session, need=need)
    session.refresh(saved)
    assert saved.active is False
    listed(session, "锂电池 散热 液冷")
    assert alerts(session, saver) == []
    with pytest.raises(NeedClosed):
        save(session, saver, "again", need_id=need.id)


def test_saving_a_need_through_the_api(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    saver, stranger = new_party(), new_party()
    need = _need(session, saver.organization, "芯片 封装 散热", "先进 封装")
    response = client.post(
        SAVED,
        json={"name": "chips", "need_id": need.id, "region": "Zhejiang"},
        headers=saver.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["need_id"] == need.id
    assert body["required_terms"] == 2
    assert body["query"]["region"] == "Zhejiang"
    assert body["query"]["q"] == " ".join(body["terms"])
    results = client.get(f"{SAVED}/{body['id']}/results", headers=saver.headers)
    assert results.status_code == 200, results.text
    # Another enterprise's need is not found, and saving it writes nothing.
    assert_problem(
        client.post(SAVED, json={"name": "x", "need_id": need.id}, headers=stranger.headers),
        404,
        "need_not_found",
    )
    assert_problem(
        client.post(
            SAVED, json={"name": "x", "need_id": need.id, "q": "芯片"}, headers=saver.headers
        ),
        422,
        "invalid_saved_search",
    )
    assert_problem(
        client.post(SAVED, json={"name": "x", "need_id": 0}, headers=saver.headers),
        422,
        "validation_failed",
    )
    assert count_saved(session) == 1
