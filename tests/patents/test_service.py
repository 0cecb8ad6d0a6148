"""Patent rules called directly: statutory term, annual-fee standing, force, encumbrances."""

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.pagination import PageParams
from marketplace.patents import service as patents
from marketplace.patents.errors import (
    EncumbranceNotFound,
    InvalidPatentUpdate,
    NotPatentOwnerKind,
    OpenLicenseInForce,
    PatentAlreadyRegistered,
    PatentNotFound,
)
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import (
    EncumbranceKind,
    FeeStatus,
    LegalStatus,
    Patent,
    PatentCreate,
    PatentEncumbrance,
    PatentEncumbranceCreate,
    PatentIpc,
    PatentUpdate,
)
from tests import factories

TODAY = date(2026, 6, 15)


def in_memory_patent(**fields: Any) -> Patent:
    """A patent that never touches the database, for the pure date rules."""
    values: dict[str, Any] = {
        "owner_id": 1,
        "application_number": "202010000001.0",
        "kind": PatentKind.invention,
        "title": "Thermal management of battery packs",
        "filing_date": date(2020, 3, 1),
        "grant_date": date(2022, 5, 10),
        "legal_status": LegalStatus.granted,
        "fee_paid_until": date(2027, 2, 28),
    }
    values.update(fields)
    return Patent(**values)


# Calendar arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 12, 31), 6, date(2026, 6, 30)),
        (date(2026, 11, 15), 3, date(2027, 2, 15)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_last_day_of_a_shorter_month(
    start: date, months: int, expected: date
) -> None:
    assert patents.add_months(start, months) == expected


def test_add_years_turns_29_february_into_28_february_in_a_common_year() -> None:
    assert patents.add_years(date(2020, 2, 29), 10) == date(2030, 2, 28)
    assert patents.add_years(date(2020, 2, 29), 20) == date(2040, 2, 29)


# Statutory term ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "filing_date", "expected_end"),
    [
        pytest.param(PatentKind.invention, date(2020, 3, 1), date(2040, 2, 29), id="invention-20y"),
        pytest.param(
            PatentKind.utility_model, date(2020, 3, 1), date(2030, 2, 28), id="utility-model-10y"
        ),
        pytest.param(
            PatentKind.design, date(2021, 5, 31), date(2031, 5, 30), id="design-before-2021-06-01"
        ),
        pytest.param(
            PatentKind.design, date(2021, 6, 1), date(2036, 5, 31), id="design-from-2021-06-01"
        ),
        # Filed on 29 February: the anniversary exists in a leap year; in a common year the
        # month's last day stands in for it (a period with no corresponding day ends on the
        # month's last day), and the term ends the day before.
        pytest.param(
            PatentKind.invention, date(2020, 2, 29), date(2040, 2, 28), id="29-feb-to-leap-year"
        ),
        pytest.param(
            PatentKind.utility_model,
            date(2020, 2, 29),
            date(2030, 2, 27),
            id="29-feb-to-common-year",
        ),
    ],
)
def test_term_end_date_is_the_day_before_the_anniversary_that_ends_the_term(
    kind: PatentKind, filing_date: date, expected_end: date
) -> None:
    assert patents.term_end_date(kind, filing_date) == expected_end


# Annual-fee standing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        pytest.param(date(2025, 12, 31), FeeStatus.paid, id="last-paid-day"),
        pytest.param(date(2026, 1, 1), FeeStatus.grace, id="first-day-due"),
        pytest.param(date(2026, 6, 30), FeeStatus.grace, id="last-day-of-6-month-grace"),
        pytest.param(date(2026, 7, 1), FeeStatus.arrears, id="after-grace"),
    ],
)
def test_fee_status_follows_the_paid_until_date_and_the_six_month_grace(
    today: date, expected: FeeStatus
) -> None:
    patent = in_memory_patent(fee_paid_until=date(2025, 12, 31))
    assert patents.fee_status(patent, today=today) is expected


@pytest.mark.parametrize(
    "legal_status", [LegalStatus.pending, LegalStatus.lapsed, LegalStatus.expired]
)
def test_fee_status_is_not_applicable_unless_granted(legal_status: LegalStatus) -> None:
    patent = in_memory_patent(legal_status=legal_status, fee_paid_until=date(2020, 1, 1))
    assert patents.fee_status(patent, today=TODAY) is FeeStatus.not_applicable


# In force ---------------------------------------------------------------------------------------


def test_granted_patent_within_term_with_fee_paid_is_in_force() -> None:
    assert patents.is_in_force(in_memory_patent(), today=TODAY)


def test_patent_in_the_fee_grace_period_is_still_in_force() -> None:
    patent = in_memory_patent(fee_paid_until=date(2026, 3, 31))
    assert patents.fee_status(patent, today=TODAY) is FeeStatus.grace
    assert patents.is_in_force(patent, today=TODAY)


def test_patent_with_fee_in_arrears_is_not_in_force() -> None:
    patent = in_memory_patent(fee_paid_until=date(2025, 11, 30))
    assert not patents.is_in_force(patent, today=TODAY)


def test_patent_is_in_force_on_its_last_term_day_and_not_the_day_after() -> None:
    patent = in_memory_patent(
        kind=PatentKind.utility_model,
        filing_date=date(2016, 7, 1),
        fee_paid_until=date(2027, 6, 30),
    )
    assert patents.is_in_force(patent, today=date(2026, 6, 30))
    assert not patents.is_in_force(patent, today=date(2026, 7, 1))


@pytest.mark.parametrize(
    "legal_status",
    [LegalStatus.pending, LegalStatus.lapsed, LegalStatus.invalidated, LegalStatus.expired],
)
def test_patent_not_granted_or_no_longer_valid_is_not_in_force(legal_status: LegalStatus) -> None:
    assert not patents.is_in_force(in_memory_patent(legal_status=legal_status), today=TODAY)


# Encumbrances ------------------------------------------------------------------------------------


def encumbrance(
    *, starts_on: date, ends_on: date | None = None, released_at: datetime | None = None
) -> PatentEncumbrance:
    return PatentEncumbrance(
        patent_id=1,
        kind=EncumbranceKind.exclusive_license,
        starts_on=starts_on,
        ends_on=ends_on,
        released_at=released_at,
    )


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(encumbrance(starts_on=TODAY), True, id="starts-today-open-ended"),
        pytest.param(encumbrance(starts_on=date(2026, 6, 16)), False, id="starts-tomorrow"),
        pytest.param(encumbrance(starts_on=date(2025, 1, 1), ends_on=TODAY), True, id="ends-today"),
        pytest.param(
            encumbrance(starts_on=date(2025, 1, 1), ends_on=date(2026, 6, 14)),
            False,
            id="ended-yesterday",
        ),
        pytest.param(
            encumbrance(starts_on=date(2025, 1, 1), released_at=datetime(2026, 6, 1, tzinfo=UTC)),
            False,
            id="released",
        ),
    ],
)
def test_encumbrance_in_force_between_start_and_end_unless_released(
    item: PatentEncumbrance, expected: bool
) -> None:
    assert patents.encumbrance_in_force(item, today=TODAY) is expected


# Registration and edits (database) -------------------------------------------------------------


def create_data(number: str, **fields: Any) -> PatentCreate:
    values: dict[str, Any] = {
        "application_number": number,
        "title": "Solid-state electrolyte",
        "filing_date": date(2020, 4, 1),
        "grant_date": date(2022, 9, 1),
        "legal_status": LegalStatus.granted,
        "fee_paid_until": date(2027, 3, 31),
        "ipc_codes": ["h01m10/0562", "G06F 16/33", "H01M 10/0562"],
    }
    values.update(fields)
    return PatentCreate.model_validate(values)


@pytest.mark.parametrize(
    ("type_digit", "kind"),
    [
        (1, PatentKind.invention),
        (2, PatentKind.utility_model),
        (3, PatentKind.design),
        (8, PatentKind.invention),
        (9, PatentKind.utility_model),
    ],
)
def test_register_patent_takes_the_kind_from_the_type_digit(
    session: Session, type_digit: int, kind: PatentKind
) -> None:
    org = factories.organization(session, kind=OrganizationKind.university)
    data = create_data(factories.application_number(type_digit=type_digit))
    patent = patents.register_patent(session=session, owner=org, data=data)
    assert patent.kind == kind


def test_register_patent_stores_ipc_codes_normalized_in_order(session: Session) -> None:
    org = factories.organization(session, kind=OrganizationKind.university)
    patent = patents.register_patent(
        session=session, owner=org, data=create_data(factories.application_number())
    )
    session.expire_all()
    stored = session.scalars(
        select(PatentIpc.code)
        .where(PatentIpc.patent_id == patent.id)
        .order_by(col(PatentIpc.position))
    ).all()
    assert stored == ["H01M 10/0562", "G06F 16/33"]
    assert patent.main_ipc == "H01M 10/0562"


def test_register_patent_refuses_a_bank(session: Session) -> None:
    bank = factories.organization(session, kind=OrganizationKind.bank)
    with pytest.raises(NotPatentOwnerKind):
        patents.register_patent(
            session=session, owner=bank, data=create_data(factories.application_number())
        )


def test_register_patent_refuses_a_number_registered_by_another_organization(
    session: Session,
) -> None:
    number = factories.application_number()
    first = factories.organization(session, kind=OrganizationKind.university)
    second = factories.organization(session)
    patents.register_patent(session=session, owner=first, data=create_data(number))
    with pytest.raises(PatentAlreadyRegistered):
        patents.register_patent(session=session, owner=second, data=create_data(number))


def test_get_owned_patent_hides_another_organizations_patent(session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    other = factories.organization(session)
    patent = factories.patent(session, owner)
    assert other.id is not None
    assert patent.id is not None
    with pytest.raises(PatentNotFound):
        patents.get_owned_patent(session=session, owner_id=other.id, patent_id=patent.id)


def test_list_patents_filters_by_ipc_prefix_at_group_level(session: Session) -> None:
    org = factories.organization(session, kind=OrganizationKind.university)
    battery = factories.patent(session, org, ipc_codes=["H01M 10/0525"])
    factories.patent(session, org, ipc_codes=["H01M 100/00"])
    assert org.id is not None
    items, _ = patents.list_patents(
        session=session, owner_id=org.id, params=PageParams(), ipc="H01M 10"
    )
    assert [item.id for item in items] == [battery.id]


def test_update_patent_refuses_a_null_title(session: Session) -> None:
    patent = factories.patent(session, factories.organization(session))
    with pytest.raises(InvalidPatentUpdate):
        patents.update_patent(
            session=session, patent=patent, changes=PatentUpdate.model_validate({"title": None})
        )


def test_update_patent_refuses_null_inventors(session: Session) -> None:
    patent = factories.patent(session, factories.organization(session))
    with pytest.raises(InvalidPatentUpdate, match="inventors"):
        patents.update_patent(
            session=session,
            patent=patent,
            changes=PatentUpdate.model_validate({"inventors": None}),
        )
    assert patent.inventors == ["Li Wei", "Zhang Min"]


def test_update_patent_revalidates_dates_against_the_stored_values(session: Session) -> None:
    patent = factories.patent(session, factories.organization(session))
    changes = PatentUpdate(grant_date=date(2019, 1, 1))
    with pytest.raises(InvalidPatentUpdate, match="before filing_date"):
        patents.update_patent(session=session, patent=patent, changes=changes)


def test_update_patent_replaces_ipc_codes(session: Session) -> None:
    patent = factories.patent(session, factories.organization(session))
    patents.update_patent(
        session=session,
        patent=patent,
        changes=PatentUpdate(ipc_codes=["g06n3/08", "H01M 10/0525"]),
    )
    session.expire_all()
    assert patent.ipc_codes == ["G06N 3/08", "H01M 10/0525"]
    assert patent.main_ipc == "G06N 3/08"


def test_exclusive_license_refused_while_an_open_license_is_in_force(session: Session) -> None:
    listing, _ = factories.published_listing(session)
    patent = listing.patents[0]
    data = PatentEncumbranceCreate(kind=EncumbranceKind.sole_license, starts_on=TODAY)
    with pytest.raises(OpenLicenseInForce):
        patents.add_encumbrance(session=session, patent=patent, data=data)


def test_non_exclusive_license_allowed_while_an_open_license_is_in_force(
    session: Session,
) -> None:
    listing, _ = factories.published_listing(session)
    patent = listing.patents[0]
    data = PatentEncumbranceCreate(kind=EncumbranceKind.non_exclusive_license, starts_on=TODAY)
    added = patents.add_encumbrance(session=session, patent=patent, data=data)
    assert [item.id for item in patent.encumbrances] == [added.id]


def test_release_keeps_the_encumbrance_with_its_release_time(
    session: Session, fixed_clock: datetime
) -> None:
    patent = factories.patent(session, factories.organization(session))
    data = PatentEncumbranceCreate(kind=EncumbranceKind.exclusive_license, starts_on=TODAY)
    added = patents.add_encumbrance(session=session, patent=patent, data=data)
    patents.release_encumbrance(session=session, encumbrance=added)
    session.expire_all()
    stored = session.get(PatentEncumbrance, added.id)
    assert stored is not None
    assert stored.released_at == fixed_clock
    assert not patents.encumbrances_in_force(patent, patents.EXCLUSIVE_KINDS)


def test_get_encumbrance_refuses_an_encumbrance_of_another_patent(session: Session) -> None:
    org = factories.organization(session)
    first, second = factories.patent(session, org), factories.patent(session, org)
    data = PatentEncumbranceCreate(kind=EncumbranceKind.court_preservation, starts_on=TODAY)
    added = patents.add_encumbrance(session=session, patent=first, data=data)
    assert added.id is not None
    with pytest.raises(EncumbranceNotFound):
        patents.get_encumbrance(session=session, patent=second, encumbrance_id=added.id)
