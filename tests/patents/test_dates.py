"""Patent dates that cannot be true are refused on every path in (API, update, import), and
dates at the edge of the term never break the rules that compute with them."""

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from marketplace.accounts.models import OrganizationKind
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import FeeStatus, LegalStatus, Patent
from marketplace.patents.terms import next_fee_due_date, term_end_date
from tests import factories
from tests.factories import NewParty, Party, SetNow
from tests.patents.import_files import csv_file, csv_row
from tests.problems import assert_problem

PATENTS = "/api/v1/patents"


@pytest.fixture
def university(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.university)


def _payload(**overrides: object) -> dict[str, object]:
    return {
        "application_number": factories.application_number(),
        "title": "Cathode material",
        "filing_date": "2020-03-01",
        "grant_date": "2022-05-10",
        "legal_status": "granted",
        "fee_paid_until": "2027-02-28",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"fee_paid_until": "9999-12-31"}, "term ends (2040-02-29)", id="fee-9999"),
        pytest.param({"fee_paid_until": "2040-03-01"}, "term ends", id="fee-day-after-term"),
        pytest.param({"fee_paid_until": "2019-01-01"}, "before filing_date", id="fee-pre-filing"),
        pytest.param(
            {"grant_date": "9999-12-31"}, "grant_date cannot be in the future", id="grant"
        ),
        pytest.param(
            {"filing_date": "0001-01-01", "grant_date": "1990-01-01"}, "1985-04-01", id="filing"
        ),
    ],
)
def test_register_refuses_dates_that_cannot_be_true(
    client: TestClient, university: Party, overrides: dict[str, object], message: str
) -> None:
    response = client.post(PATENTS, headers=university.headers, json=_payload(**overrides))

    body = assert_problem(response, 422, "validation_failed")
    assert message in body["detail"]


def test_register_accepts_a_fee_paid_to_the_last_day_of_the_term(
    client: TestClient, university: Party
) -> None:
    response = client.post(
        PATENTS, headers=university.headers, json=_payload(fee_paid_until="2040-02-29")
    )

    assert response.status_code == 201, response.text
    assert response.json()["next_fee_due_date"] is None


def test_update_refuses_a_fee_paid_beyond_the_term(
    client: TestClient, university: Party, session: Session
) -> None:
    patent = factories.patent(session, university.organization)

    response = client.patch(
        f"{PATENTS}/{patent.id}", headers=university.headers, json={"fee_paid_until": "9999-12-31"}
    )

    body = assert_problem(response, 422, "invalid_patent_update")
    assert "term ends" in body["detail"]
    session.refresh(patent)
    assert patent.fee_paid_until != date(9999, 12, 31)


def test_an_imported_row_with_a_fee_beyond_the_term_is_refused(
    client: TestClient, university: Party, session: Session
) -> None:
    good, bad = factories.application_number(), factories.application_number()
    content = csv_file(csv_row(good), csv_row(bad, fee_paid_until="9999-12-31"))

    response = client.post(
        "/api/v1/imports",
        headers=university.headers,
        files={"file": ("patents.csv", content, "text/csv")},
    )

    assert response.status_code == 202, response.text
    job = client.get(response.headers["location"], headers=university.headers).json()
    assert (job["created_count"], job["failed_count"]) == (1, 1)
    [error] = job["errors"]
    assert error["application_number"] == bad
    assert "term ends" in error["detail"]
    assert session.scalar(select(Patent).where(Patent.application_number == bad)) is None
    listed = client.get(PATENTS, headers=university.headers)
    assert listed.status_code == 200


def test_the_fee_due_date_stops_at_the_term_end() -> None:
    term_end = term_end_date(PatentKind.invention, date(2020, 3, 1))

    assert next_fee_due_date(term_end - timedelta(days=1), term_end) == term_end
    assert next_fee_due_date(term_end, term_end) is None


def test_a_fee_paid_to_the_term_end_is_never_in_arrears_after_it(
    session: Session, university: Party
) -> None:
    patent = factories.patent(
        session,
        university.organization,
        filing_date=date(2006, 6, 16),
        grant_date=date(2009, 1, 5),
        fee_paid_until=date(2026, 6, 15),
    )
    a_year_later = date(2027, 6, 16)

    assert patents.fee_status(patent, today=a_year_later) is FeeStatus.paid
    assert patents.is_in_force(patent, today=a_year_later) is False
    assert patent.legal_status == LegalStatus.granted


def test_a_fee_stored_at_the_end_of_the_calendar_breaks_no_read(
    client: TestClient, session: Session, university: Party, new_party: NewParty
) -> None:
    """A row written before the bound (or by hand) with a fee paid to 9999-12-31: the owner's
    list and a bank's encumbrance check still answer (they were 500s)."""
    patent = factories.patent(session, university.organization)
    patent.fee_paid_until = date(9999, 12, 31)
    session.add(patent)
    session.flush()
    bank = new_party(kind=OrganizationKind.bank)

    listed = client.get(PATENTS, headers=university.headers)
    assert listed.status_code == 200, listed.text
    checked = client.post(
        "/api/v1/encumbrances/check",
        headers=bank.headers,
        json={"application_numbers": [patent.application_number]},
    )
    assert checked.status_code == 200, checked.text


def test_a_patent_granted_today_in_china_is_not_granted_in_the_future(
    client: TestClient, university: Party, set_now: SetNow
) -> None:
    # 20:00 UTC on 15 June is 04:00 on 16 June in China, where the office dates its grants.
    set_now(datetime(2026, 6, 15, 20, 0, tzinfo=UTC))
    for grant_date, status in (("2026-06-17", 422), ("2026-06-16", 201)):
        response = client.post(
            PATENTS, headers=university.headers, json=_payload(grant_date=grant_date)
        )
        assert response.status_code == status, response.text
