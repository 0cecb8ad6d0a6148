"""The patents API over HTTP: registration, the owner's list, edits and encumbrances."""

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind, User
from marketplace.patents import service as patents
from marketplace.patents.identifiers import application_check_character
from marketplace.patents.models import EncumbranceKind, LegalStatus, PatentEncumbranceCreate
from tests import factories
from tests.problems import assert_problem

PATENTS = "/api/v1/patents"


def university_member(session: Session) -> tuple[User, dict[str, str]]:
    account = factories.member(session, kind=OrganizationKind.university)
    return account, factories.auth(session, account)


def payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_number": factories.application_number(),
        "title": "Solid-state electrolyte with high ionic conductivity",
        "filing_date": "2020-04-01",
        "grant_date": "2022-09-01",
        "legal_status": "granted",
        "fee_paid_until": "2027-03-31",
        "ipc_codes": ["H01M 10/0562"],
    }
    body.update(overrides)
    return body


# Registration ------------------------------------------------------------------------------------


def test_register_canonicalizes_the_number_and_computes_the_standing(
    client: TestClient, session: Session
) -> None:
    _, headers = university_member(session)
    canonical = factories.application_number()
    spaced = "CN " + canonical.replace(".", "")
    response = client.post(
        PATENTS,
        headers=headers,
        json=payload(
            application_number=spaced,
            ipc_codes=["h01m10/0562", "G06F 16/33", "H01M 10/0562"],
            fee_paid_until="2026-03-31",
        ),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["application_number"] == canonical
    assert body["kind"] == "invention"
    assert body["ipc_codes"] == ["H01M 10/0562", "G06F 16/33"]
    assert body["main_ipc"] == "H01M 10/0562"
    assert body["term_end_date"] == "2040-03-31"
    assert body["remaining_term_days"] == (date(2040, 3, 31) - date(2026, 6, 15)).days
    assert body["fee_status"] == "grace"
    assert body["next_fee_due_date"] == "2026-04-01"
    assert body["in_force"] is True
    assert body["open_license_listing_id"] is None


@pytest.mark.parametrize(
    ("type_digit", "kind"),
    [(2, "utility_model"), (3, "design"), (8, "invention"), (9, "utility_model")],
)
def test_register_takes_the_kind_from_the_type_digit(
    client: TestClient, session: Session, type_digit: int, kind: str
) -> None:
    _, headers = university_member(session)
    number = factories.application_number(type_digit=type_digit)
    response = client.post(PATENTS, headers=headers, json=payload(application_number=number))
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == kind


def test_register_pending_patent_has_no_fee_standing(client: TestClient, session: Session) -> None:
    _, headers = university_member(session)
    response = client.post(
        PATENTS,
        headers=headers,
        json=payload(legal_status="pending", grant_date=None, fee_paid_until=None),
    )
    assert response.status_code == 201, response.text
    assert response.json()["fee_status"] == "not_applicable"
    assert response.json()["next_fee_due_date"] is None
    assert response.json()["in_force"] is False


def test_register_names_the_expected_check_character(client: TestClient, session: Session) -> None:
    _, headers = university_member(session)
    digits = factories.application_number().split(".")[0]
    expected = application_check_character(digits)
    wrong = "0" if expected != "0" else "1"
    response = client.post(
        PATENTS, headers=headers, json=payload(application_number=f"{digits}.{wrong}")
    )
    body = assert_problem(response, 422, "validation_failed")
    [error] = body["errors"]
    assert error["field"] == "body.application_number"
    assert f"expected '{expected}'" in error["message"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"fee_paid_until": None}, "fee_paid_until", id="granted-without-fee"),
        pytest.param({"grant_date": "2019-12-31"}, "before filing_date", id="grant-before-filing"),
        pytest.param({"ipc_codes": ["G06F"]}, "incomplete", id="incomplete-ipc"),
    ],
)
def test_register_rejects_inconsistent_data(
    client: TestClient, session: Session, overrides: dict[str, Any], message: str
) -> None:
    _, headers = university_member(session)
    response = client.post(PATENTS, headers=headers, json=payload(**overrides))
    body = assert_problem(response, 422, "validation_failed")
    assert message in body["detail"]


def test_register_refuses_a_number_another_organization_registered(
    client: TestClient, session: Session
) -> None:
    first, _ = university_member(session)
    existing = factories.patent(session, first)
    _, headers = university_member(session)
    response = client.post(
        PATENTS, headers=headers, json=payload(application_number=existing.application_number)
    )
    assert_problem(response, 409, "patent_already_registered")


def test_register_refuses_a_bank(client: TestClient, session: Session) -> None:
    bank = factories.member(session, kind=OrganizationKind.bank)
    response = client.post(PATENTS, headers=factories.auth(session, bank), json=payload())
    assert_problem(response, 403, "insufficient_scope")


def test_register_needs_a_token(client: TestClient) -> None:
    response = client.post(PATENTS, json=payload())
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_register_rejects_an_invalid_token(client: TestClient) -> None:
    response = client.post(PATENTS, headers={"Authorization": "Bearer not-a-jwt"}, json=payload())
    assert_problem(response, 401, "invalid_token")


# Listing the caller's patents ------------------------------------------------------------------


def test_list_shows_only_the_callers_own_patents(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    own = factories.patent(session, account)
    factories.patent(session, factories.member(session))
    response = client.get(PATENTS, headers=headers)
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [own.id]


def test_list_filters_by_status_kind_ipc_and_text(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    battery = factories.patent(session, account, ipc_codes=["H01M 10/0525"], title="Battery cell")
    search = factories.patent(session, account, ipc_codes=["G06F 16/33"], title="Search index")
    pending = factories.patent(
        session, account, legal_status=LegalStatus.pending, ipc_codes=["G06F 160/00"]
    )
    utility = factories.patent(
        session, account, type_digit=2, ipc_codes=["H01M 100/00"], title="Battery clip"
    )

    def ids(**params: str) -> set[int | None]:
        response = client.get(PATENTS, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert ids(legal_status="pending") == {pending.id}
    assert ids(kind="utility_model") == {utility.id}
    assert ids(ipc="G06F") == {search.id, pending.id}
    assert ids(ipc="G06F 16") == {search.id}
    assert ids(ipc="H01M 10") == {battery.id}
    assert ids(ipc="h01m") == {battery.id, utility.id}
    assert ids(q="battery") == {battery.id, utility.id}
    assert ids(q=search.application_number[:12]) == {search.id}


def test_list_rejects_a_malformed_ipc_filter(client: TestClient, session: Session) -> None:
    _, headers = university_member(session)
    response = client.get(PATENTS, headers=headers, params={"ipc": "Z99"})
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "query.ipc"


def test_list_walks_every_patent_once_with_the_cursor(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    created = {factories.patent(session, account).id for _ in range(5)}
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(5):
        page = client.get(PATENTS, headers=headers, params=params).json()
        seen.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen, reverse=True) == seen
    assert set(seen) == created
    assert len(seen) == len(created)


def test_list_refuses_a_bank(client: TestClient, session: Session) -> None:
    bank = factories.member(session, kind=OrganizationKind.bank)
    response = client.get(PATENTS, headers=factories.auth(session, bank))
    assert_problem(response, 403, "insufficient_scope")


def test_list_needs_a_token(client: TestClient) -> None:
    assert_problem(client.get(PATENTS), 401, "not_authenticated")


# Reading and editing one patent ----------------------------------------------------------------


def test_get_returns_the_owners_patent(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    response = client.get(f"{PATENTS}/{patent.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["application_number"] == patent.application_number


def test_get_and_patch_hide_another_organizations_patent(
    client: TestClient, session: Session
) -> None:
    foreign = factories.patent(session, factories.member(session))
    _, headers = university_member(session)
    assert_problem(client.get(f"{PATENTS}/{foreign.id}", headers=headers), 404, "patent_not_found")
    response = client.patch(f"{PATENTS}/{foreign.id}", headers=headers, json={"title": "Mine"})
    assert_problem(response, 404, "patent_not_found")


def test_get_and_patch_need_a_token(client: TestClient, session: Session) -> None:
    patent = factories.patent(session, factories.member(session))
    assert_problem(client.get(f"{PATENTS}/{patent.id}"), 401, "not_authenticated")
    response = client.patch(f"{PATENTS}/{patent.id}", json={"title": "Mine"})
    assert_problem(response, 401, "not_authenticated")


def test_patch_updates_fields_and_recomputes_the_standing(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    response = client.patch(
        f"{PATENTS}/{patent.id}",
        headers=headers,
        json={"title": "Renamed", "fee_paid_until": "2026-01-31", "ipc_codes": ["g06n3/08"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["title"] == "Renamed"
    assert body["fee_status"] == "grace"
    assert body["ipc_codes"] == ["G06N 3/08"]
    assert body["main_ipc"] == "G06N 3/08"


@pytest.mark.parametrize(
    "field", ["title", "legal_status", "publicly_funded", "ipc_codes", "inventors", "co_owners"]
)
def test_patch_rejects_null_for_a_field_that_always_has_a_value(
    client: TestClient, session: Session, field: str
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    response = client.patch(f"{PATENTS}/{patent.id}", headers=headers, json={field: None})
    body = assert_problem(response, 422, "invalid_patent_update")
    assert field in body["detail"]
    unchanged = client.get(f"{PATENTS}/{patent.id}", headers=headers).json()
    assert unchanged[field] is not None


@pytest.mark.parametrize(
    "change", [{"application_number": "202110123456.7"}, {"filing_date": "2019-01-01"}]
)
def test_patch_refuses_to_change_identity_fields(
    client: TestClient, session: Session, change: dict[str, str]
) -> None:
    account = factories.member(session, kind=OrganizationKind.university)
    patent = factories.patent(session, account)
    response = client.patch(
        f"{PATENTS}/{patent.id}", headers=factories.auth(session, account), json=change
    )
    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"][0]["type"] == "extra_forbidden"
    session.refresh(patent)
    assert patent.filing_date == date(2020, 3, 1)


def test_patch_revalidates_dates(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account, legal_status=LegalStatus.pending)
    response = client.patch(
        f"{PATENTS}/{patent.id}",
        headers=headers,
        json={"legal_status": "granted", "grant_date": "2023-01-01"},
    )
    body = assert_problem(response, 422, "invalid_patent_update")
    assert "fee_paid_until" in body["detail"]
    stored = client.get(f"{PATENTS}/{patent.id}", headers=headers).json()
    assert stored["legal_status"] == "pending"


def test_get_and_patch_refuse_a_bank(client: TestClient, session: Session) -> None:
    patent = factories.patent(session, factories.member(session))
    headers = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))
    assert_problem(client.get(f"{PATENTS}/{patent.id}", headers=headers), 403, "insufficient_scope")
    response = client.patch(f"{PATENTS}/{patent.id}", headers=headers, json={"title": "X"})
    assert_problem(response, 403, "insufficient_scope")


# Encumbrances -------------------------------------------------------------------------------------


def encumbrances_url(patent_id: int | None) -> str:
    return f"{PATENTS}/{patent_id}/encumbrances"


def test_add_encumbrance_shows_it_in_force_on_the_patent(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    response = client.post(
        encumbrances_url(patent.id),
        headers=headers,
        json={"kind": "exclusive_license", "counterparty": "Acme", "starts_on": "2026-01-01"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["in_force"] is True
    listed = client.get(f"{PATENTS}/{patent.id}", headers=headers).json()["encumbrances"]
    assert [item["id"] for item in listed] == [response.json()["id"]]


def test_add_encumbrance_rejects_an_end_before_the_start(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    response = client.post(
        encumbrances_url(patent.id),
        headers=headers,
        json={"kind": "sole_license", "starts_on": "2026-05-01", "ends_on": "2026-04-30"},
    )
    body = assert_problem(response, 422, "validation_failed")
    assert "ends_on" in body["detail"]


@pytest.mark.parametrize("kind", ["exclusive_license", "sole_license"])
def test_add_exclusive_encumbrance_refused_under_a_published_open_license(
    client: TestClient, session: Session, kind: str
) -> None:
    account, headers = university_member(session)
    listing, _ = factories.published_listing(session, account)
    response = client.post(
        encumbrances_url(listing.patents[0].id),
        headers=headers,
        json={"kind": kind, "starts_on": "2026-07-01"},
    )
    body = assert_problem(response, 409, "open_license_in_force")
    assert body["listing_id"] == listing.id


def test_add_non_exclusive_encumbrance_allowed_under_a_published_open_license(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    listing, _ = factories.published_listing(session, account)
    response = client.post(
        encumbrances_url(listing.patents[0].id),
        headers=headers,
        json={"kind": "non_exclusive_license", "starts_on": "2026-07-01"},
    )
    assert response.status_code == 201, response.text


def test_add_encumbrance_to_a_foreign_patent_is_not_found(
    client: TestClient, session: Session
) -> None:
    foreign = factories.patent(session, factories.member(session))
    _, headers = university_member(session)
    response = client.post(
        encumbrances_url(foreign.id),
        headers=headers,
        json={"kind": "court_preservation", "starts_on": "2026-01-01"},
    )
    assert_problem(response, 404, "patent_not_found")


def test_add_encumbrance_needs_a_token(client: TestClient, session: Session) -> None:
    patent = factories.patent(session, factories.member(session))
    response = client.post(
        encumbrances_url(patent.id), json={"kind": "sole_license", "starts_on": "2026-01-01"}
    )
    assert_problem(response, 401, "not_authenticated")


def test_add_encumbrance_refuses_a_bank(client: TestClient, session: Session) -> None:
    patent = factories.patent(session, factories.member(session))
    bank = factories.member(session, kind=OrganizationKind.bank)
    response = client.post(
        encumbrances_url(patent.id),
        headers=factories.auth(session, bank),
        json={"kind": "sole_license", "starts_on": "2026-01-01"},
    )
    assert_problem(response, 403, "insufficient_scope")


def test_release_keeps_the_encumbrance_with_its_release_time(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    added = patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(
            kind=EncumbranceKind.ownership_dispute, starts_on=date(2026, 1, 1)
        ),
    )
    response = client.delete(f"{encumbrances_url(patent.id)}/{added.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["released_at"] is not None
    assert response.json()["in_force"] is False
    [kept] = client.get(f"{PATENTS}/{patent.id}", headers=headers).json()["encumbrances"]
    assert kept["id"] == added.id
    assert kept["released_at"] == response.json()["released_at"]


def test_release_of_another_patents_encumbrance_is_not_found(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    own = factories.patent(session, account)
    foreign = factories.patent(session, factories.member(session))
    foreign_encumbrance = patents.add_encumbrance(
        session=session,
        patent=foreign,
        data=PatentEncumbranceCreate(
            kind=EncumbranceKind.court_preservation, starts_on=date(2026, 1, 1)
        ),
    )
    response = client.delete(
        f"{encumbrances_url(own.id)}/{foreign_encumbrance.id}", headers=headers
    )
    assert_problem(response, 404, "encumbrance_not_found")
    response = client.delete(
        f"{encumbrances_url(foreign.id)}/{foreign_encumbrance.id}", headers=headers
    )
    assert_problem(response, 404, "patent_not_found")


def test_release_needs_a_token(client: TestClient, session: Session) -> None:
    patent = factories.patent(session, factories.member(session))
    assert_problem(client.delete(f"{encumbrances_url(patent.id)}/1"), 401, "not_authenticated")


def test_release_refuses_a_bank(client: TestClient, session: Session) -> None:
    patent = factories.patent(session, factories.member(session))
    headers = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))
    response = client.delete(f"{encumbrances_url(patent.id)}/1", headers=headers)
    assert_problem(response, 403, "insufficient_scope")
