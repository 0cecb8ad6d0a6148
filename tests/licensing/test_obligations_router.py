"""Royalty reports, obligations and payments over HTTP."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from marketplace.accounts.models import OrganizationKind
from marketplace.licensing.models.licenses import License
from marketplace.licensing.models.obligations import Obligation, Payment
from marketplace.licensing.models.royalty_reports import RoyaltyReport
from tests.factories import NewParty, Party
from tests.licensing.royalty_builders import Q1, Q2, license_for
from tests.problems import assert_problem

SetToday = Callable[[date], None]


@pytest.fixture
def license_(session: Session, licensor: Party, licensee: Party) -> License:
    """Hybrid: 50,000 entry fee, 3.5 %, 20,000 minimum; accepted 2026-06-15."""
    return license_for(session, licensor.organization, licensee.organization)


@pytest.fixture
def unpaid_license(session: Session, licensor: Party, licensee: Party) -> License:
    """The same hybrid license before its 50,000 entry fee is paid: pending, due 2026-07-15."""
    return license_for(session, licensor.organization, licensee.organization, paid=False)


@pytest.fixture
def stranger(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.enterprise)


def body(period: tuple[date, date] = Q1, **overrides: Any) -> dict[str, Any]:
    return {
        "period_start": period[0].isoformat(),
        "period_end": period[1].isoformat(),
        "net_sales": "1234567.89",
        "currency": "CNY",
        **overrides,
    }


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def file(
    client: TestClient, license_: License, party: Party, payload: dict[str, Any] | None = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/licenses/{license_.id}/royalty-reports",
        headers=party.headers,
        json=body() if payload is None else payload,
    )
    return response


def upfront_id(client: TestClient, party: Party) -> int:
    response = client.get("/api/v1/obligations?kind=upfront", headers=party.headers)
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    return int(item["id"])


def pay(client: TestClient, obligation_id: int, party: Party, amount: str) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/obligations/{obligation_id}/payments",
        headers=party.headers,
        json={"amount": amount, "paid_on": "2026-06-15", "reference": "TT-88213"},
    )
    return response


# Royalty reports -------------------------------------------------------------------------------


def test_licensee_files_a_report_and_both_parties_read_it(
    client: TestClient, license_: License, licensor: Party, licensee: Party, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    response = file(client, license_, licensee, body(units=4200))

    assert response.status_code == 201, response.text
    report = response.json()
    assert report["royalty_due"] == "43209.88"
    assert report["license_year"] == 0
    assert report["units"] == 4200
    assert report["superseded_by"] is None
    assert report["obligation_id"] is not None
    for party in (licensor, licensee):
        listed = client.get(
            f"/api/v1/licenses/{license_.id}/royalty-reports", headers=party.headers
        )
        assert listed.status_code == 200
        assert [r["id"] for r in listed.json()["items"]] == [report["id"]]
        one = client.get(f"/api/v1/royalty-reports/{report['id']}", headers=party.headers)
        assert one.json() == report
    obligation = client.get(
        f"/api/v1/obligations/{report['obligation_id']}", headers=licensor.headers
    ).json()
    assert (obligation["kind"], obligation["amount"], obligation["due_date"]) == (
        "royalty",
        "43209.88",
        "2026-10-14",
    )


def test_a_correction_supersedes_and_owes_the_difference(
    client: TestClient, license_: License, licensee: Party, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    original = file(client, license_, licensee, body(net_sales="100000")).json()
    response = file(client, license_, licensee, body(net_sales="80000", corrects=original["id"]))
    assert response.status_code == 201, response.text
    correction = response.json()
    assert correction["corrects"] == original["id"]
    credit = client.get(
        f"/api/v1/obligations/{correction['obligation_id']}", headers=licensee.headers
    ).json()
    assert (credit["kind"], credit["amount"], credit["status"]) == (
        "correction",
        "-700.00",
        "credit",
    )
    listed = client.get(
        f"/api/v1/licenses/{license_.id}/royalty-reports", headers=licensee.headers
    ).json()["items"]
    assert [(r["id"], r["superseded_by"]) for r in listed] == [
        (correction["id"], None),
        (original["id"], correction["id"]),
    ]


def test_filing_needs_a_token(client: TestClient, license_: License) -> None:
    response = client.post(f"/api/v1/licenses/{license_.id}/royalty-reports", json=body())
    assert_problem(response, 401, "not_authenticated")


def test_the_licensor_cannot_file(
    client: TestClient,
    session: Session,
    license_: License,
    licensor: Party,
    new_party: NewParty,
    set_today: SetToday,
) -> None:
    set_today(date(2026, 9, 20))
    # Universities may take licenses too, so the licensor holds the licensee's scope: still not
    # its report to file.
    assert_problem(file(client, license_, licensor), 403, "only_licensee_reports")
    # Nor is it an enterprise licensor's.
    enterprise_licensor = new_party(kind=OrganizationKind.enterprise)
    licensee = new_party(kind=OrganizationKind.enterprise)
    other = license_for(session, enterprise_licensor.organization, licensee.organization)
    assert_problem(file(client, other, enterprise_licensor), 403, "only_licensee_reports")
    assert count(session, RoyaltyReport) == 0


def test_a_foreign_license_does_not_exist(
    client: TestClient, session: Session, license_: License, stranger: Party, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    assert_problem(file(client, license_, stranger), 404, "license_not_found")
    listed = client.get(f"/api/v1/licenses/{license_.id}/royalty-reports", headers=stranger.headers)
    assert_problem(listed, 404, "license_not_found")
    assert count(session, RoyaltyReport) == 0


def test_a_foreign_report_does_not_exist(
    client: TestClient, license_: License, licensee: Party, stranger: Party, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    report = file(client, license_, licensee).json()
    response = client.get(f"/api/v1/royalty-reports/{report['id']}", headers=stranger.headers)
    assert_problem(response, 404, "royalty_report_not_found")


def test_an_overlapping_report_is_a_conflict_and_writes_nothing(
    client: TestClient, session: Session, license_: License, licensee: Party, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 20))
    assert file(client, license_, licensee).status_code == 201
    before = (count(session, RoyaltyReport), count(session, Obligation))
    response = file(client, license_, licensee, body((date(2026, 9, 1), Q2[1])))
    assert_problem(response, 409, "report_period_overlaps")
    assert (count(session, RoyaltyReport), count(session, Obligation)) == before


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"currency": "USD"}, "currency_mismatch"),
        ({"period_end": "2026-06-14"}, "validation_failed"),
        ({"net_sales": "-1"}, "validation_failed"),
        ({"net_sales": "1.001"}, "validation_failed"),
        ({"currency": "cny"}, "validation_failed"),
        ({"period_start": "2026-06-01"}, "period_outside_term"),
        ({"period_end": "2026-09-30"}, "period_not_ended"),
    ],
)
def test_bad_reports_are_unprocessable_and_write_nothing(
    client: TestClient,
    session: Session,
    license_: License,
    licensee: Party,
    set_today: SetToday,
    overrides: dict[str, Any],
    code: str,
) -> None:
    set_today(date(2026, 9, 20))
    assert_problem(file(client, license_, licensee, body(**overrides)), 422, code)
    assert count(session, RoyaltyReport) == 0


def test_a_lump_sum_license_takes_no_reports(
    client: TestClient, session: Session, licensor: Party, licensee: Party, set_today: SetToday
) -> None:
    lump = license_for(
        session,
        licensor.organization,
        licensee.organization,
        royalty_type="lump_sum",
        upfront_fee="300000",
    )
    set_today(date(2026, 9, 20))
    assert_problem(file(client, lump, licensee), 409, "license_not_royalty_bearing")


def test_licensors_see_overdue_reports(
    client: TestClient, license_: License, licensor: Party, licensee: Party, set_today: SetToday
) -> None:
    set_today(date(2026, 10, 20))
    response = client.get("/api/v1/royalty-reports/overdue", headers=licensor.headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [
        {
            "license_id": license_.id,
            "license_number": license_.license_number,
            "licensee_id": licensee.id,
            "period_start": "2026-06-15",
            "period_end": "2026-09-14",
            "report_due_date": "2026-10-14",
            "days_overdue": 6,
        }
    ]
    assert file(client, license_, licensee).status_code == 201
    after = client.get("/api/v1/royalty-reports/overdue", headers=licensor.headers)
    assert after.json()["items"] == []


def test_overdue_reports_need_a_token_the_right_scope_and_a_valid_cursor(
    client: TestClient, new_party: NewParty
) -> None:
    assert_problem(client.get("/api/v1/royalty-reports/overdue"), 401, "not_authenticated")
    bank = new_party(kind=OrganizationKind.bank)
    response = client.get("/api/v1/royalty-reports/overdue", headers=bank.headers)
    assert_problem(response, 403, "insufficient_scope")
    licensor = new_party(kind=OrganizationKind.university)
    response = client.get("/api/v1/royalty-reports/overdue?cursor=bm9wZQ", headers=licensor.headers)
    assert_problem(response, 422, "invalid_cursor")


# Obligations ---------------------------------------------------------------------------------


def test_obligations_are_listed_and_filtered_for_both_parties(
    client: TestClient,
    unpaid_license: License,
    licensor: Party,
    licensee: Party,
    set_today: SetToday,
) -> None:
    set_today(date(2026, 7, 16))  # the upfront fee fell due on 2026-07-15
    for party, role in ((licensee, "licensee"), (licensor, "licensor")):
        overdue = client.get(
            f"/api/v1/obligations?status=overdue&role={role}", headers=party.headers
        )
        assert overdue.status_code == 200, overdue.text
        [item] = overdue.json()["items"]
        assert (item["kind"], item["status"], item["outstanding"]) == (
            "upfront",
            "overdue",
            "50000.00",
        )
    wrong_role = client.get("/api/v1/obligations?role=licensor", headers=licensee.headers)
    assert wrong_role.json()["items"] == []
    due = client.get("/api/v1/obligations?status=due", headers=licensee.headers)
    assert due.json()["items"] == []
    dated = client.get(
        "/api/v1/obligations?due_after=2026-07-15&due_before=2026-07-15", headers=licensee.headers
    )
    assert len(dated.json()["items"]) == 1


def test_obligations_need_a_token_and_the_right_scope(
    client: TestClient, new_party: NewParty, licensee: Party
) -> None:
    assert_problem(client.get("/api/v1/obligations"), 401, "not_authenticated")
    bank = new_party(kind=OrganizationKind.bank)
    assert_problem(
        client.get("/api/v1/obligations", headers=bank.headers), 403, "insufficient_scope"
    )
    bad = client.get("/api/v1/obligations?status=late", headers=licensee.headers)
    assert_problem(bad, 422, "validation_failed")


def test_a_foreign_obligation_does_not_exist(
    client: TestClient, unpaid_license: License, licensee: Party, stranger: Party
) -> None:
    obligation_id = upfront_id(client, licensee)
    response = client.get(f"/api/v1/obligations/{obligation_id}", headers=stranger.headers)
    assert_problem(response, 404, "obligation_not_found")
    listed = client.get(f"/api/v1/obligations/{obligation_id}/payments", headers=stranger.headers)
    assert_problem(listed, 404, "obligation_not_found")


def test_the_licensee_calendar(
    client: TestClient, unpaid_license: License, licensor: Party, licensee: Party
) -> None:
    response = client.get(
        "/api/v1/obligations/calendar?from=2026-06-01&to=2026-12-31", headers=licensee.headers
    )
    assert response.status_code == 200, response.text
    calendar = response.json()
    assert [(m["month"], m["totals"]) for m in calendar["months"]] == [
        ("2026-07", {"CNY": "50000.00"})
    ]
    # The licensor (a university, which may take licenses too) owes nothing: its calendar of
    # what it owes is empty.
    owed_by_licensor = client.get(
        "/api/v1/obligations/calendar?from=2026-06-01&to=2026-12-31", headers=licensor.headers
    )
    assert owed_by_licensor.status_code == 200, owed_by_licensor.text
    assert owed_by_licensor.json()["months"] == []
    assert_problem(
        client.get(
            "/api/v1/obligations/calendar?from=2026-12-31&to=2026-06-01", headers=licensee.headers
        ),
        422,
        "invalid_date_range",
    )
    assert_problem(
        client.get("/api/v1/obligations/calendar?from=2026-06-01", headers=licensee.headers),
        422,
        "validation_failed",
    )
    assert_problem(client.get("/api/v1/obligations/calendar"), 401, "not_authenticated")


# Payments --------------------------------------------------------------------------------------


def test_licensee_pays_licensor_confirms_and_the_obligation_is_paid(
    client: TestClient, unpaid_license: License, licensor: Party, licensee: Party
) -> None:
    obligation_id = upfront_id(client, licensee)
    first = pay(client, obligation_id, licensee, "20000")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "recorded"
    second = pay(client, obligation_id, licensee, "30000.00").json()
    for payment in (first.json(), second):
        confirmed = client.post(
            f"/api/v1/payments/{payment['id']}/confirm", headers=licensor.headers
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "confirmed"
    obligation = client.get(f"/api/v1/obligations/{obligation_id}", headers=licensee.headers)
    assert (obligation.json()["status"], obligation.json()["paid_amount"]) == (
        "paid",
        "50000.00",
    )
    payments = client.get(f"/api/v1/obligations/{obligation_id}/payments", headers=licensor.headers)
    assert [p["amount"] for p in payments.json()["items"]] == ["30000.00", "20000.00"]
    paid = client.get("/api/v1/obligations?status=paid", headers=licensor.headers)
    assert [o["id"] for o in paid.json()["items"]] == [obligation_id]


def test_recording_payments_is_the_licensees_alone(
    client: TestClient,
    session: Session,
    unpaid_license: License,
    licensor: Party,
    licensee: Party,
    stranger: Party,
) -> None:
    obligation_id = upfront_id(client, licensee)
    assert_problem(
        client.post(
            f"/api/v1/obligations/{obligation_id}/payments",
            json={"amount": "1", "paid_on": "2026-06-15", "reference": "x"},
        ),
        401,
        "not_authenticated",
    )
    # The licensor holds the licensee's scope (universities may take licenses): still not its
    # obligation to pay.
    assert_problem(pay(client, obligation_id, licensor, "1"), 403, "only_licensee_pays")
    assert_problem(pay(client, obligation_id, stranger, "1"), 404, "obligation_not_found")
    assert count(session, Payment) == 0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"amount": "50000.01", "paid_on": "2026-06-15", "reference": "x"}, "overpayment"),
        ({"amount": "0", "paid_on": "2026-06-15", "reference": "x"}, "validation_failed"),
        ({"amount": "1", "paid_on": "2026-06-16", "reference": "x"}, "payment_date_in_future"),
        ({"amount": "1", "paid_on": "2026-06-14", "reference": "x"}, "payment_before_license"),
        ({"amount": "1", "paid_on": "0001-01-01", "reference": "x"}, "payment_before_license"),
        (
            {"amount": "1", "paid_on": "2026-06-15", "reference": "x", "status": "confirmed"},
            "validation_failed",
        ),
        ({"amount": "1", "paid_on": "2026-06-15", "reference": ""}, "validation_failed"),
    ],
)
def test_bad_payments_are_unprocessable_and_write_nothing(
    client: TestClient,
    session: Session,
    unpaid_license: License,
    licensee: Party,
    payload: dict[str, Any],
    code: str,
) -> None:
    obligation_id = upfront_id(client, licensee)
    response = client.post(
        f"/api/v1/obligations/{obligation_id}/payments", headers=licensee.headers, json=payload
    )
    assert_problem(response, 422, code)
    assert count(session, Payment) == 0


def test_a_paid_obligation_takes_no_payment(
    client: TestClient, session: Session, unpaid_license: License, licensor: Party, licensee: Party
) -> None:
    obligation_id = upfront_id(client, licensee)
    payment = pay(client, obligation_id, licensee, "50000").json()
    client.post(f"/api/v1/payments/{payment['id']}/confirm", headers=licensor.headers)
    assert_problem(pay(client, obligation_id, licensee, "1"), 409, "obligation_not_payable")
    assert count(session, Payment) == 1


def test_confirmation_is_the_licensors_and_happens_once(
    client: TestClient, unpaid_license: License, licensor: Party, licensee: Party, stranger: Party
) -> None:
    obligation_id = upfront_id(client, licensee)
    payment_id = pay(client, obligation_id, licensee, "100").json()["id"]
    path = f"/api/v1/payments/{payment_id}/confirm"
    assert_problem(client.post(path), 401, "not_authenticated")
    assert_problem(client.post(path, headers=licensee.headers), 403, "only_licensor_confirms")
    assert_problem(client.post(path, headers=stranger.headers), 404, "payment_not_found")
    assert client.post(path, headers=licensor.headers).status_code == 200
    assert_problem(client.post(path, headers=licensor.headers), 409, "payment_not_recorded")
    assert_problem(
        client.post("/api/v1/payments/0/confirm", headers=licensor.headers),
        422,
        "validation_failed",
    )


def test_the_licensor_rejects_a_payment_it_has_not_received(
    client: TestClient, unpaid_license: License, licensor: Party, licensee: Party
) -> None:
    obligation_id = upfront_id(client, licensee)
    payment_id = pay(client, obligation_id, licensee, "50000").json()["id"]
    path = f"/api/v1/payments/{payment_id}/reject"
    assert_problem(client.post(path, headers=licensor.headers, json={}), 422, "validation_failed")
    assert_problem(
        client.post(path, headers=licensee.headers, json={"reason": "x"}),
        403,
        "only_licensor_confirms",
    )
    response = client.post(path, headers=licensor.headers, json={"reason": "not received"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["rejection_reason"]) == (
        "rejected",
        "not received",
    )
    assert_problem(
        client.post(path, headers=licensor.headers, json={"reason": "again"}),
        409,
        "payment_not_recorded",
    )
    # The amount is open again.
    assert pay(client, obligation_id, licensee, "50000").status_code == 201


def test_amounts_are_decimal_strings(
    client: TestClient, unpaid_license: License, licensee: Party
) -> None:
    obligation = client.get(
        f"/api/v1/obligations/{upfront_id(client, licensee)}", headers=licensee.headers
    ).json()
    assert Decimal(obligation["amount"]) == Decimal("50000")
    assert isinstance(obligation["amount"], str)
