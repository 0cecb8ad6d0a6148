"""GET /api/v1/stats: who sees which figures, and the CSV export."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from tests import factories
from tests.factories import NewParty
from tests.problems import assert_problem
from tests.stats.conftest import Portfolio


def test_licensor_sees_its_own_figures(client: TestClient, portfolio: Portfolio) -> None:
    response = client.get(
        "/api/v1/stats", params={"group_by": "ipc_section"}, headers=portfolio.university.headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["group_by"] == "ipc_section"
    assert body["owner_id"] == portfolio.university.id
    assert [row["group"] for row in body["rows"]] == ["G", "H"]
    assert body["totals"]["patents"] == 3
    assert body["totals"]["licenses_by_royalty_type"]["lump_sum"] == 2


def test_default_grouping_is_by_year(client: TestClient, portfolio: Portfolio) -> None:
    body = client.get("/api/v1/stats", headers=portfolio.university.headers).json()

    assert body["group_by"] == "year"
    assert [row["group"] for row in body["rows"]] == ["2019", "2020", "2026"]


def test_period_filters_events(client: TestClient, portfolio: Portfolio) -> None:
    body = client.get(
        "/api/v1/stats",
        params={"from": "2026-07-01", "to": "2026-12-31"},
        headers=portfolio.university.headers,
    ).json()

    assert (body["period_start"], body["period_end"]) == ("2026-07-01", "2026-12-31")
    assert (body["totals"]["patents"], body["totals"]["licenses"]) == (3, 0)


def test_csv_export(client: TestClient, portfolio: Portfolio) -> None:
    response = client.get(
        "/api/v1/stats",
        params={"group_by": "department", "format": "csv"},
        headers=portfolio.university.headers,
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "conversion-department.csv" in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0].startswith("group,patents,licensed_patents")
    assert [line.split(",")[0] for line in lines[1:]] == ["Computing", "Materials", "", "total"]


def test_admin_sees_the_platform_or_one_licensor(
    client: TestClient, portfolio: Portfolio, new_party: NewParty, session: Session
) -> None:
    admin = new_party(kind=OrganizationKind.platform)
    other = new_party(kind=OrganizationKind.university, region="Sichuan")
    factories.published_listing(session, other.organization)

    platform = client.get(
        "/api/v1/stats", params={"group_by": "region"}, headers=admin.headers
    ).json()
    regions = {row["group"]: row for row in platform["rows"]}
    assert platform["owner_id"] is None
    assert regions["Hubei"]["patents"] == 3
    assert regions["Sichuan"]["patents"] == 1

    one = client.get(
        "/api/v1/stats",
        params={"group_by": "region", "owner_id": other.id},
        headers=admin.headers,
    ).json()
    assert one["owner_id"] == other.id
    assert [row["group"] for row in one["rows"]] == ["Sichuan"]


def test_licensor_cannot_read_another_licensors_figures(
    client: TestClient, portfolio: Portfolio, new_party: NewParty
) -> None:
    other = new_party(kind=OrganizationKind.university)

    response = client.get(
        "/api/v1/stats", params={"owner_id": portfolio.university.id}, headers=other.headers
    )

    assert_problem(response, 403, "stats_not_available")


def test_foreign_licensor_gets_only_its_own_empty_figures(
    client: TestClient, portfolio: Portfolio, new_party: NewParty
) -> None:
    other = new_party(kind=OrganizationKind.university)

    body = client.get("/api/v1/stats", headers=other.headers).json()

    assert body["owner_id"] == other.id
    assert body["rows"] == []
    assert body["totals"]["patents"] == 0


def test_bank_is_refused(client: TestClient, new_party: NewParty) -> None:
    bank = new_party(kind=OrganizationKind.bank)

    assert_problem(client.get("/api/v1/stats", headers=bank.headers), 403, "stats_not_available")


def test_needs_a_token(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/stats"), 401, "not_authenticated")


def test_bad_parameters(client: TestClient, portfolio: Portfolio) -> None:
    headers = portfolio.university.headers
    for params in (
        {"group_by": "planet"},
        {"format": "xlsx"},
        {"from": "2026-13-01"},
        {"owner_id": "0"},
    ):
        response = client.get("/api/v1/stats", params=params, headers=headers)
        assert_problem(response, 422, "validation_failed")
    assert_problem(
        client.get(
            "/api/v1/stats", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=headers
        ),
        422,
        "invalid_period",
    )


@pytest.mark.parametrize(
    "period",
    [
        {"group_by": "year", "to": "9999-12-31"},
        {"group_by": "year", "from": "0001-01-01"},
        {"group_by": "department", "from": "2026-01-01", "to": "9999-12-31"},
    ],
)
def test_a_period_beyond_any_statistics_is_refused(
    client: TestClient, portfolio: Portfolio, period: dict[str, str]
) -> None:
    response = client.get("/api/v1/stats", params=period, headers=portfolio.university.headers)

    body = assert_problem(response, 422, "invalid_period")
    assert "must lie between 1985-01-01 and 2199-12-31" in body["detail"]
