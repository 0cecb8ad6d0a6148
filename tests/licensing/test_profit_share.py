"""Royalties as a share of profit (Patent Law art. 50 allows them; guidance up to 40 % of
profit): the offer takes a rate and nothing else, the license is in force on notice, its royalty
reports carry the period's profit, and the royalty owed is that share of it."""

from datetime import date
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import Organization
from marketplace.licensing import errors
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.listings.models import OfferCreate
from marketplace.listings.publication import guidance_warnings
from tests import factories
from tests.factories import Party
from tests.licensing.royalty_builders import Q1, file, license_for, report_data
from tests.problems import assert_problem


@pytest.fixture
def profit_share(
    session: Session, licensor_org: Organization, licensee_org: Organization
) -> License:
    """A 25 % share of profit for three years, nothing up front."""
    return license_for(
        session, licensor_org, licensee_org, royalty_type="profit_share", royalty_rate="25"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"royalty_type": "profit_share"},
        {"royalty_type": "profit_share", "royalty_rate": "25", "upfront_fee": "1000"},
        {"royalty_type": "profit_share", "royalty_rate": "25", "per_unit_fee": "2"},
        {"royalty_type": "profit_share", "royalty_rate": "0"},
        {"royalty_type": "profit_share", "royalty_rate": "100.5"},
    ],
)
def test_a_profit_share_offer_takes_a_rate_and_nothing_else(fields: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        OfferCreate.model_validate({"term_years": 3, **fields})


def test_a_share_above_the_guidance_is_a_warning_not_a_refusal(
    session: Session, licensor_org: Organization
) -> None:
    def warnings_for(rate: str) -> list[str]:
        listing, _ = factories.published_listing(
            session,
            licensor_org,
            offers=[factories.offer_data(royalty_type="profit_share", royalty_rate=rate)],
        )
        return [warning.code for warning in guidance_warnings(listing)]

    # 30 % would be above the guidance for net sales (20 %), not for profit (40 %).
    assert warnings_for("30") == []
    assert warnings_for("40") == []
    assert warnings_for("40.5") == ["profit_share_above_guidance"]


def test_in_force_on_notice_and_its_reports_owe_the_share_of_profit(
    session: Session, profit_share: License, set_today: Any
) -> None:
    assert profit_share.status is LicenseStatus.active
    assert profit_share.terms["offer"]["royalty_type"] == "profit_share"
    set_today(date(2026, 9, 20))
    with pytest.raises(errors.ProfitRequired):
        file(session, profit_share, report_data(Q1, "800000"))

    data = report_data(Q1, "800000").model_copy(update={"profit": Decimal("120000.00")})
    report, owed = file(session, profit_share, data)

    assert report.profit == Decimal("120000.00")
    assert owed is not None
    # 25 % of the profit, whatever the sales.
    assert owed.amount == Decimal("30000.00")


def test_over_http_a_profit_share_report_needs_the_profit(
    client: TestClient, session: Session, licensor: Party, licensee: Party, set_today: Any
) -> None:
    license_ = license_for(
        session,
        licensor.organization,
        licensee.organization,
        royalty_type="profit_share",
        royalty_rate="25",
    )
    set_today(date(2026, 9, 20))
    path = f"/api/v1/licenses/{license_.id}/royalty-reports"
    body = {
        "period_start": Q1[0].isoformat(),
        "period_end": Q1[1].isoformat(),
        "net_sales": "800000.00",
        "currency": "CNY",
    }
    assert_problem(client.post(path, headers=licensee.headers, json=body), 422, "profit_required")
    negative = client.post(path, headers=licensee.headers, json=body | {"profit": "-1"})
    assert_problem(negative, 422, "validation_failed")
    # The licensor cannot file the licensee's report.
    assert_problem(
        client.post(path, headers=licensor.headers, json=body | {"profit": "1"}),
        403,
        "only_licensee_reports",
    )

    filed = client.post(path, headers=licensee.headers, json=body | {"profit": "120000.00"})

    assert filed.status_code == 201, filed.text
    assert filed.json()["profit"] == "120000.00"
    obligations = client.get(
        f"/api/v1/obligations?kind=royalty&license_id={license_.id}", headers=licensee.headers
    ).json()["items"]
    assert [item["amount"] for item in obligations] == ["30000.00"]


def test_over_http_a_profit_share_offer_without_a_rate_is_refused(
    client: TestClient, session: Session, licensor: Party
) -> None:
    listing = factories.draft_listing(session, licensor.organization, offers=[])
    response = client.post(
        f"/api/v1/listings/{listing.id}/offers",
        headers=licensor.headers,
        json={"royalty_type": "profit_share", "term_years": 3},
    )
    assert_problem(response, 422, "validation_failed")
    created = client.post(
        f"/api/v1/listings/{listing.id}/offers",
        headers=licensor.headers,
        json={"royalty_type": "profit_share", "royalty_rate": "25", "term_years": 3},
    )
    assert created.status_code == 201, created.text
    assert created.json()["royalty_type"] == "profit_share"
