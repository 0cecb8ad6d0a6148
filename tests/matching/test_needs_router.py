"""The profile, needs, matches and demand endpoints over HTTP: success, 401, 403, 404, 409, 422,
and that refused requests write nothing; views and search hits counted by the listings routes."""

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from marketplace.accounts.models import OrganizationKind
from marketplace.matching.models import ListingDemandDaily, SmeProfile, TechnologyNeed
from tests import factories
from tests.factories import NewParty
from tests.matching.helpers import listed
from tests.problems import assert_problem

NEEDS = "/api/v1/needs"
PROFILE = "/api/v1/profile"
NEED = {
    "title": "锂电池 thermal management",
    "description": "Cooling for e-bike packs.",
    "ipc_codes": ["h01m 10/0525"],
    "budget_max": "300000",
    "region": "Zhejiang",
    "expected_annual_sales": "2000000",
}


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_profile_get_put(client: TestClient, new_party: NewParty, session: Session) -> None:
    sme = new_party()
    assert_problem(client.get(PROFILE, headers=sme.headers), 404, "profile_not_found")
    body = {"industry": "EV", "ipc_interests": ["H01M 10"], "budget_max": "500000"}
    response = client.put(PROFILE, json=body, headers=sme.headers)
    assert response.status_code == 200, response.text
    assert response.json()["ipc_interests"] == ["H01M 10"]
    got = client.get(PROFILE, headers=sme.headers).json()
    assert (got["organization_id"], got["budget_max"], got["currency"]) == (
        sme.id,
        "500000.00",
        "CNY",
    )


def test_profile_refusals(client: TestClient, new_party: NewParty, session: Session) -> None:
    assert_problem(client.get(PROFILE), 401, "not_authenticated")
    university = new_party(kind=OrganizationKind.university)
    assert_problem(
        client.put(PROFILE, json={}, headers=university.headers), 403, "not_an_enterprise"
    )
    bank = new_party(kind=OrganizationKind.bank)
    assert_problem(client.get(PROFILE, headers=bank.headers), 403, "insufficient_scope")
    sme = new_party()
    bad = {"ipc_interests": ["Z99"], "budget_max": "-1"}
    assert_problem(client.put(PROFILE, json=bad, headers=sme.headers), 422, "validation_failed")
    assert count(session, SmeProfile) == 0


def test_needs_create_read_list_close(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    sme = new_party()
    response = client.post(NEEDS, json=NEED, headers=sme.headers)
    assert response.status_code == 201, response.text
    need = response.json()
    assert need["ipc_codes"] == ["H01M 10/0525"]
    assert need["budget_max"] == "300000.00"
    assert need["status"] == "open"
    path = f"{NEEDS}/{need['id']}"
    assert client.get(path, headers=sme.headers).json() == need
    assert [n["id"] for n in client.get(NEEDS, headers=sme.headers).json()["items"]] == [need["id"]]
    # Verified licensors read it as demand, without the SME's figures.
    licensor = new_party(kind=OrganizationKind.university)
    seen = client.get(path, headers=licensor.headers).json()
    assert seen["title"] == NEED["title"]
    assert (seen["budget_max"], seen["expected_annual_sales"]) == (None, None)
    assert [n["id"] for n in client.get(NEEDS, headers=licensor.headers).json()["items"]] == [
        need["id"]
    ]
    closed = client.post(f"{path}/close", headers=sme.headers)
    assert closed.json()["status"] == "closed"
    assert_problem(client.post(f"{path}/close", headers=sme.headers), 409, "need_closed")
    assert_problem(client.get(path, headers=licensor.headers), 404, "need_not_found")
    assert client.get(NEEDS, headers=licensor.headers).json()["items"] == []


def test_needs_refusals_write_nothing(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    assert_problem(client.post(NEEDS, json=NEED), 401, "not_authenticated")
    university = new_party(kind=OrganizationKind.university)
    assert_problem(
        client.post(NEEDS, json=NEED, headers=university.headers), 403, "not_an_enterprise"
    )
    sme = new_party()
    for bad in (
        {**NEED, "title": ""},
        {**NEED, "ipc_codes": ["not a code"]},
        {**NEED, "currency": "cny"},
        {"title": "only a title"},
    ):
        assert_problem(client.post(NEEDS, json=bad, headers=sme.headers), 422, "validation_failed")
    assert count(session, TechnologyNeed) == 0
    need = client.post(NEEDS, json=NEED, headers=sme.headers).json()
    path = f"{NEEDS}/{need['id']}"
    assert_problem(client.get(path), 401, "not_authenticated")
    other = new_party()
    assert_problem(client.get(path, headers=other.headers), 404, "need_not_found")
    assert_problem(client.post(f"{path}/close", headers=other.headers), 404, "need_not_found")
    bank = new_party(kind=OrganizationKind.bank)
    assert_problem(client.get(NEEDS, headers=bank.headers), 403, "insufficient_scope")
    unverified = new_party(kind=OrganizationKind.university, verified=False)
    assert_problem(client.get(path, headers=unverified.headers), 403, "organization_not_verified")
    assert_problem(client.get(f"{NEEDS}/0", headers=sme.headers), 422, "validation_failed")
    assert_problem(
        client.get(NEEDS, params={"cursor": "garbage"}, headers=sme.headers), 422, "invalid_cursor"
    )
    assert session.get_one(TechnologyNeed, need["id"]).status == "open"


def test_matches_rank_with_factors(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    relevant = listed(
        session,
        "锂电池 thermal management",
        ipc_codes=["H01M 10/0525"],
        offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("1"))],
    )
    other = listed(session, "Gearbox", ipc_codes=["H01M 4/00"])  # an IPC candidate only
    listed(session, "Gearbox", ipc_codes=["F16H 1/00"])  # no candidate at all
    sme = new_party()
    need = client.post(NEEDS, json=NEED, headers=sme.headers).json()
    response = client.get(f"{NEEDS}/{need['id']}/matches", headers=sme.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["listing"]["id"] for item in items] == [relevant.id, other.id]
    assert response.json()["candidates"] == 2
    assert items[1]["factors"]["ipc"]["value"] == 0.6
    # The class of the best text match is H01M: the IPC candidate has that evidence, no words.
    assert 0 < items[1]["factors"]["text"]["value"] < 1
    assert "H01M" in items[1]["factors"]["text"]["explanation"]
    top = items[0]
    assert top["offer_id"] == relevant.offers[0].id
    # 1 % of 2,000,000 a year for 3 years.
    assert top["estimated_total_cost"]["amount"] == "60000.00"
    assert top["estimated_total_cost"]["currency"] == "CNY"
    assert set(top["factors"]["ipc"]) == {"value", "weight", "contribution", "explanation"}
    assert top["factors"]["ipc"]["value"] == 1.0
    assert top["score"] == round(sum(f["contribution"] for f in top["factors"].values()), 4)
    limited = client.get(f"{NEEDS}/{need['id']}/matches", params={"limit": 1}, headers=sme.headers)
    assert len(limited.json()["items"]) == 1


def test_matches_refusals(client: TestClient, new_party: NewParty, session: Session) -> None:
    sme = new_party()
    need = client.post(NEEDS, json=NEED, headers=sme.headers).json()
    path = f"{NEEDS}/{need['id']}/matches"
    assert_problem(client.get(path), 401, "not_authenticated")
    licensor = new_party(kind=OrganizationKind.university)
    assert_problem(client.get(path, headers=licensor.headers), 404, "need_not_found")
    assert_problem(client.get(path, headers=new_party().headers), 404, "need_not_found")
    bank = new_party(kind=OrganizationKind.bank)
    assert_problem(client.get(path, headers=bank.headers), 403, "insufficient_scope")
    assert_problem(
        client.get(path, params={"limit": 51}, headers=sme.headers), 422, "validation_failed"
    )
    client.post(f"{NEEDS}/{need['id']}/close", headers=sme.headers)
    assert_problem(client.get(path, headers=sme.headers), 409, "need_closed")


def test_views_and_search_hits_feed_the_demand(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    owner = new_party(kind=OrganizationKind.university)
    listing = listed(session, "锂电池 thermal management", owner=owner.organization)
    path = f"/api/v1/listings/{listing.id}"
    client.get(path)
    client.get(path, headers=new_party().headers)
    client.get(path, headers=owner.headers)  # the owner's own views do not count
    client.get("/api/v1/listings", params={"q": "thermal"})
    first = client.get("/api/v1/listings", params={"q": "thermal", "limit": 1}).json()
    assert first["next_cursor"] is None
    client.get("/api/v1/listings")  # no words: not a search hit
    sme = new_party()
    need = client.post(NEEDS, json=NEED, headers=sme.headers).json()
    response = client.get(f"{path}/demand", headers=owner.headers)
    assert response.status_code == 200, response.text
    demand = response.json()
    assert (demand["views_total"], demand["views_last_30_days"]) == (2, 2)
    assert (demand["search_hits_total"], demand["search_hits_last_30_days"]) == (2, 2)
    assert [n["need_id"] for n in demand["matching_needs"]] == [need["id"]]
    [patent] = demand["patents"]
    assert patent["patent_id"] == listing.patents[0].id
    assert patent["matching_needs"] == 1
    # 2 x 1 need + 2 views / 10 + 2 hits / 50
    assert (patent["signal"], patent["prospect"]) == (2.24, "low")


def test_demand_refusals(client: TestClient, new_party: NewParty, session: Session) -> None:
    owner = new_party(kind=OrganizationKind.university)
    listing = listed(session, "Gearbox", owner=owner.organization)
    path = f"/api/v1/listings/{listing.id}/demand"
    assert_problem(client.get(path), 401, "not_authenticated")
    assert_problem(client.get(path, headers=new_party().headers), 404, "listing_not_found")
    bank = new_party(kind=OrganizationKind.bank)
    assert_problem(client.get(path, headers=bank.headers), 403, "insufficient_scope")
    assert_problem(
        client.get("/api/v1/listings/0/demand", headers=owner.headers), 422, "validation_failed"
    )
    draft = factories.draft_listing(session, owner.organization)
    assert (
        client.get(f"/api/v1/listings/{draft.id}", headers=new_party().headers).status_code == 404
    )
    assert count(session, ListingDemandDaily) == 0
