"""Recordation with the office: marking a license recorded, and the list of deadlines."""

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from marketplace.config import get_settings
from marketplace.licensing import recordation
from marketplace.licensing import service as licensing
from marketplace.licensing.errors import (
    InvalidRecordNumber,
    LicenseAlreadyRecorded,
    RecordDateOutOfRange,
    RecordNumberInUse,
)
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.pagination import InvalidCursor, PageParams
from tests import factories
from tests.factories import NewParty, Party, SetNow
from tests.licensing.conftest import Grant
from tests.problems import assert_problem

SetToday = Callable[[date], None]


def record(
    session: Session,
    license_: License,
    party: Party,
    number: str = "2026330000123",
    on: date = date(2026, 6, 10),
) -> License:
    return recordation.record_license(
        session=session,
        license_=license_,
        organization_id=party.id,
        record_number=number,
        record_date=on,
    )


@pytest.fixture
def license_in_may(grant: Grant, licensee: Party, set_today: SetToday) -> License:
    """Taken on 2026-05-04 (deadline 2026-08-04); the clock is back at 2026-06-15 afterwards."""
    set_today(date(2026, 5, 4))
    taken = grant(licensee)
    set_today(date(2026, 6, 15))
    return taken


# The service ------------------------------------------------------------------------------------


def test_a_party_marks_the_license_recorded(
    session: Session, license_in_may: License, licensee: Party
) -> None:
    recorded = record(session, license_in_may, licensee, number=" 2026 3300 00123 ")
    session.expire_all()

    stored = session.get_one(License, recorded.id)
    assert stored.record_number == "2026330000123"
    assert stored.record_date == date(2026, 6, 10)
    assert stored.recorded_by_org_id == licensee.id
    assert stored.recorded_at == datetime(2026, 6, 15, 9, 30, tzinfo=UTC)


def test_the_licensor_may_record_too(
    session: Session, license_in_may: License, licensor: Party
) -> None:
    recorded = record(session, license_in_may, licensor, number="x2026-44/0017")

    assert recorded.record_number == "X2026-44/0017"
    assert recorded.recorded_by_org_id == licensor.id


@pytest.mark.parametrize(
    "number", ["12345", "ABC 12", "2026_330000", "-2026330000", "A" * 33, "备案2026330000"]
)
def test_a_malformed_record_number_is_refused(
    session: Session, license_in_may: License, licensee: Party, number: str
) -> None:
    with pytest.raises(InvalidRecordNumber):
        record(session, license_in_may, licensee, number=number)
    assert license_in_may.record_number is None


def test_the_record_number_pattern_is_configurable(
    session: Session, license_in_may: License, licensee: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "recordation_number_pattern", r"^BA\d{6}$")

    with pytest.raises(InvalidRecordNumber):
        record(session, license_in_may, licensee, number="2026330000123")
    assert record(session, license_in_may, licensee, number="ba123456").record_number == (
        "BA123456"
    )


def test_a_record_date_in_the_future_is_refused(
    session: Session, license_in_may: License, licensee: Party
) -> None:
    with pytest.raises(RecordDateOutOfRange, match="in the future"):
        record(session, license_in_may, licensee, on=date(2026, 6, 16))
    assert record(session, license_in_may, licensee, on=date(2026, 6, 15)).record_number


def test_a_record_date_before_the_effective_date_is_refused(
    session: Session, license_in_may: License, licensee: Party
) -> None:
    with pytest.raises(RecordDateOutOfRange, match="before the license took effect"):
        record(session, license_in_may, licensee, on=date(2026, 5, 3))
    assert record(session, license_in_may, licensee, on=date(2026, 5, 4)).record_number


def test_a_terminated_license_can_be_recorded_within_its_life(
    session: Session,
    license_in_may: License,
    licensee: Party,
    licensor: Party,
    set_today: SetToday,
) -> None:
    set_today(date(2026, 6, 1))
    licensing.terminate_license(
        session=session, license_=license_in_may, organization_id=licensee.id, reason=None
    )
    set_today(date(2026, 6, 15))
    assert license_in_may.status is LicenseStatus.terminated

    with pytest.raises(RecordDateOutOfRange, match=r"after the license ended \(2026-06-01\)"):
        record(session, license_in_may, licensor, on=date(2026, 6, 2))
    recorded = record(session, license_in_may, licensor, on=date(2026, 6, 1))
    assert recorded.record_date == date(2026, 6, 1)


def test_an_expired_license_can_be_recorded_within_its_term(
    session: Session, license_in_may: License, licensee: Party, set_today: SetToday
) -> None:
    set_today(date(2030, 1, 1))
    licensing.expire_licenses(session=session, today=date(2030, 1, 1))
    session.refresh(license_in_may)
    assert license_in_may.status is LicenseStatus.expired
    assert license_in_may.expires_on == date(2029, 5, 3)

    with pytest.raises(RecordDateOutOfRange, match="after the license ended"):
        record(session, license_in_may, licensee, on=date(2029, 5, 4))
    assert record(session, license_in_may, licensee, on=date(2026, 7, 1)).record_number


def test_recording_twice_is_refused(
    session: Session, license_in_may: License, licensee: Party, licensor: Party
) -> None:
    record(session, license_in_may, licensee)

    with pytest.raises(LicenseAlreadyRecorded):
        record(session, license_in_may, licensor, number="2026330000999")
    session.expire_all()
    stored = session.get_one(License, license_in_may.id)
    assert (stored.record_number, stored.recorded_by_org_id) == ("2026330000123", licensee.id)


def test_a_stale_copy_cannot_overwrite_a_recordation(
    session: Session, license_in_may: License, licensee: Party, licensor: Party
) -> None:
    """A request that read the license before another recorded it loses at the UPDATE."""
    session.execute(
        sa.update(License)
        .where(col(License.id) == license_in_may.id)
        .values(
            record_number="2026330000777",
            record_date=date(2026, 6, 1),
            recorded_by_org_id=licensor.id,
            recorded_at=datetime(2026, 6, 1, tzinfo=UTC),
        )
        .execution_options(synchronize_session=False)
    )
    assert license_in_may.record_number is None  # the stale in-memory copy

    with pytest.raises(LicenseAlreadyRecorded, match="2026330000777"):
        record(session, license_in_may, licensee)


def test_a_record_number_belongs_to_one_license(
    session: Session, grant: Grant, license_in_may: License, licensee: Party, new_party: NewParty
) -> None:
    other = grant(new_party())
    record(session, license_in_may, licensee)

    with pytest.raises(RecordNumberInUse):
        recordation.record_license(
            session=session,
            license_=other,
            organization_id=other.licensee_id,
            record_number="2026 330000 123",
            record_date=date(2026, 6, 15),
        )
    assert other.record_number is None


def test_the_database_refuses_a_partial_recordation(
    session: Session, license_in_may: License
) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(
            sa.update(License)
            .where(col(License.id) == license_in_may.id)
            .values(record_number="2026330000123")
        )


def test_the_database_refuses_a_record_date_before_the_effective_date(
    session: Session, license_in_may: License, licensee: Party
) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(
            sa.update(License)
            .where(col(License.id) == license_in_may.id)
            .values(
                record_number="2026330000123",
                record_date=date(2026, 5, 3),
                recorded_by_org_id=licensee.id,
                recorded_at=datetime(2026, 6, 1, tzinfo=UTC),
            )
        )


# The due list -----------------------------------------------------------------------------------


@pytest.fixture
def deadlines(
    session: Session, grant: Grant, new_party: NewParty, set_today: SetToday
) -> dict[str, License]:
    """Licenses of the fixture's offer on several days; the clock ends at 2026-06-15."""
    taken: dict[str, License] = {}
    for name, day in [
        ("overdue", date(2026, 2, 20)),  # deadline 2026-05-20
        ("soon", date(2026, 3, 25)),  # deadline 2026-06-25
        ("same_day_a", date(2026, 4, 1)),  # deadline 2026-07-01
        ("same_day_b", date(2026, 4, 1)),
        ("later", date(2026, 6, 15)),  # deadline 2026-09-15
        ("recorded", date(2026, 3, 1)),
        ("terminated", date(2026, 3, 1)),
    ]:
        set_today(day)
        taken[name] = grant(new_party())
    set_today(date(2026, 6, 15))
    taken["recorded"].record_number = "2026330000001"
    taken["recorded"].record_date = date(2026, 3, 2)
    taken["recorded"].recorded_by_org_id = taken["recorded"].licensee_id
    taken["recorded"].recorded_at = datetime(2026, 3, 2, tzinfo=UTC)
    taken["terminated"].status = LicenseStatus.terminated
    session.add_all(taken.values())
    session.flush()
    return taken


def due(
    session: Session,
    organization_id: int,
    days: int = 30,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    items, next_cursor = recordation.list_recordation_due(
        session=session,
        organization_id=organization_id,
        within_days=days,
        params=PageParams(limit=limit, cursor=cursor),
        today=date(2026, 6, 15),
    )
    return [item.model_dump() for item in items], next_cursor


def test_due_lists_unrecorded_active_licenses_soonest_first_with_overdue_flagged(
    session: Session, deadlines: dict[str, License], licensor: Party
) -> None:
    items, next_cursor = due(session, licensor.id, days=30)

    ids = {license_.id: name for name, license_ in deadlines.items()}
    assert [ids[item["license_id"]] for item in items] == [
        "overdue",
        "soon",
        "same_day_a",
        "same_day_b",
    ]
    assert next_cursor is None
    overdue, soon = items[0], items[1]
    assert (overdue["days_left"], overdue["overdue"]) == (-26, True)
    assert (soon["days_left"], soon["overdue"]) == (10, False)
    assert overdue["role"] == "licensor"
    assert overdue["recordation_deadline"] == date(2026, 5, 20)


def test_due_with_zero_days_lists_only_what_is_due_today_or_overdue(
    session: Session, deadlines: dict[str, License], licensor: Party
) -> None:
    items, _ = due(session, licensor.id, days=0)

    assert [item["license_id"] for item in items] == [deadlines["overdue"].id]


def test_due_is_seen_by_the_licensee_as_licensee_and_not_by_others(
    session: Session, deadlines: dict[str, License], new_party: NewParty
) -> None:
    soon = deadlines["soon"]

    items, _ = due(session, soon.licensee_id, days=90)

    assert [(item["license_id"], item["role"]) for item in items] == [(soon.id, "licensee")]
    assert due(session, new_party().id, days=366) == ([], None)


def test_due_leaves_out_licenses_past_their_term(
    session: Session, deadlines: dict[str, License], licensor: Party
) -> None:
    deadlines["overdue"].expires_on = date(2026, 6, 14)
    session.add(deadlines["overdue"])
    session.flush()

    items, _ = due(session, licensor.id)

    assert deadlines["overdue"].id not in [item["license_id"] for item in items]


def test_due_pages_through_equal_deadlines_without_gaps(
    session: Session, deadlines: dict[str, License], licensor: Party
) -> None:
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        items, cursor = due(session, licensor.id, days=120, limit=2, cursor=cursor)
        seen += [item["license_id"] for item in items]
        if cursor is None:
            break
    names = ["overdue", "soon", "same_day_a", "same_day_b", "later"]
    assert seen == [deadlines[name].id for name in names]


@pytest.mark.parametrize(
    "cursor", ["not base64 json!", "eyJpZCI6MX0", "eyJkZWFkbGluZSI6IngiLCJpZCI6MX0"]
)
def test_due_refuses_a_forged_cursor(session: Session, licensor: Party, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        due(session, licensor.id, cursor=cursor)


# Over HTTP --------------------------------------------------------------------------------------


def post_recordation(
    client: TestClient, license_id: int | None, headers: dict[str, str], body: Any = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/licenses/{license_id}/recordation",
        headers=headers,
        json={"record_number": "2026330000123", "record_date": "2026-06-10"}
        if body is None
        else body,
    )
    return response


def assert_unrecorded(session: Session, license_: License) -> None:
    session.expire_all()
    assert session.get_one(License, license_.id).record_number is None


def test_http_a_party_records_the_license(
    client: TestClient, license_in_may: License, licensor: Party
) -> None:
    response = post_recordation(client, license_in_may.id, licensor.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == license_in_may.id
    assert (body["record_number"], body["record_date"]) == ("2026330000123", "2026-06-10")
    assert body["recorded_by_org_id"] == licensor.id
    assert body["recorded_at"].startswith("2026-06-15T09:30:00")
    fetched = client.get(f"/api/v1/licenses/{license_in_may.id}", headers=licensor.headers)
    assert fetched.json()["record_number"] == "2026330000123"


def test_http_recording_needs_a_token(
    client: TestClient, session: Session, license_in_may: License
) -> None:
    assert_problem(post_recordation(client, license_in_may.id, {}), 401, "not_authenticated")
    assert_unrecorded(session, license_in_may)


def test_http_recording_needs_the_licenses_scope(
    client: TestClient, session: Session, license_in_may: License, licensee: Party
) -> None:
    headers = factories.auth(session, licensee.user, frozenset({"patents"}))

    assert_problem(post_recordation(client, license_in_may.id, headers), 403, "insufficient_scope")
    assert_unrecorded(session, license_in_may)


def test_http_a_third_party_gets_404(
    client: TestClient, session: Session, license_in_may: License, new_party: NewParty
) -> None:
    stranger = new_party()

    assert_problem(
        post_recordation(client, license_in_may.id, stranger.headers), 404, "license_not_found"
    )
    assert_problem(post_recordation(client, 2**31 - 1, stranger.headers), 404, "license_not_found")
    assert_unrecorded(session, license_in_may)


def test_http_recording_twice_is_409_and_keeps_the_first(
    client: TestClient, session: Session, license_in_may: License, licensee: Party, licensor: Party
) -> None:
    assert post_recordation(client, license_in_may.id, licensee.headers).status_code == 200

    second = post_recordation(
        client,
        license_in_may.id,
        licensor.headers,
        {"record_number": "2026330000999", "record_date": "2026-06-11"},
    )

    body = assert_problem(second, 409, "license_already_recorded")
    assert body["record_number"] == "2026330000123"
    session.expire_all()
    stored = session.get_one(License, license_in_may.id)
    assert (stored.record_number, stored.recorded_by_org_id) == ("2026330000123", licensee.id)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"record_number": "12", "record_date": "2026-06-10"}, "invalid_record_number"),
        (
            {"record_number": "2026330000123", "record_date": "2026-06-16"},
            "record_date_out_of_range",
        ),
        (
            {"record_number": "2026330000123", "record_date": "2026-05-03"},
            "record_date_out_of_range",
        ),
        ({"record_number": "2026330000123", "record_date": "10/06/2026"}, "validation_failed"),
        ({"record_number": "2026330000123"}, "validation_failed"),
        ({"record_number": "", "record_date": "2026-06-10"}, "validation_failed"),
        ({"record_number": "9" * 65, "record_date": "2026-06-10"}, "validation_failed"),
        ([], "validation_failed"),
    ],
)
def test_http_bad_input_is_422_and_writes_nothing(
    client: TestClient,
    session: Session,
    license_in_may: License,
    licensee: Party,
    body: Any,
    code: str,
) -> None:
    assert_problem(post_recordation(client, license_in_may.id, licensee.headers, body), 422, code)
    assert_unrecorded(session, license_in_may)


def test_http_due_list(client: TestClient, deadlines: dict[str, License], licensor: Party) -> None:
    response = client.get(
        "/api/v1/licenses/recordation-due",
        params={"days": 10, "limit": 1},
        headers=licensor.headers,
    )

    assert response.status_code == 200, response.text
    first = response.json()
    assert [item["license_id"] for item in first["items"]] == [deadlines["overdue"].id]
    assert first["items"][0]["overdue"] is True
    assert first["items"][0]["days_left"] == -26
    rest = client.get(
        "/api/v1/licenses/recordation-due",
        params={"days": 10, "limit": 1, "cursor": first["next_cursor"]},
        headers=licensor.headers,
    ).json()
    assert [item["license_id"] for item in rest["items"]] == [deadlines["soon"].id]
    assert rest["next_cursor"] is None


def test_http_due_list_defaults_to_30_days(
    client: TestClient, deadlines: dict[str, License], licensor: Party
) -> None:
    body = client.get("/api/v1/licenses/recordation-due", headers=licensor.headers).json()

    assert len(body["items"]) == 4


def test_http_due_list_gates(client: TestClient, session: Session, licensor: Party) -> None:
    path = "/api/v1/licenses/recordation-due"
    assert_problem(client.get(path), 401, "not_authenticated")
    no_scope = factories.auth(session, licensor.user, frozenset({"patents"}))
    assert_problem(client.get(path, headers=no_scope), 403, "insufficient_scope")
    for params in ({"days": -1}, {"days": 367}, {"days": "soon"}, {"limit": 0}):
        assert_problem(
            client.get(path, params=params, headers=licensor.headers), 422, "validation_failed"
        )
    assert_problem(
        client.get(path, params={"cursor": "eyJpZCI6MX0"}, headers=licensor.headers),
        422,
        "invalid_cursor",
    )


def test_the_record_date_is_not_in_the_future_in_china(
    session: Session, license_in_may: License, licensee: Party, set_now: SetNow
) -> None:
    # 20:00 UTC on 15 June is 04:00 on 16 June in China, where the office dates its records.
    set_now(datetime(2026, 6, 15, 20, 0, tzinfo=UTC))
    with pytest.raises(RecordDateOutOfRange, match="in the future"):
        record(session, license_in_may, licensee, on=date(2026, 6, 17))
    assert record(session, license_in_may, licensee, on=date(2026, 6, 16)).record_number
