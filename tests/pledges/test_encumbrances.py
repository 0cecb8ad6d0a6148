"""The bank's "is patent X pledgeable today?" check, ``POST /api/v1/encumbrances/check``: who may
ask, what a batch may hold, every fact reported for a patent, every reason it cannot be pledged,
and a query count that does not grow with the batch."""

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts import service as accounts
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License
from marketplace.listings.models import Listing
from marketplace.patents import service as patents
from marketplace.patents.models import (
    EncumbranceKind,
    LegalStatus,
    Patent,
    PatentEncumbranceCreate,
)
from marketplace.pledges.encumbrances import check_encumbrances
from marketplace.pledges.models import EncumbranceResult, PledgeStatus
from marketplace.workflows import acceptance
from tests import factories
from tests.conftest import TODAY
from tests.factories import NewParty, Party
from tests.pledges.conftest import VALUATION, MakePledge, make_pledge
from tests.problems import assert_problem
from tests.statements import counting_statements

CHECK = "/api/v1/encumbrances/check"
SetToday = Callable[[date], None]

# An invention filed 2020-03-01 (the factories' default) is in force until 2040-02-29.
INVENTION_TERM_END = date(2040, 2, 29)


def post_check(client: TestClient, headers: dict[str, str], numbers: list[str]) -> Any:
    response = client.post(CHECK, headers=headers, json={"application_numbers": numbers})
    assert response.status_code == 200, response.text
    return response.json()


def results_of(client: TestClient, headers: dict[str, str], numbers: list[str]) -> Any:
    return post_check(client, headers, numbers)["results"]


def check_one(session: Session, patent: Patent, *, today: date = TODAY) -> EncumbranceResult:
    """The service on one patent, read back from the database as a request would."""
    session.flush()
    session.expire_all()
    (result,) = check_encumbrances(
        session=session, application_numbers=[patent.application_number], today=today
    )
    return result


def encumber(
    session: Session,
    patent: Patent,
    kind: EncumbranceKind,
    *,
    starts_on: date = date(2026, 1, 1),
    ends_on: date | None = None,
) -> None:
    patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(kind=kind, starts_on=starts_on, ends_on=ends_on),
    )


def license_under(session: Session, listing: Listing) -> License:
    """A fresh enterprise takes a license under the listing's first offer, paying any upfront
    fee: the license is in force."""
    licensee = factories.organization(session, kind=OrganizationKind.enterprise)
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=listing.offers[0].id or 0,
        licensee=licensee,
        user=None,
        idempotency_key=str(uuid.uuid4()),
    ).license
    return factories.pay_upfront(session, license_)


# Who may ask -------------------------------------------------------------------------------------


def test_a_bank_user_may_check(client: TestClient, session: Session, bank: Party) -> None:
    patent = factories.patent(session, factories.organization(session))

    body = post_check(client, bank.headers, [patent.application_number])

    assert body["results"][0]["known"] is True


def test_a_bank_machine_with_client_credentials_may_check(
    client: TestClient, session: Session, bank: Party
) -> None:
    patent = factories.patent(session, factories.organization(session))
    api_client, secret = accounts.create_api_client(session=session, creator=bank.user, name="risk")
    token = client.post(
        "/api/v1/auth/token",
        auth=(api_client.client_id, secret),
        data={"grant_type": "client_credentials"},
    )
    assert token.status_code == 200, token.text
    machine = {"Authorization": f"Bearer {token.json()['access_token']}"}

    body = post_check(client, machine, [patent.application_number])

    assert body["results"][0]["known"] is True


@pytest.mark.parametrize(
    "kind",
    [OrganizationKind.university, OrganizationKind.enterprise, OrganizationKind.platform],
)
def test_organizations_other_than_banks_lack_the_encumbrances_scope(
    client: TestClient, new_party: NewParty, kind: OrganizationKind
) -> None:
    caller = new_party(kind=kind)

    response = client.post(
        CHECK, headers=caller.headers, json={"application_numbers": ["202010100002.3"]}
    )

    assert_problem(response, 403, "insufficient_scope")


def test_a_bank_token_narrowed_to_pledges_cannot_check(
    client: TestClient, new_party: NewParty
) -> None:
    narrowed = new_party(kind=OrganizationKind.bank, scopes=frozenset({"pledges"}))

    response = client.post(
        CHECK, headers=narrowed.headers, json={"application_numbers": ["202010100002.3"]}
    )

    assert_problem(response, 403, "insufficient_scope")


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "not_authenticated"), ({"Authorization": "Bearer not-a-token"}, "invalid_token")],
)
def test_a_missing_or_bad_token_is_401(
    client: TestClient, headers: dict[str, str], code: str
) -> None:
    response = client.post(CHECK, headers=headers, json={"application_numbers": ["x"]})

    assert_problem(response, 401, code)
    assert response.headers["www-authenticate"].startswith("Bearer")


# What a batch may hold ---------------------------------------------------------------------------


def test_results_follow_the_request_order_one_per_number_duplicates_included(
    client: TestClient, session: Session, bank: Party
) -> None:
    owner = factories.organization(session)
    first, second = factories.patent(session, owner), factories.patent(session, owner)
    unknown = factories.application_number()
    numbers = [
        second.application_number,
        unknown,
        first.application_number,
        "rubbish",
        second.application_number,
    ]

    results = results_of(client, bank.headers, numbers)

    assert [r["application_number"] for r in results] == numbers
    assert [r["known"] for r in results] == [True, False, True, False, True]
    assert results[0] == results[4]


@pytest.mark.parametrize(
    "spell",
    [
        lambda number: "CN" + number,
        lambda number: "cn " + number,
        lambda number: "ZL" + number,
        lambda number: number.replace(".", ""),
        lambda number: f"CN {number[:4]} {number[4]} {number[5:]}",
        lambda number: number[:4] + "\u3000" + number[4:],
    ],
    ids=["CN", "lowercase cn and space", "ZL", "no dot", "spaced", "ideographic space"],
)
def test_any_accepted_spelling_is_answered_under_the_canonical_number(
    client: TestClient, session: Session, bank: Party, spell: Callable[[str], str]
) -> None:
    patent = factories.patent(session, factories.organization(session))

    (result,) = results_of(client, bank.headers, [spell(patent.application_number)])

    assert result["application_number"] == patent.application_number
    assert result["known"] is True
    assert result["owner_id"] == patent.owner_id


def test_an_unknown_number_is_reported_as_unknown_not_as_an_error(
    client: TestClient, bank: Party
) -> None:
    number = factories.application_number()

    (result,) = results_of(client, bank.headers, ["CN" + number.replace(".", "")])

    assert result["application_number"] == number
    assert result["known"] is False
    assert result["error"] is None
    assert result["pledgeable"] is False
    assert result["reasons"] == []
    assert result["owner_id"] is None
    assert result["active_pledge"] is None


def test_malformed_numbers_carry_an_error_and_the_batch_still_succeeds(
    client: TestClient, session: Session, bank: Party
) -> None:
    patent = factories.patent(session, factories.organization(session))
    digits = patent.application_number[:12]
    wrong_check = "0" if patent.application_number[-1] != "0" else "1"
    malformed = [f"{digits}.{wrong_check}", "not a number", "199910000001.1", "9" * 40]

    results = results_of(client, bank.headers, [*malformed, patent.application_number])

    for raw, result in zip(malformed, results[:-1], strict=True):
        assert result["application_number"] == raw
        assert result["known"] is False
        assert result["error"]
        assert result["pledgeable"] is False
    # The message says which check character was expected.
    assert f"expected '{patent.application_number[-1]}'" in results[0]["error"]
    assert results[-1]["known"] is True
    assert results[-1]["error"] is None


def test_a_thousand_numbers_are_checked_in_one_call(
    client: TestClient, session: Session, bank: Party
) -> None:
    patent = factories.patent(session, factories.organization(session))
    unknown = [factories.application_number() for _ in range(499)]
    numbers = [*unknown, *unknown, patent.application_number, "rubbish"]
    assert len(numbers) == 1000

    results = results_of(client, bank.headers, numbers)

    assert len(results) == 1000
    assert [r["application_number"] for r in results] == numbers
    assert results[998]["known"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"application_numbers": ["202010100002.3"] * 1001},
        {"application_numbers": []},
        {"application_numbers": ["1" * 41]},
        {"application_numbers": "202010100002.3"},
        {},
        {"application_numbers": ["202010100002.3"], "as_of": "2026-01-01"},
    ],
    ids=["1001 numbers", "empty", "41 characters", "not a list", "missing", "unknown field"],
)
def test_a_bad_batch_is_refused_whole(
    client: TestClient, bank: Party, body: dict[str, Any]
) -> None:
    response = client.post(CHECK, headers=bank.headers, json=body)

    assert_problem(response, 422, "validation_failed")


def test_the_check_is_dated_by_the_business_clock(
    client: TestClient, session: Session, bank: Party, set_today: SetToday
) -> None:
    patent = factories.patent(session, factories.organization(session))

    today = post_check(client, bank.headers, [patent.application_number])
    set_today(date(2030, 1, 2))
    later = post_check(client, bank.headers, [patent.application_number])

    assert today["checked_on"] == TODAY.isoformat()
    assert today["results"][0]["remaining_term_days"] == (INVENTION_TERM_END - TODAY).days
    assert later["checked_on"] == "2030-01-02"
    assert (
        later["results"][0]["remaining_term_days"] == (INVENTION_TERM_END - date(2030, 1, 2)).days
    )


# What is reported for a known patent -------------------------------------------------------------


def test_a_known_patent_reports_its_register_facts(
    client: TestClient, session: Session, bank: Party
) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    patent = factories.patent(
        session, owner, fee_paid_until=date(2026, 12, 31), ipc_codes=["g06f16/33", "H01M 10/0525"]
    )

    (result,) = results_of(client, bank.headers, [patent.application_number])

    assert result == {
        "application_number": patent.application_number,
        "known": True,
        "error": None,
        "owner_id": owner.id,
        "kind": "invention",
        "legal_status": "granted",
        "in_force": True,
        "fee_status": "paid",
        "fee_paid_until": "2026-12-31",
        "next_fee_due_date": "2027-01-01",
        "term_end_date": "2040-02-29",
        "remaining_term_days": 5007,
        "main_ipc": "G06F 16/33",
        "active_pledge": None,
        "open_license": None,
        "active_license_count": 0,
        "exclusive_license": False,
        "pledgeable": True,
        "reasons": [],
    }


@pytest.mark.parametrize(
    ("type_digit", "filing_date", "kind", "term_end"),
    [
        (1, date(2020, 3, 1), "invention", date(2040, 2, 29)),
        (8, date(2019, 7, 9), "invention", date(2039, 7, 8)),
        (2, date(2020, 3, 1), "utility_model", date(2030, 2, 28)),
        (3, date(2021, 6, 1), "design", date(2036, 5, 31)),
        (3, date(2021, 5, 31), "design", date(2031, 5, 30)),
    ],
    ids=["invention", "PCT invention", "utility model", "design, 15 years", "design, 10 years"],
)
def test_the_term_follows_the_kind_and_the_filing_date(
    session: Session,
    type_digit: int,
    filing_date: date,
    kind: str,
    term_end: date,
) -> None:
    patent = factories.patent(
        session,
        factories.organization(session),
        type_digit=type_digit,
        filing_date=filing_date,
        grant_date=filing_date + timedelta(days=400),
    )

    result = check_one(session, patent)

    assert result.kind == kind
    assert result.term_end_date == term_end
    assert result.remaining_term_days == (term_end - TODAY).days


@pytest.mark.parametrize(
    ("paid_until", "fee_status", "in_force", "reasons"),
    [
        (TODAY, "paid", True, []),
        (TODAY - timedelta(days=1), "grace", True, ["annual_fee_in_arrears"]),
        (date(2025, 12, 15), "grace", True, ["annual_fee_in_arrears"]),
        (date(2025, 12, 14), "arrears", False, ["patent_not_in_force"]),
    ],
    ids=["paid through today", "just fell due", "last day of grace", "beyond grace"],
)
def test_the_annual_fee_standing(
    session: Session,
    paid_until: date,
    fee_status: str,
    in_force: bool,
    reasons: list[str],
) -> None:
    patent = factories.patent(session, factories.organization(session), fee_paid_until=paid_until)

    result = check_one(session, patent)

    assert result.fee_status == fee_status
    assert result.fee_paid_until == paid_until
    assert result.next_fee_due_date == paid_until + timedelta(days=1)
    assert result.in_force is in_force
    assert result.reasons == reasons
    assert result.pledgeable is (not reasons)


def test_a_pending_application_is_not_granted(session: Session) -> None:
    patent = factories.patent(
        session, factories.organization(session), legal_status=LegalStatus.pending
    )

    result = check_one(session, patent)

    assert result.known is True
    assert result.legal_status == "pending"
    assert result.in_force is False
    assert result.fee_status == "not_applicable"
    assert result.fee_paid_until is None
    assert result.next_fee_due_date is None
    assert result.pledgeable is False
    assert result.reasons == ["patent_not_granted"]


@pytest.mark.parametrize(
    "status", [LegalStatus.lapsed, LegalStatus.invalidated, LegalStatus.expired]
)
def test_a_patent_that_lost_its_validity_is_not_in_force(
    session: Session, status: LegalStatus
) -> None:
    patent = factories.patent(session, factories.organization(session), legal_status=status)

    result = check_one(session, patent)

    assert result.legal_status == status.value
    assert result.in_force is False
    assert result.fee_status == "not_applicable"
    assert result.next_fee_due_date is None
    assert result.reasons == ["patent_not_in_force"]


def test_a_patent_past_its_term_is_not_in_force(session: Session) -> None:
    patent = factories.patent(
        session,
        factories.organization(session),
        filing_date=date(2005, 3, 1),
        grant_date=date(2008, 1, 1),
    )

    result = check_one(session, patent)

    assert result.term_end_date == date(2025, 2, 28)
    assert result.remaining_term_days == 0
    assert result.in_force is False
    assert result.reasons == ["patent_not_in_force"]


# The active pledge -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "confirmed"),
    [
        (PledgeStatus.applied, False),
        (PledgeStatus.applied, True),
        (PledgeStatus.refused, True),
        (PledgeStatus.cancelled, False),
    ],
    ids=["applied", "confirmed", "refused", "withdrawn before registration"],
)
def test_a_pledge_not_registered_encumbers_nothing(
    session: Session, owner: Party, pledge_of: MakePledge, status: PledgeStatus, confirmed: bool
) -> None:
    patent = factories.patent(session, owner.organization)
    pledge_of(patents=[patent], status=status, confirmed=confirmed)

    result = check_one(session, patent)

    assert result.active_pledge is None
    assert result.pledgeable is True
    assert result.reasons == []


def test_a_registered_pledge_is_shown_to_any_bank_with_its_register_fields_only(
    client: TestClient,
    session: Session,
    bank: Party,
    other_bank: Party,
    owner: Party,
    pledge_of: MakePledge,
) -> None:
    patent = factories.patent(session, owner.organization)
    pledge = pledge_of(patents=[patent], debtor_name="Confidential Debtor Ltd")

    response = client.post(
        CHECK, headers=other_bank.headers, json={"application_numbers": [patent.application_number]}
    )

    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["active_pledge"] == {
        "pledge_id": pledge.id,
        "registration_number": pledge.registration_number,
        "registered_date": TODAY.isoformat(),
        "pledgor_id": owner.id,
        "pledgee_id": bank.id,
        "pledgee_name": bank.organization.name,
    }
    assert pledge.registration_number
    assert result["pledgeable"] is False
    assert result["reasons"] == ["patent_already_pledged"]
    for private in ("5000000", "Confidential Debtor Ltd", VALUATION["valuer"], "2029-06-30"):
        assert private not in response.text


def test_an_amended_pledge_still_encumbers_the_patent(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    patent = factories.patent(session, owner.organization)
    pledge = pledge_of(patents=[patent], status=PledgeStatus.changed)

    result = check_one(session, patent)

    assert result.active_pledge is not None
    assert result.active_pledge.pledge_id == pledge.id
    assert result.reasons == ["patent_already_pledged"]


def test_a_cancelled_pledge_frees_every_patent_it_covered(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    covered = [factories.patent(session, owner.organization) for _ in range(2)]
    pledge_of(patents=covered, status=PledgeStatus.cancelled)
    session.expire_all()

    results = check_encumbrances(
        session=session, application_numbers=[p.application_number for p in covered], today=TODAY
    )

    assert [r.active_pledge for r in results] == [None, None]
    assert [r.pledgeable for r in results] == [True, True]


def test_a_pledge_on_a_bundle_is_reported_for_each_of_its_patents(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    covered = [factories.patent(session, owner.organization) for _ in range(2)]
    pledge = pledge_of(patents=covered)
    session.expire_all()

    results = check_encumbrances(
        session=session, application_numbers=[p.application_number for p in covered], today=TODAY
    )

    assert [r.active_pledge.pledge_id if r.active_pledge else None for r in results] == [
        pledge.id,
        pledge.id,
    ]


# Open licenses and licenses ----------------------------------------------------------------------


def test_a_published_declaration_is_reported_and_does_not_block_a_pledge(
    client: TestClient, session: Session, bank: Party
) -> None:
    listing, _ = factories.published_listing(session)
    (patent,) = listing.patents

    (result,) = results_of(client, bank.headers, [patent.application_number])

    assert result["open_license"] == {
        "listing_id": listing.id,
        "announcement_number": listing.announcement_number,
        "announcement_date": TODAY.isoformat(),
    }
    assert listing.announcement_number
    assert result["pledgeable"] is True
    assert result["reasons"] == []


def test_a_draft_declaration_is_no_open_license(session: Session) -> None:
    listing = factories.draft_listing(session, factories.organization(session))

    result = check_one(session, listing.patents[0])

    assert result.open_license is None


def test_a_withdrawn_declaration_is_no_longer_reported_but_its_licenses_still_count(
    session: Session,
) -> None:
    listing, _ = factories.published_listing(session)
    license_under(session, listing)
    factories.withdraw(session, listing)

    result = check_one(session, listing.patents[0])

    assert result.open_license is None
    # Licenses already granted survive the withdrawal (Patent Law art. 50).
    assert result.active_license_count == 1


def test_every_license_under_a_bundle_counts_for_each_of_its_patents(session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    bundle = [factories.patent(session, owner) for _ in range(2)]
    bystander = factories.patent(session, owner)
    listing, _ = factories.published_listing(session, owner, patent_list=bundle)
    factories.published_listing(session, owner, patent_list=[bystander])
    for _ in range(3):
        license_under(session, listing)
    session.expire_all()

    results = check_encumbrances(
        session=session,
        application_numbers=[p.application_number for p in [*bundle, bystander]],
        today=TODAY,
    )

    assert [r.active_license_count for r in results] == [3, 3, 0]
    # Platform licenses are always non-exclusive.
    assert [r.exclusive_license for r in results] == [False, False, False]


def test_a_terminated_license_no_longer_counts(session: Session) -> None:
    listing, _ = factories.published_listing(session)
    kept = license_under(session, listing)
    ended = license_under(session, listing)
    licensing.terminate_license(
        session=session, license_=ended, organization_id=ended.licensee_id, reason="switched"
    )

    result = check_one(session, listing.patents[0])

    assert kept.status == "active"
    assert result.active_license_count == 1


def test_a_license_waiting_for_its_upfront_fee_does_not_count_until_it_is_paid(
    session: Session,
) -> None:
    """Notice without the payment the declaration asks for is no license yet (Patent Law
    art. 51): not counted until the licensor confirms the fee."""
    listing, offer = factories.published_listing(session)
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=factories.organization(session, kind=OrganizationKind.enterprise),
        user=None,
        idempotency_key=str(uuid.uuid4()),
    ).license
    assert license_.status == "pending_payment"
    assert check_one(session, listing.patents[0]).active_license_count == 0

    factories.pay_upfront(session, license_)

    assert check_one(session, listing.patents[0]).active_license_count == 1


def test_a_license_whose_term_is_over_no_longer_counts(session: Session) -> None:
    listing, _ = factories.published_listing(session)
    license_ = license_under(session, listing)
    patent = listing.patents[0]

    on_last_day = check_one(session, patent, today=license_.expires_on)
    day_after = check_one(session, patent, today=license_.expires_on + timedelta(days=1))

    assert on_last_day.active_license_count == 1
    assert day_after.active_license_count == 0


# Restrictions ------------------------------------------------------------------------------------

YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)


@pytest.mark.parametrize(
    ("kind", "starts_on", "ends_on", "exclusive", "reasons"),
    [
        # An exclusive license in force is shown, but is no ground for refusing a pledge (2021
        # pledge registration measures).
        (EncumbranceKind.exclusive_license, YESTERDAY, None, True, []),
        (EncumbranceKind.sole_license, YESTERDAY, None, True, []),
        (EncumbranceKind.exclusive_license, YESTERDAY, TODAY, True, []),
        (EncumbranceKind.exclusive_license, date(2024, 1, 1), YESTERDAY, False, []),
        (EncumbranceKind.exclusive_license, TOMORROW, None, False, []),
        (EncumbranceKind.non_exclusive_license, YESTERDAY, None, False, []),
        (EncumbranceKind.court_preservation, YESTERDAY, None, False, ["patent_suspended"]),
        (EncumbranceKind.ownership_dispute, YESTERDAY, None, False, ["patent_suspended"]),
        (EncumbranceKind.ownership_dispute, date(2024, 1, 1), YESTERDAY, False, []),
        (EncumbranceKind.invalidation_request, YESTERDAY, None, False, ["invalidation_pending"]),
        (EncumbranceKind.invalidation_request, date(2024, 1, 1), YESTERDAY, False, []),
    ],
    ids=[
        "exclusive",
        "sole",
        "exclusive, last day",
        "exclusive, expired",
        "exclusive, not yet started",
        "non-exclusive",
        "court preservation",
        "ownership dispute",
        "dispute settled",
        "invalidation pending",
        "invalidation decided",
    ],
)
def test_restrictions_in_force_block_a_pledge(
    session: Session,
    kind: EncumbranceKind,
    starts_on: date,
    ends_on: date | None,
    exclusive: bool,
    reasons: list[str],
) -> None:
    patent = factories.patent(session, factories.organization(session))
    encumber(session, patent, kind, starts_on=starts_on, ends_on=ends_on)

    result = check_one(session, patent)

    assert result.exclusive_license is exclusive
    assert result.reasons == reasons
    assert result.pledgeable is (not reasons)


def test_a_released_exclusive_license_no_longer_counts(session: Session) -> None:
    patent = factories.patent(session, factories.organization(session))
    encumber(session, patent, EncumbranceKind.exclusive_license)
    patents.release_encumbrance(session=session, encumbrance=patent.encumbrances[0])

    result = check_one(session, patent)

    assert result.exclusive_license is False
    assert result.pledgeable is True


def test_every_blocking_condition_is_reported_once(
    session: Session, owner: Party, pledge_of: MakePledge
) -> None:
    patent = factories.patent(session, owner.organization, fee_paid_until=date(2026, 8, 31))
    pledge_of(patents=[patent])
    for kind in (
        EncumbranceKind.exclusive_license,
        EncumbranceKind.sole_license,
        EncumbranceKind.court_preservation,
    ):
        encumber(session, patent, kind)

    # The fee fell due on 2026-09-01 and is still within its grace period.
    result = check_one(session, patent, today=date(2026, 10, 1))

    assert sorted(result.reasons) == [
        "annual_fee_in_arrears",
        "patent_already_pledged",
        "patent_suspended",
    ]
    assert result.pledgeable is False
    assert result.exclusive_license is True


# Cost --------------------------------------------------------------------------------------------


def encumbered_patents(session: Session, count: int, *, bank: Organization) -> list[str]:
    """``count`` patents in groups of twenty; the first ten of each group hold one pledged patent,
    two under a licensed declaration, one exclusively licensed and one under court preservation,
    so that a batch of ten already meets every kind of encumbrance."""
    owner = factories.organization(session, kind=OrganizationKind.university)
    licensee = factories.organization(session, kind=OrganizationKind.enterprise)
    numbers: list[str] = []
    for _ in range(count // 20):
        group = [factories.patent(session, owner) for _ in range(10)]
        # Plain patents without IPC symbols: cheaper to build, and they cost the check the same.
        group += [factories.patent(session, owner, ipc_codes=[]) for _ in range(10)]
        make_pledge(session, pledgee=bank, pledgor=owner, patents=[group[0]])
        _, offer = factories.published_listing(
            session,
            owner,
            patent_list=group[1:3],
            offers=[factories.offer_data(royalty_type="running", royalty_rate="3.5")],
        )
        acceptance.accept_offer(
            session=session,
            offer_id=offer.id or 0,
            licensee=licensee,
            user=None,
            idempotency_key=str(uuid.uuid4()),
        )
        encumber(session, group[3], EncumbranceKind.exclusive_license)
        encumber(session, group[4], EncumbranceKind.court_preservation)
        numbers += [patent.application_number for patent in group]
    return numbers


def test_the_number_of_statements_does_not_grow_with_the_batch(
    client: TestClient, session: Session, bank: Party
) -> None:
    # Past 500 patents, where relationship loading in batches would split.
    numbers = encumbered_patents(session, 520, bank=bank.organization)
    extras = [factories.application_number(), "rubbish"]
    counts: dict[int, int] = {}
    for size in (10, 300, 520):
        # A request starts from an empty session, as it does in production.
        session.commit()
        session.expunge_all()
        with counting_statements(session) as statements:
            results = results_of(client, bank.headers, [*numbers[:size], *extras])
        groups = max(1, size // 20)
        assert len(results) == size + 2
        assert sum(r["active_pledge"] is not None for r in results) == groups
        assert sum(r["open_license"] is not None for r in results) == groups * 2
        assert sum(r["active_license_count"] for r in results) == groups * 2
        assert sum(r["exclusive_license"] for r in results) == groups
        assert sum("patent_suspended" in r["reasons"] for r in results) == groups
        counts[size] = len(statements)

    assert counts[10] == counts[300] == counts[520], counts
