"""GET /api/v1/listings as a search: the response shape, validation, and `mine=true`; and
GET /api/v1/listings/mine, the caller's own listings."""

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from marketplace.accounts.models import OrganizationKind
from marketplace.matching.models import ListingSearch
from tests import factories
from tests.matching.helpers import listed
from tests.problems import assert_problem

LISTINGS = "/api/v1/listings"


def test_search_returns_scores_highlights_facets_and_totals(
    client: TestClient, session: Session
) -> None:
    battery = listed(
        session,
        "一种锂离子电池的制备方法",
        abstract="A <safe> lithium battery with 电池 cooling",
    )
    listed(session, "Gearbox")
    response = client.get(LISTINGS, params={"q": "电池 battery"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == [battery.id]
    item = body["items"][0]
    assert item["score"] > 0
    assert item["title"] == "一种锂离子电池的制备方法"
    assert {h["field"]: h["snippet"] for h in item["highlights"]} == {
        "title": "一种锂离子<em>电池</em>的制备方法",
        "patent_title": "一种锂离子<em>电池</em>的制备方法",
        "patent_abstract": "A &lt;safe&gt; lithium <em>battery</em> with <em>电池</em> cooling",
    }
    assert body["total"] == 1
    assert body["total_is_lower_bound"] is False
    assert body["matched"] == "all"
    assert body["corrected_query"] is None
    assert body["facets"]["kind"] == [{"value": "invention", "count": 1}]
    assert body["facets"]["exact"] is True
    assert body["next_cursor"] is None
    assert body["limit"] == 50


def test_search_filters_on_price_term_and_date(client: TestClient, session: Session) -> None:
    cheap = listed(
        session,
        "电池 cheap",
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("1000"))],
    )
    listed(session, "电池 dear")
    params = {"q": "电池", "max_upfront_fee": "1000", "published_after": "2026-06-01"}
    assert [item["id"] for item in client.get(LISTINGS, params=params).json()["items"]] == [
        cheap.id
    ]
    by_price = client.get(LISTINGS, params={"q": "电池", "sort": "price"}).json()
    assert by_price["items"][0]["id"] == cheap.id


def test_a_misspelled_word_is_corrected_in_the_response(
    client: TestClient, session: Session
) -> None:
    listed(session, "Battery pack")
    body = client.get(LISTINGS, params={"q": "batery"}).json()
    assert body["corrected_query"] == "battery"
    assert len(body["items"]) == 1


def test_search_rejects_bad_input(client: TestClient) -> None:
    for params in (
        {"sort": "cheapest"},
        {"max_upfront_fee": "-1"},
        {"max_royalty_rate": "101"},
        {"min_remaining_years": "-1"},
        {"published_after": "yesterday"},
        {"q": ""},
        {"limit": "0"},
    ):
        assert_problem(client.get(LISTINGS, params=params), 422, "validation_failed")
    assert_problem(client.get(LISTINGS, params={"cursor": "bm90LWpzb24"}), 422, "invalid_cursor")


def test_a_cursor_of_another_sort_is_refused(client: TestClient, session: Session) -> None:
    for n in range(3):
        listed(session, f"电池 {n}")
    first = client.get(LISTINGS, params={"q": "电池", "limit": 1}).json()
    refused = client.get(
        LISTINGS, params={"q": "电池", "limit": 1, "sort": "newest", "cursor": first["next_cursor"]}
    )
    assert_problem(refused, 422, "invalid_cursor")


def test_mine_refuses_filters_only_the_public_search_has(
    client: TestClient, session: Session
) -> None:
    org = factories.organization(session, kind=OrganizationKind.university)
    headers = factories.auth(session, factories.user(session, org))
    for params in ({"max_upfront_fee": "5"}, {"sort": "newest"}):
        response = client.get(LISTINGS, headers=headers, params={"mine": "true", **params})
        assert_problem(response, 422, "unprocessable")


def test_mine_lists_own_drafts_without_facets(client: TestClient, session: Session) -> None:
    org = factories.organization(session, kind=OrganizationKind.university)
    headers = factories.auth(session, factories.user(session, org))
    draft = factories.draft_listing(session, org)
    body = client.get(LISTINGS, headers=headers, params={"mine": "true"}).json()
    assert [item["id"] for item in body["items"]] == [draft.id]
    assert body["items"][0]["score"] is None
    assert body["items"][0]["highlights"] == []
    assert body["facets"] is None


def test_publishing_through_the_api_indexes_and_withdrawing_unindexes(
    client: TestClient, session: Session
) -> None:
    org = factories.organization(session, kind=OrganizationKind.university)
    headers = factories.auth(session, factories.user(session, org))
    draft = factories.draft_listing(session, org)
    published = client.post(
        f"{LISTINGS}/{draft.id}/publish", json=factories.announcement_body(), headers=headers
    )
    assert published.status_code == 200
    assert [i["id"] for i in client.get(LISTINGS, params={"q": "battery"}).json()["items"]] == [
        draft.id
    ]
    requested = client.post(
        f"{LISTINGS}/{draft.id}/withdraw", json={"reason": "Licensed elsewhere"}, headers=headers
    )
    assert requested.status_code == 200
    # Until the office announces the withdrawal, the declaration stands and stays searchable.
    assert [i["id"] for i in client.get(LISTINGS, params={"q": "battery"}).json()["items"]] == [
        draft.id
    ]
    announced = client.post(
        f"{LISTINGS}/{draft.id}/withdrawal-announcement",
        json={"announcement_number": "KFCX202600001", "announcement_date": "2026-06-15"},
        headers=headers,
    )
    assert announced.status_code == 200, announced.text
    assert client.get(LISTINGS, params={"q": "battery"}).json()["items"] == []
    indexed = session.exec(select(func.count()).select_from(ListingSearch)).one()
    assert indexed == 0


def test_a_refused_publication_indexes_nothing(client: TestClient, session: Session) -> None:
    org = factories.organization(session, kind=OrganizationKind.university)
    headers = factories.auth(session, factories.user(session, org))
    draft = factories.draft_listing(session, org, offers=[])
    refused = client.post(
        f"{LISTINGS}/{draft.id}/publish", json=factories.announcement_body(), headers=headers
    )
    assert refused.status_code == 409
    assert session.exec(select(func.count()).select_from(ListingSearch)).one() == 0


# The caller's own listings ---------------------------------------------------------------------

MINE = f"{LISTINGS}/mine"


def test_own_listings_are_every_status_of_the_callers_organization(
    client: TestClient, session: Session
) -> None:
    account = factories.member(session, kind=OrganizationKind.university)
    headers = factories.auth(session, account)
    draft = factories.draft_listing(session, account)
    published, _ = factories.published_listing(session, account)
    withdrawn, _ = factories.published_listing(session, account)
    factories.withdraw(session, withdrawn)
    # Another organization's, published and drafted: never shown.
    factories.published_listing(session)
    factories.draft_listing(session, factories.member(session, kind=OrganizationKind.university))
    response = client.get(MINE, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["items"]] == [withdrawn.id, published.id, draft.id]
    assert {item["status"] for item in body["items"]} == {"draft", "published", "withdrawn"}
    assert body["items"][0]["score"] is None
    assert body["items"][0]["highlights"] == []
    assert body["facets"] is None
    drafts = client.get(MINE, headers=headers, params={"status": "draft"}).json()
    assert [item["id"] for item in drafts["items"]] == [draft.id]


def test_own_listings_answer_as_mine_true_does(client: TestClient, session: Session) -> None:
    account = factories.member(session, kind=OrganizationKind.university)
    headers = factories.auth(session, account)
    for _ in range(3):
        factories.draft_listing(session, account)
    factories.published_listing(session, account)
    for params in (
        {},
        {"limit": 2},
        {"status": "published"},
        {"q": "battery", "kind": "invention"},
    ):
        mine = client.get(LISTINGS, headers=headers, params={"mine": "true", **params})
        own = client.get(MINE, headers=headers, params=params)
        assert own.status_code == mine.status_code == 200
        assert own.json() == mine.json()


def test_own_listings_need_a_token_but_no_scope(client: TestClient, session: Session) -> None:
    assert_problem(client.get(MINE), 401, "not_authenticated")
    account = factories.member(session, kind=OrganizationKind.university)
    draft = factories.draft_listing(session, account)
    headers = factories.auth(session, account, scopes=frozenset())
    body = client.get(MINE, headers=headers).json()
    assert [item["id"] for item in body["items"]] == [draft.id]


def test_own_listings_reject_bad_input(client: TestClient, session: Session) -> None:
    headers = factories.auth(session, factories.member(session))
    for params in ({"status": "lost"}, {"q": ""}, {"limit": "0"}):
        assert_problem(client.get(MINE, headers=headers, params=params), 422, "validation_failed")
    assert_problem(
        client.get(MINE, headers=headers, params={"cursor": "not-a-cursor"}), 422, "invalid_cursor"
    )
