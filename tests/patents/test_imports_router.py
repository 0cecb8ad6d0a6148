"""The import job over HTTP: upload, 202 and Location, status, the organization's list."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from marketplace.accounts.models import OrganizationKind
from marketplace.config import get_settings
from marketplace.patents.import_models import ImportJob
from marketplace.patents.models import Patent
from tests import factories
from tests.factories import NewParty, Party
from tests.patents.import_files import csv_file, csv_row, jsonl_file, jsonl_record, wrong_check
from tests.problems import assert_problem

IMPORTS = "/api/v1/imports"


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """The background job runs after the response, on the request's database connection."""
    return client


@pytest.fixture
def university(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.university)


def upload(
    api: TestClient,
    party: Party | None,
    content: bytes,
    filename: str = "patents.csv",
    content_type: str = "text/csv",
    **form: str,
) -> Any:
    return api.post(
        IMPORTS,
        headers=party.headers if party else {},
        files={"file": (filename, content, content_type)},
        data=form,
    )


def job_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ImportJob)) or 0


def test_an_upload_is_accepted_and_imported_in_the_background(
    api: TestClient, university: Party, session: Session
) -> None:
    good, bad = factories.application_number(), wrong_check(factories.application_number())
    response = upload(api, university, csv_file(csv_row(good), csv_row(bad)))

    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued"
    assert job["format"] == "csv"
    assert job["filename"] == "patents.csv"
    assert job["submitted_by_id"] == university.user.id
    assert response.headers["location"] == f"{IMPORTS}/{job['id']}"

    status = api.get(response.headers["location"], headers=university.headers)
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "completed_with_errors"
    assert (body["total_rows"], body["created_count"], body["failed_count"]) == (2, 1, 1)
    [error] = body["errors"]
    assert error["line"] == 3
    assert error["application_number"] == bad
    assert error["code"] == "validation_failed"
    assert error["errors"][0]["field"] == "application_number"
    created = session.scalar(select(Patent).where(Patent.application_number == good))
    assert created is not None
    assert created.owner_id == university.id


def test_the_format_is_inferred_or_given(api: TestClient, university: Party) -> None:
    content = jsonl_file(jsonl_record(factories.application_number()))
    inferred = upload(api, university, content, filename="batch", content_type="text/plain")
    given = upload(
        api,
        university,
        jsonl_file(jsonl_record(factories.application_number())),
        filename="batch.txt",
        format="jsonl",
    )
    assert inferred.json()["format"] == "jsonl"
    assert given.json()["format"] == "jsonl"
    result = api.get(f"{IMPORTS}/{given.json()['id']}", headers=university.headers).json()
    assert result["status"] == "succeeded"
    assert result["created_count"] == 1


def test_a_wrong_header_is_refused_at_once_and_queues_nothing(
    api: TestClient, university: Party, session: Session
) -> None:
    response = upload(api, university, b"number,name\n1,2\n")
    body = assert_problem(response, 422, "invalid_import_file")
    assert "number" in body["detail"]
    assert job_count(session) == 0


def test_an_empty_file_is_refused(api: TestClient, university: Party, session: Session) -> None:
    assert_problem(upload(api, university, b""), 422, "invalid_import_file")
    assert job_count(session) == 0


def test_an_unknown_format_is_refused(api: TestClient, university: Party) -> None:
    response = upload(api, university, csv_file(), format="xlsx")
    assert_problem(response, 422, "validation_failed")


def test_a_file_over_the_cap_is_413(
    api: TestClient, university: Party, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "import_max_upload_bytes", 2048)
    rows = [csv_row(factories.application_number()) for _ in range(40)]
    response = upload(api, university, csv_file(*rows))
    body = assert_problem(response, 413, "import_file_too_large")
    assert body["max_bytes"] == 2048
    assert job_count(session) == 0


def test_uploading_needs_a_token(api: TestClient, session: Session) -> None:
    response = upload(api, None, csv_file(csv_row(factories.application_number())))
    assert_problem(response, 401, "not_authenticated")
    assert job_count(session) == 0


def test_a_bank_cannot_import_patents(
    api: TestClient, new_party: NewParty, session: Session
) -> None:
    bank = new_party(kind=OrganizationKind.bank)
    response = upload(api, bank, csv_file(csv_row(factories.application_number())))
    assert_problem(response, 403, "insufficient_scope")
    assert job_count(session) == 0


def test_another_organizations_import_does_not_exist(
    api: TestClient, university: Party, new_party: NewParty
) -> None:
    job = upload(api, university, csv_file(csv_row(factories.application_number()))).json()
    rival = new_party(kind=OrganizationKind.university)

    assert_problem(
        api.get(f"{IMPORTS}/{job['id']}", headers=rival.headers), 404, "import_not_found"
    )
    assert_problem(
        api.get(f"{IMPORTS}/2147483647", headers=university.headers), 404, "import_not_found"
    )
    assert_problem(api.get(f"{IMPORTS}/{job['id']}"), 401, "not_authenticated")
    assert_problem(api.get(f"{IMPORTS}/0", headers=university.headers), 422, "validation_failed")


def test_the_list_shows_own_imports_newest_first_without_row_errors(
    api: TestClient, university: Party, new_party: NewParty
) -> None:
    ids = [upload(api, university, csv_file(csv_row("bad"))).json()["id"] for _ in range(3)]
    rival = new_party(kind=OrganizationKind.university)
    upload(api, rival, csv_file(csv_row(factories.application_number())))

    first = api.get(IMPORTS, params={"limit": 2}, headers=university.headers).json()
    rest = api.get(
        IMPORTS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=university.headers
    ).json()

    assert [item["id"] for item in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    assert "errors" not in first["items"][0]
    assert first["items"][0]["failed_count"] == 1
    assert_problem(api.get(IMPORTS), 401, "not_authenticated")
