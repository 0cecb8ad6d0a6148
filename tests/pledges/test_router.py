"""The pledge API over HTTP: the joint application and every refusal code, confirmation,
registration and refusal by the platform, amendments, cancellation, the pledgee's consent to open
licensing, and who sees what of a pledge (the public register versus the parties)."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from marketplace.accounts import service as accounts
from marketplace.accounts.models import OrganizationKind
from marketplace.config import get_settings
from marketplace.params import MAX_ID
from marketplace.patents import service as patents
from marketplace.patents.models import (
    CoOwner,
    EncumbranceKind,
    LegalStatus,
    Patent,
    PatentEncumbranceCreate,
)
from marketplace.pledges import service as pledges
from marketplace.pledges.models import CancellationReason, Pledge, PledgeStatus
from tests import factories
from tests.conftest import TODAY
from tests.factories import NewParty, Party, SetToday
from tests.pledges.conftest import MakePledge, application_body, pledge_count
from tests.problems import assert_problem

PLEDGES = "/api/v1/pledges"
# What the public register never shows of another bank's pledge.
PRIVATE_FIELDS = (
    "debtor_name",
    "secured_amount",
    "currency",
    "debt_start_date",
    "debt_end_date",
    "guarantee_scope",
    "valuation",
    "pledgor_confirmed_at",
    "refusal_reasons",
    "cancellation_reason",
    "history",
    "consents",
    "created_at",
)


def at(pledge: Pledge | int, action: str = "") -> str:
    pledge_id = pledge if isinstance(pledge, int) else pledge.id
    return f"{PLEDGES}/{pledge_id}" + (f"/{action}" if action else "")


def reason_codes(body: dict[str, Any]) -> list[str]:
    return [reason["code"] for reason in body["reasons"]]


def active_pledge_of(session: Session, patent: Patent) -> int | None:
    """What the database holds, not the session's copy the request may have changed."""
    return session.scalar(select(Patent.active_pledge_id).where(Patent.id == patent.id))


def status_of(client: TestClient, pledge: Pledge, party: Party) -> str:
    response = client.get(at(pledge), headers=party.headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def listed_ids(client: TestClient, party: Party, **params: Any) -> list[int]:
    response = client.get(PLEDGES, headers=party.headers, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def newest_first(*pledges_: Pledge) -> list[int]:
    """The order of every list: newest first."""
    return sorted((pledge.id for pledge in pledges_ if pledge.id is not None), reverse=True)


def encumber(session: Session, patent: Patent, kind: EncumbranceKind) -> Patent:
    patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(kind=kind, starts_on=TODAY - timedelta(days=30)),
    )
    return patent


@pytest.fixture
def apply(client: TestClient, bank: Party, owner: Party) -> Callable[..., httpx.Response]:
    """``apply(patents, party=bank, pledgor=owner, **body fields)``: POST the application."""

    def post(
        patents_: list[Patent], party: Party | None = None, **overrides: Any
    ) -> httpx.Response:
        body = application_body(overrides.pop("pledgor_id", owner.id), patents_, **overrides)
        response: httpx.Response = client.post(PLEDGES, headers=(party or bank).headers, json=body)
        return response

    return post


Apply = Callable[..., httpx.Response]


@pytest.fixture
def machine(client: TestClient, session: Session, bank: Party) -> Party:
    """The bank signed in as a machine: a client-credentials token of its API client."""
    created, secret = accounts.create_api_client(session=session, creator=bank.user, name="loans")
    issued = client.post(
        "/api/v1/auth/token",
        auth=(created.client_id, secret),
        data={"grant_type": "client_credentials"},
    )
    assert issued.status_code == 200, issued.text
    return Party(
        bank.user,
        bank.organization,
        {"Authorization": f"Bearer {issued.json()['access_token']}"},
    )


# Application -----------------------------------------------------------------------------------


def test_a_verified_bank_applies_and_sees_its_full_application(
    client: TestClient, session: Session, bank: Party, owner: Party, apply: Apply
) -> None:
    patent = factories.patent(session, owner.organization, ipc_codes=["H01M 10/0525"])
    response = apply([patent])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "applied"
    assert body["visibility"] == "full"
    assert (body["pledgee_id"], body["pledgor_id"]) == (bank.id, owner.id)
    assert (body["pledgee_name"], body["pledgor_name"]) == (
        bank.organization.name,
        owner.organization.name,
    )
    assert body["patents"] == [
        {
            "id": patent.id,
            "application_number": patent.application_number,
            "title": patent.title,
            "main_ipc": "H01M 10/0525",
            "grant_date": "2022-05-10",
        }
    ]
    # Money leaves the API as strings at the stored scale, whatever the caller wrote.
    assert (body["secured_amount"], body["currency"]) == ("5000000.00", "CNY")
    assert (body["debt_start_date"], body["debt_end_date"]) == ("2026-07-01", "2029-06-30")
    assert body["debtor_name"] == "Hangzhou Battery Works"
    assert body["valuation"] == {
        "amount": "8000000.00",
        "method": "income",
        "valuer": "Zhejiang Assets Appraisal Co.",
        "valuation_date": "2026-06-10",
        "report_ref": "ZA-2026-118",
    }
    assert body["registration_number"] is None
    assert body["registered_date"] is None
    assert body["pledgor_confirmed_at"] is None
    assert [(h["status"], h["actor_organization_id"]) for h in body["history"]] == [
        ("applied", bank.id)
    ]
    stored = client.get(at(body["id"]), headers=bank.headers).json()
    assert stored == body


def test_a_bank_applies_with_a_client_credentials_token(
    session: Session, bank: Party, owner: Party, apply: Apply, machine: Party
) -> None:
    response = apply([factories.patent(session, owner.organization)], party=machine)
    assert response.status_code == 201, response.text
    assert response.json()["pledgee_id"] == bank.id
    assert response.json()["status"] == "applied"


def test_application_numbers_are_accepted_in_any_spelling(
    client: TestClient, session: Session, bank: Party, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    digits = patent.application_number.replace(".", "")
    body = application_body(owner.id, [], application_numbers=[f"CN {digits}"])
    response = client.post(PLEDGES, headers=bank.headers, json=body)
    assert response.status_code == 201, response.text
    assert [p["id"] for p in response.json()["patents"]] == [patent.id]


def test_an_application_without_valuation_has_none(
    session: Session, owner: Party, apply: Apply
) -> None:
    response = apply([factories.patent(session, owner.organization)], valuation=None)
    assert response.status_code == 201, response.text
    assert response.json()["valuation"] is None


@dataclass(frozen=True)
class Scene:
    """What a refusal case may build on."""

    session: Session
    owner: Party
    new_party: NewParty
    pledge_of: MakePledge
    set_today: SetToday

    def patent(self, **fields: Any) -> Patent:
        return factories.patent(self.session, self.owner.organization, **fields)


Arrange = Callable[[Scene], tuple[Patent, dict[str, Any]]]


def _foreign(scene: Scene) -> tuple[Patent, dict[str, Any]]:
    stranger = scene.new_party(kind=OrganizationKind.enterprise)
    return factories.patent(scene.session, stranger.organization), {}


def _status(legal_status: LegalStatus) -> Arrange:
    return lambda scene: (scene.patent(legal_status=legal_status), {})


def _term_over(scene: Scene) -> tuple[Patent, dict[str, Any]]:
    # Filed 2006-06-16: an invention's 20 years end on 2026-06-15; the fee is paid to the end.
    patent = scene.patent(
        filing_date=date(2006, 6, 16),
        grant_date=date(2009, 1, 5),
        fee_paid_until=date(2026, 6, 15),
    )
    scene.set_today(date(2026, 6, 16))
    return patent, {"debt_start_date": "2026-06-16", "debt_end_date": "2026-06-30"}


def _fee_beyond_grace(scene: Scene) -> tuple[Patent, dict[str, Any]]:
    return scene.patent(fee_paid_until=date(2025, 12, 14)), {}


def _fee_in_grace(scene: Scene) -> tuple[Patent, dict[str, Any]]:
    return scene.patent(fee_paid_until=TODAY - timedelta(days=1)), {}


def _pledged(scene: Scene) -> tuple[Patent, dict[str, Any]]:
    other_bank = scene.new_party(kind=OrganizationKind.bank)
    return scene.pledge_of(pledgee=other_bank).patents[0], {}


def _debt_too_long(scene: Scene) -> tuple[Patent, dict[str, Any]]:
    # The factory's invention, filed 2020-03-01, is in force up to 2040-02-29.
    return scene.patent(), {"debt_end_date": "2040-03-01"}


def _co_owned(scene: Scene) -> tuple[Patent, dict[str, Any]]:
    patent = factories.patent(
        scene.session,
        scene.owner.organization,
        co_owners=[CoOwner(name="Zhejiang University"), CoOwner(name="Li Wei")],
    )
    consent = {"application_number": patent.application_number, "co_owner": "Li Wei"}
    return patent, {"co_owner_consents": [consent]}


def _encumbered(kind: EncumbranceKind) -> Arrange:
    return lambda scene: (encumber(scene.session, scene.patent(), kind), {})


REFUSALS: dict[str, tuple[str, Arrange]] = {
    "not the owner": ("pledgor_not_owner", _foreign),
    "pending": ("patent_not_granted", _status(LegalStatus.pending)),
    "lapsed": ("patent_not_in_force", _status(LegalStatus.lapsed)),
    "invalidated": ("patent_not_in_force", _status(LegalStatus.invalidated)),
    "expired": ("patent_not_in_force", _status(LegalStatus.expired)),
    "term over": ("patent_not_in_force", _term_over),
    "fee beyond grace": ("patent_not_in_force", _fee_beyond_grace),
    "fee in grace": ("annual_fee_in_arrears", _fee_in_grace),
    "already pledged": ("patent_already_pledged", _pledged),
    "debt past term": ("debt_term_exceeds_patent_term", _debt_too_long),
    "court preservation": ("patent_suspended", _encumbered(EncumbranceKind.court_preservation)),
    "ownership dispute": ("patent_suspended", _encumbered(EncumbranceKind.ownership_dispute)),
    "invalidation pending": (
        "invalidation_pending",
        _encumbered(EncumbranceKind.invalidation_request),
    ),
    "co-owner has not consented": ("co_owner_consent_missing", _co_owned),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_an_application_that_could_never_be_registered_is_refused_and_not_recorded(
    session: Session,
    owner: Party,
    new_party: NewParty,
    pledge_of: MakePledge,
    set_today: SetToday,
    apply: Apply,
    case: str,
) -> None:
    code, arrange = REFUSALS[case]
    patent, overrides = arrange(Scene(session, owner, new_party, pledge_of, set_today))
    before = pledge_count(session)
    body = assert_problem(apply([patent], **overrides), 409, code)
    assert code in reason_codes(body)
    assert {reason["patent_id"] for reason in body["reasons"]} == {patent.id}
    assert pledge_count(session) == before


def test_a_refusal_names_each_patent_and_each_reason(
    session: Session, owner: Party, new_party: NewParty, apply: Apply
) -> None:
    good = factories.patent(session, owner.organization)
    late = factories.patent(session, owner.organization, fee_paid_until=TODAY - timedelta(days=3))
    foreign = factories.patent(session, new_party(kind=OrganizationKind.university).organization)
    body = assert_problem(apply([good, late, foreign]), 409, "annual_fee_in_arrears")
    assert [(r["code"], r["application_number"]) for r in body["reasons"]] == [
        ("annual_fee_in_arrears", late.application_number),
        ("pledgor_not_owner", foreign.application_number),
    ]


def test_unknown_application_numbers_are_listed(
    session: Session, owner: Party, client: TestClient, bank: Party
) -> None:
    known = factories.patent(session, owner.organization)
    missing = [factories.application_number(), factories.application_number()]
    body = application_body(
        owner.id, [], application_numbers=[missing[0], known.application_number, missing[1]]
    )
    problem = assert_problem(
        client.post(PLEDGES, headers=bank.headers, json=body), 422, "unknown_application_numbers"
    )
    assert problem["application_numbers"] == missing
    assert pledge_count(session) == 0


def test_a_malformed_application_number_is_a_field_error(
    session: Session, owner: Party, client: TestClient, bank: Party
) -> None:
    known = factories.patent(session, owner.organization)
    wrong_check = known.application_number[:-1] + (
        "0" if known.application_number[-1] != "0" else "1"
    )
    body = application_body(
        owner.id, [], application_numbers=[known.application_number, wrong_check]
    )
    problem = assert_problem(
        client.post(PLEDGES, headers=bank.headers, json=body), 422, "validation_failed"
    )
    assert [error["field"] for error in problem["errors"]] == ["body.application_numbers.1"]
    assert "expected" in problem["errors"][0]["message"]


@pytest.mark.parametrize("who", ["unknown", "platform", "the bank itself"])
def test_the_pledgor_must_be_another_known_organization(
    session: Session, bank: Party, owner: Party, apply: Apply, who: str
) -> None:
    pledgor_id = {
        "unknown": MAX_ID,
        "platform": factories.organization(session, kind=OrganizationKind.platform).id,
        "the bank itself": bank.id,
    }[who]
    response = apply([factories.patent(session, owner.organization)], pledgor_id=pledgor_id)
    assert_problem(response, 422, "pledgor_not_found")
    assert pledge_count(session) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"debt_end_date": "2026-06-30"},
        {"secured_amount": "0"},
        {"secured_amount": "1.001"},
        {"currency": "cny"},
        {"application_numbers": []},
        {
            "valuation": {
                "amount": "1",
                "method": "guess",
                "valuer": "V",
                "valuation_date": "2026-06-10",
            }
        },
        {"interest_rate": "4.35"},
    ],
    ids=[
        "end before start",
        "zero amount",
        "sub-cent amount",
        "lowercase currency",
        "no patents",
        "unknown valuation method",
        "unknown field",
    ],
)
def test_an_invalid_application_is_a_validation_error(
    session: Session, owner: Party, apply: Apply, overrides: dict[str, Any]
) -> None:
    response = apply([factories.patent(session, owner.organization)], **overrides)
    assert_problem(response, 422, "validation_failed")
    assert pledge_count(session) == 0


def test_an_unverified_bank_cannot_apply(
    session: Session, owner: Party, new_party: NewParty, apply: Apply
) -> None:
    pending = new_party(kind=OrganizationKind.bank, verified=False)
    response = apply([factories.patent(session, owner.organization)], party=pending)
    assert_problem(response, 403, "organization_not_verified")


@pytest.mark.parametrize("kind", [OrganizationKind.university, OrganizationKind.enterprise])
def test_only_banks_apply(
    session: Session, owner: Party, new_party: NewParty, apply: Apply, kind: OrganizationKind
) -> None:
    response = apply([factories.patent(session, owner.organization)], party=new_party(kind=kind))
    body = assert_problem(response, 403, "insufficient_scope")
    assert body["required_scope"] == "pledges"
    assert pledge_count(session) == 0


def test_applying_needs_a_valid_token(client: TestClient, session: Session, owner: Party) -> None:
    body = application_body(owner.id, [factories.patent(session, owner.organization)])
    missing = client.post(PLEDGES, json=body)
    assert_problem(missing, 401, "not_authenticated")
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = client.post(PLEDGES, json=body, headers={"Authorization": "Bearer not.a.token"})
    assert_problem(forged, 401, "invalid_token")


# Confirmation ----------------------------------------------------------------------------------


def test_the_pledgor_confirms_once(
    client: TestClient, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    first = client.post(at(pledge, "confirm"), headers=owner.headers)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "applied"
    assert first.json()["pledgor_confirmed_at"] is not None
    assert [h["actor_organization_id"] for h in first.json()["history"]][-1] == owner.id
    set_today(TODAY + timedelta(days=1))
    again = client.post(at(pledge, "confirm"), headers=owner.headers)
    assert again.status_code == 200, again.text
    assert again.json()["pledgor_confirmed_at"] == first.json()["pledgor_confirmed_at"]
    assert len(again.json()["history"]) == len(first.json()["history"])


def test_an_unrelated_organization_cannot_find_the_application_to_confirm(
    client: TestClient, new_party: NewParty, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    stranger = new_party(kind=OrganizationKind.enterprise)
    assert_problem(
        client.post(at(pledge, "confirm"), headers=stranger.headers), 404, "pledge_not_found"
    )


def test_the_pledgee_cannot_confirm_for_the_pledgor(
    client: TestClient, bank: Party, admin: Party, pledge_of: MakePledge
) -> None:
    # Confirming needs the patent owner's scope, which no bank or platform token carries: the
    # scope gate answers before the service's own pledgor check (not_pledgor), which only an
    # owner-kind organization that is not the pledgor could reach, and such an organization
    # cannot see an application at all.
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    for party in (bank, admin):
        body = assert_problem(
            client.post(at(pledge, "confirm"), headers=party.headers), 403, "insufficient_scope"
        )
        assert body["required_scope"] == "patents"
    assert pledge.pledgor_confirmed_at is None


@pytest.mark.parametrize("status", [PledgeStatus.registered, PledgeStatus.refused])
def test_confirming_a_decided_pledge_is_a_conflict(
    client: TestClient, owner: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    assert_problem(
        client.post(at(pledge, "confirm"), headers=owner.headers), 409, "pledge_wrong_state"
    )


def test_confirming_needs_a_token_and_a_valid_id(client: TestClient, owner: Party) -> None:
    assert_problem(client.post(at(1, "confirm")), 401, "not_authenticated")
    assert_problem(client.post(at(0, "confirm"), headers=owner.headers), 422, "validation_failed")


# Registration ----------------------------------------------------------------------------------


def registration_body(number: str = "Y2026980000123", day: date = TODAY) -> dict[str, str]:
    return {"registration_number": number, "registration_date": day.isoformat()}


def test_the_pledgee_records_the_offices_registration(
    client: TestClient, session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    response = client.post(
        at(pledge, "registration"),
        headers=bank.headers,
        json=registration_body(" y2026 980 000123 ", TODAY - timedelta(days=2)),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "registered"
    # The office's number and date as the pledgee entered them: the platform mints none.
    assert body["registration_number"] == "Y2026980000123"
    assert body["registered_date"] == (TODAY - timedelta(days=2)).isoformat()
    assert body["registration_number_platform_assigned"] is False
    assert body["history"][-1]["changes"] == {
        "registration_number": "Y2026980000123",
        "registered_date": (TODAY - timedelta(days=2)).isoformat(),
    }
    assert body["history"][-1]["actor_organization_id"] == bank.id
    assert active_pledge_of(session, pledge.patents[0]) == pledge.id


def test_a_platform_admin_may_record_the_registration_too(
    client: TestClient, admin: Party, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    response = client.post(
        at(pledge, "registration"), headers=admin.headers, json=registration_body()
    )
    assert response.status_code == 200, response.text
    assert status_of(client, pledge, bank) == "registered"


@pytest.mark.parametrize(
    "number",
    ["ZL2026000001", "zl 2026 0000 01", "Y1", "Y2026/980#12", "-Y2026980000123"],
    ids=["minted style", "patent number", "too short", "stray character", "leading dash"],
)
def test_a_number_the_office_does_not_issue_is_refused(
    client: TestClient, bank: Party, pledge_of: MakePledge, number: str
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    assert_problem(
        client.post(
            at(pledge, "registration"), headers=bank.headers, json=registration_body(number)
        ),
        422,
        "invalid_registration_number",
    )
    assert status_of(client, pledge, bank) == "applied"


def test_the_number_pattern_is_configurable(
    client: TestClient, bank: Party, pledge_of: MakePledge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "pledge_registration_number_pattern", r"^Y\d{4}980\d{6}$")
    pledge = pledge_of(status=PledgeStatus.applied)
    assert_problem(
        client.post(
            at(pledge, "registration"), headers=bank.headers, json=registration_body("A123456")
        ),
        422,
        "invalid_registration_number",
    )
    response = client.post(
        at(pledge, "registration"), headers=bank.headers, json=registration_body()
    )
    assert response.status_code == 200, response.text


def test_a_registration_date_in_the_future_is_refused(
    client: TestClient, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    assert_problem(
        client.post(
            at(pledge, "registration"),
            headers=bank.headers,
            json=registration_body(day=TODAY + timedelta(days=1)),
        ),
        422,
        "registration_date_out_of_range",
    )
    assert status_of(client, pledge, bank) == "applied"


def test_a_registration_number_is_recorded_once(
    client: TestClient, bank: Party, owner: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    first = pledge_of(status=PledgeStatus.applied)
    second = pledge_of(status=PledgeStatus.applied, pledgee=other_bank)
    recorded = client.post(
        at(first, "registration"), headers=bank.headers, json=registration_body()
    )
    assert recorded.status_code == 200, recorded.text
    assert_problem(
        client.post(
            at(second, "registration"),
            headers=other_bank.headers,
            json=registration_body("y2026980000123"),
        ),
        409,
        "registration_number_in_use",
    )
    assert status_of(client, second, other_bank) == "applied"


def test_registering_an_unconfirmed_application_is_a_conflict(
    client: TestClient, session: Session, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    assert_problem(
        client.post(at(pledge, "registration"), headers=bank.headers, json=registration_body()),
        409,
        "pledge_not_confirmed",
    )
    assert status_of(client, pledge, bank) == "applied"
    assert active_pledge_of(session, pledge.patents[0]) is None


def test_registration_checks_the_rules_again(
    client: TestClient,
    session: Session,
    bank: Party,
    owner: Party,
    pledge_of: MakePledge,
    set_today: SetToday,
) -> None:
    patent = factories.patent(session, owner.organization, fee_paid_until=TODAY + timedelta(days=2))
    pledge = pledge_of(status=PledgeStatus.applied, patents=[patent])
    # The fee fell due between application and registration.
    set_today(TODAY + timedelta(days=3))
    body = assert_problem(
        client.post(at(pledge, "registration"), headers=bank.headers, json=registration_body()),
        409,
        "annual_fee_in_arrears",
    )
    assert reason_codes(body) == ["annual_fee_in_arrears"]
    assert status_of(client, pledge, bank) == "applied"
    assert active_pledge_of(session, patent) is None


def test_a_second_pledge_on_a_patent_cannot_be_registered(
    client: TestClient,
    session: Session,
    bank: Party,
    owner: Party,
    other_bank: Party,
    pledge_of: MakePledge,
) -> None:
    patent = factories.patent(session, owner.organization)
    first = pledge_of(status=PledgeStatus.applied, patents=[patent])
    second = pledge_of(status=PledgeStatus.applied, patents=[patent], pledgee=other_bank)
    recorded = client.post(
        at(first, "registration"), headers=bank.headers, json=registration_body()
    )
    assert recorded.status_code == 200
    body = assert_problem(
        client.post(
            at(second, "registration"),
            headers=other_bank.headers,
            json=registration_body("Y2026980000124"),
        ),
        409,
        "patent_already_pledged",
    )
    assert reason_codes(body) == ["patent_already_pledged"]
    assert status_of(client, second, other_bank) == "applied"
    assert active_pledge_of(session, patent) == first.id


def test_only_the_pledgee_or_a_platform_admin_records_the_registration(
    client: TestClient, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    assert_problem(
        client.post(at(pledge, "registration"), headers=owner.headers, json=registration_body()),
        403,
        "not_pledgee",
    )
    assert status_of(client, pledge, bank) == "applied"


def test_registering_twice_is_a_conflict(
    client: TestClient, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    first = client.post(at(pledge, "registration"), headers=bank.headers, json=registration_body())
    assert first.status_code == 200, first.text
    assert_problem(
        client.post(at(pledge, "registration"), headers=bank.headers, json=registration_body()),
        409,
        "pledge_wrong_state",
    )


def test_registering_what_is_not_there(client: TestClient, bank: Party) -> None:
    assert_problem(
        client.post(at(MAX_ID, "registration"), headers=bank.headers, json=registration_body()),
        404,
        "pledge_not_found",
    )
    assert_problem(
        client.post(at(MAX_ID, "registration"), json=registration_body()), 401, "not_authenticated"
    )


def test_a_registration_needs_its_number_and_date(
    client: TestClient, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    for body in ({"registration_number": "Y2026980000123"}, {"registration_date": "2026-06-15"}):
        assert_problem(
            client.post(at(pledge, "registration"), headers=bank.headers, json=body),
            422,
            "validation_failed",
        )
    assert status_of(client, pledge, bank) == "applied"


def test_another_bank_cannot_find_an_application_to_register(
    client: TestClient, other_bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    assert_problem(
        client.post(
            at(pledge, "registration"), headers=other_bank.headers, json=registration_body()
        ),
        404,
        "pledge_not_found",
    )


# Refusal ---------------------------------------------------------------------------------------


def test_an_admin_refuses_with_reason_codes(
    client: TestClient, admin: Party, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied, confirmed=False)
    response = client.post(
        at(pledge, "refuse"),
        headers=admin.headers,
        json={"reasons": ["invalidation_pending", "documents_incomplete"], "note": "see letter"},
    )
    assert response.status_code == 200, response.text
    seen = client.get(at(pledge), headers=bank.headers).json()
    assert seen["status"] == "refused"
    assert seen["refusal_reasons"] == [
        {"code": "invalidation_pending"},
        {"code": "documents_incomplete"},
    ]
    assert seen["registration_number"] is None
    assert (seen["history"][-1]["status"], seen["history"][-1]["note"]) == ("refused", "see letter")


def test_an_unknown_refusal_code_is_refused(
    client: TestClient, admin: Party, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    body = assert_problem(
        client.post(at(pledge, "refuse"), headers=admin.headers, json={"reasons": ["whim"]}),
        422,
        "invalid_pledge_update",
    )
    assert "patent_suspended" in body["allowed"]
    assert status_of(client, pledge, bank) == "applied"


def test_a_refusal_needs_reasons(client: TestClient, admin: Party, pledge_of: MakePledge) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    response = client.post(at(pledge, "refuse"), headers=admin.headers, json={"reasons": []})
    assert_problem(response, 422, "validation_failed")


def test_a_registered_pledge_cannot_be_refused(
    client: TestClient, admin: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    response = client.post(at(pledge, "refuse"), headers=admin.headers, json={"reasons": ["other"]})
    assert_problem(response, 409, "pledge_wrong_state")


def test_only_platform_admins_refuse(
    client: TestClient, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    response = client.post(at(pledge, "refuse"), headers=bank.headers, json={"reasons": ["other"]})
    assert_problem(response, 403, "not_platform_admin")
    assert_problem(
        client.post(at(pledge, "refuse"), json={"reasons": ["other"]}), 401, "not_authenticated"
    )


# Amendment -------------------------------------------------------------------------------------


def test_the_pledgee_amends_the_amount_and_the_term_with_history(
    client: TestClient, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    first = client.patch(at(pledge), headers=bank.headers, json={"secured_amount": "6000000"})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "changed"
    assert first.json()["secured_amount"] == "6000000.00"
    second = client.patch(
        at(pledge),
        headers=bank.headers,
        json={"debt_end_date": "2030-06-30", "note": "extended one year"},
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert (body["status"], body["debt_end_date"]) == ("changed", "2030-06-30")
    assert [(h["status"], h["changes"]) for h in body["history"][-2:]] == [
        ("changed", {"secured_amount": {"from": "5000000.00", "to": "6000000.00"}}),
        ("changed", {"debt_end_date": {"from": "2029-06-30", "to": "2030-06-30"}}),
    ]
    assert body["history"][-1]["note"] == "extended one year"
    # Registration is kept through amendments.
    assert body["registration_number"] == pledge.registration_number


def test_an_amendment_cannot_run_the_debt_past_the_patent_term(
    client: TestClient, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    body = assert_problem(
        client.patch(at(pledge), headers=bank.headers, json={"debt_end_date": "2040-03-01"}),
        409,
        "debt_term_exceeds_patent_term",
    )
    assert reason_codes(body) == ["debt_term_exceeds_patent_term"]
    seen = client.get(at(pledge), headers=bank.headers).json()
    assert (seen["status"], seen["debt_end_date"]) == ("registered", "2029-06-30")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "invalid_pledge_update"),
        ({"note": "only a note"}, "invalid_pledge_update"),
        ({"secured_amount": None}, "invalid_pledge_update"),
        ({"debt_start_date": None, "debt_end_date": "2030-01-01"}, "invalid_pledge_update"),
        ({"debt_end_date": "2026-06-30"}, "invalid_pledge_update"),
        ({"interest_rate": "4.35"}, "validation_failed"),
        ({"secured_amount": "-1"}, "validation_failed"),
        ({"currency": "USD"}, "validation_failed"),
    ],
    ids=[
        "empty",
        "note only",
        "null amount",
        "null start",
        "end before start",
        "unknown field",
        "negative amount",
        "currency is not amendable",
    ],
)
def test_an_invalid_amendment_is_refused(
    client: TestClient, bank: Party, pledge_of: MakePledge, payload: dict[str, Any], code: str
) -> None:
    pledge = pledge_of()
    assert_problem(client.patch(at(pledge), headers=bank.headers, json=payload), 422, code)
    assert status_of(client, pledge, bank) == "registered"


@pytest.mark.parametrize(
    "status", [PledgeStatus.applied, PledgeStatus.refused, PledgeStatus.cancelled]
)
def test_only_a_registered_pledge_is_amended(
    client: TestClient, bank: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    response = client.patch(at(pledge), headers=bank.headers, json={"secured_amount": "1"})
    assert_problem(response, 409, "pledge_wrong_state")


def test_another_bank_reading_the_register_cannot_amend(
    client: TestClient, bank: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    response = client.patch(at(pledge), headers=other_bank.headers, json={"secured_amount": "1"})
    assert_problem(response, 403, "not_pledgee")
    assert status_of(client, pledge, bank) == "registered"


def test_another_bank_cannot_find_an_application_to_amend(
    client: TestClient, other_bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    response = client.patch(at(pledge), headers=other_bank.headers, json={"secured_amount": "1"})
    assert_problem(response, 404, "pledge_not_found")


def test_the_pledgor_cannot_amend(client: TestClient, owner: Party, pledge_of: MakePledge) -> None:
    pledge = pledge_of()
    response = client.patch(at(pledge), headers=owner.headers, json={"secured_amount": "1"})
    assert_problem(response, 403, "insufficient_scope")
    assert_problem(client.patch(at(pledge), json={"secured_amount": "1"}), 401, "not_authenticated")


# Cancellation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "reason"),
    [
        ("pledgee", CancellationReason.debt_repaid),
        ("pledgee", CancellationReason.realised),
        ("admin", CancellationReason.waived),
        ("admin", CancellationReason.void),
    ],
)
def test_cancellation_frees_the_patent(
    client: TestClient,
    session: Session,
    bank: Party,
    admin: Party,
    pledge_of: MakePledge,
    reason: CancellationReason,
    by: str,
) -> None:
    pledge = pledge_of(status=PledgeStatus.changed)
    actor = bank if by == "pledgee" else admin
    response = client.post(at(pledge, "cancel"), headers=actor.headers, json={"reason": reason})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["cancellation_reason"]) == ("cancelled", reason.value)
    assert body["cancelled_at"] is not None
    assert body["history"][-1]["actor_organization_id"] == actor.id
    assert active_pledge_of(session, pledge.patents[0]) is None


def test_a_freed_patent_can_be_pledged_again(
    client: TestClient,
    session: Session,
    bank: Party,
    owner: Party,
    admin: Party,
    pledge_of: MakePledge,
    apply: Apply,
) -> None:
    pledge = pledge_of()
    patent = pledge.patents[0]
    assert_problem(apply([patent]), 409, "patent_already_pledged")
    cancelled = client.post(
        at(pledge, "cancel"), headers=bank.headers, json={"reason": "debt_repaid"}
    )
    assert cancelled.status_code == 200, cancelled.text
    again = apply([patent], debt_start_date="2026-07-01", debt_end_date="2031-06-30")
    assert again.status_code == 201, again.text
    new_id = again.json()["id"]
    assert client.post(at(new_id, "confirm"), headers=owner.headers).status_code == 200
    registered = client.post(
        at(new_id, "registration"), headers=bank.headers, json=registration_body("Y2026980000777")
    )
    assert registered.status_code == 200, registered.text
    assert active_pledge_of(session, patent) == new_id


def test_the_pledgee_withdraws_an_application_by_cancelling_it(
    client: TestClient, bank: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    response = client.post(at(pledge, "cancel"), headers=bank.headers, json={"reason": "void"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["registration_number"] is None
    # Never registered, so never on the register.
    assert_problem(client.get(at(pledge), headers=other_bank.headers), 404, "pledge_not_found")


def test_the_pledgor_cannot_cancel(
    client: TestClient, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    response = client.post(
        at(pledge, "cancel"), headers=owner.headers, json={"reason": "debt_repaid"}
    )
    assert_problem(response, 403, "not_pledgee")
    assert status_of(client, pledge, bank) == "registered"


def test_another_bank_cannot_cancel(
    client: TestClient, bank: Party, other_bank: Party, pledge_of: MakePledge
) -> None:
    registered = pledge_of()
    applied = pledge_of(status=PledgeStatus.applied)
    body = {"reason": "waived"}
    assert_problem(
        client.post(at(registered, "cancel"), headers=other_bank.headers, json=body),
        403,
        "not_pledgee",
    )
    assert_problem(
        client.post(at(applied, "cancel"), headers=other_bank.headers, json=body),
        404,
        "pledge_not_found",
    )
    assert_problem(client.post(at(registered, "cancel"), json=body), 401, "not_authenticated")


@pytest.mark.parametrize("status", [PledgeStatus.cancelled, PledgeStatus.refused])
def test_cancelling_an_ended_pledge_is_a_conflict(
    client: TestClient, bank: Party, pledge_of: MakePledge, status: PledgeStatus
) -> None:
    pledge = pledge_of(status=status)
    response = client.post(at(pledge, "cancel"), headers=bank.headers, json={"reason": "waived"})
    assert_problem(response, 409, "pledge_wrong_state")


def test_cancelling_needs_a_known_reason(
    client: TestClient, bank: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    for body in ({}, {"reason": "paid"}):
        assert_problem(
            client.post(at(pledge, "cancel"), headers=bank.headers, json=body),
            422,
            "validation_failed",
        )
    assert status_of(client, pledge, bank) == "registered"


# Consent to open licensing (Civil Code art. 444) -----------------------------------------------


def publish(client: TestClient, listing_id: int | None, party: Party) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/listings/{listing_id}/publish",
        json=factories.announcement_body(),
        headers=party.headers,
    )
    return response


def consent(
    client: TestClient, pledge: Pledge, listing_id: int | None, party: Party
) -> httpx.Response:
    response: httpx.Response = client.post(
        at(pledge, "consents"), headers=party.headers, json={"listing_id": listing_id}
    )
    return response


def test_the_pledgee_consents_once_per_listing(
    client: TestClient, session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    first = consent(client, pledge, listing.id, bank)
    assert first.status_code == 201, first.text
    assert (first.json()["pledge_id"], first.json()["listing_id"]) == (pledge.id, listing.id)
    again = consent(client, pledge, listing.id, bank)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    seen = client.get(at(pledge), headers=bank.headers).json()
    assert [c["id"] for c in seen["consents"]] == [first.json()["id"]]


def test_a_consent_needs_a_listing_on_a_pledged_patent(
    client: TestClient, session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    elsewhere = factories.draft_listing(session, owner.organization)
    assert_problem(
        consent(client, pledge, elsewhere.id, bank), 409, "listing_not_on_pledged_patent"
    )


def test_only_the_pledgee_consents(
    client: TestClient,
    session: Session,
    owner: Party,
    other_bank: Party,
    new_party: NewParty,
    pledge_of: MakePledge,
) -> None:
    pledge = pledge_of()
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert_problem(consent(client, pledge, listing.id, other_bank), 403, "not_pledgee")
    assert_problem(consent(client, pledge, listing.id, owner), 403, "insufficient_scope")
    stranger = new_party(kind=OrganizationKind.enterprise)
    assert_problem(consent(client, pledge, listing.id, stranger), 404, "pledge_not_found")
    response = client.post(at(pledge, "consents"), json={"listing_id": listing.id})
    assert_problem(response, 401, "not_authenticated")


def test_consent_needs_a_registered_pledge(
    client: TestClient, session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of(status=PledgeStatus.applied)
    listing = factories.draft_listing(session, owner.organization, patent_list=pledge.patents)
    assert_problem(consent(client, pledge, listing.id, bank), 409, "pledge_wrong_state")
    assert_problem(consent(client, pledge, 0, bank), 422, "validation_failed")


def test_publishing_on_a_pledged_patent_needs_the_pledgees_consent_to_that_listing(
    client: TestClient, session: Session, bank: Party, owner: Party, pledge_of: MakePledge
) -> None:
    pledge = pledge_of()
    patent = pledge.patents[0]
    consented = factories.draft_listing(session, owner.organization, patent_list=[patent])
    other = factories.draft_listing(session, owner.organization, patent_list=[patent])
    refused = assert_problem(publish(client, consented.id, owner), 409, "pledgee_consent_missing")
    assert reason_codes(refused) == ["pledgee_consent_missing"]
    assert refused["reasons"][0]["patent_id"] == patent.id
    assert consent(client, pledge, consented.id, bank).status_code == 201
    # The consent names one listing: another declaration on the same patent still lacks it.
    body = assert_problem(publish(client, other.id, owner), 409, "pledgee_consent_missing")
    assert reason_codes(body) == ["pledgee_consent_missing"]
    published = publish(client, consented.id, owner)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"


def test_a_license_on_a_pledged_patent_is_attributed_to_the_pledge(
    client: TestClient,
    session: Session,
    bank: Party,
    owner: Party,
    new_party: NewParty,
    pledge_of: MakePledge,
) -> None:
    pledge = pledge_of()
    pledged_listing = factories.draft_listing(
        session, owner.organization, patent_list=pledge.patents
    )
    assert consent(client, pledge, pledged_listing.id, bank).status_code == 201
    assert publish(client, pledged_listing.id, owner).status_code == 200
    _, free_offer = factories.published_listing(session, owner.organization)
    licensee = new_party(kind=OrganizationKind.enterprise)

    def accept(offer_id: int | None) -> dict[str, Any]:
        headers = licensee.headers | {"Idempotency-Key": str(uuid.uuid4())}
        response = client.post(f"/api/v1/offers/{offer_id}/accept", headers=headers)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    assert accept(pledged_listing.offers[0].id)["pledge_ids"] == [pledge.id]
    assert accept(free_offer.id)["pledge_ids"] == []


# Who sees what ---------------------------------------------------------------------------------


@pytest.fixture
def book(
    session: Session, bank: Party, owner: Party, pledge_of: MakePledge, set_today: SetToday
) -> dict[str, Pledge]:
    """One pledge of ``bank`` against ``owner``'s patents in each state."""
    built = {
        "registered": pledge_of(),
        "changed": pledge_of(status=PledgeStatus.changed),
        "cancelled": pledge_of(status=PledgeStatus.cancelled),
        "applied": pledge_of(status=PledgeStatus.applied),
        "refused": pledge_of(status=PledgeStatus.refused),
        "withdrawn": pledge_of(status=PledgeStatus.cancelled, confirmed=False),
    }
    listing = factories.draft_listing(
        session, owner.organization, patent_list=built["registered"].patents
    )
    assert listing.id is not None
    pledges.consent_to_listing(
        session=session,
        pledge=built["registered"],
        pledgee=bank.organization,
        listing_id=listing.id,
    )
    return built


ON_REGISTER = ("registered", "changed", "cancelled")


def test_the_pledgee_sees_its_pledges_in_full(
    client: TestClient, bank: Party, book: dict[str, Pledge]
) -> None:
    for name, pledge in book.items():
        seen = client.get(at(pledge), headers=bank.headers).json()
        assert seen["visibility"] == "full", name
        assert seen["secured_amount"] is not None
        assert seen["debt_end_date"] == "2029-06-30"
        assert seen["valuation"]["amount"] == "8000000.00"
        assert seen["history"]
    assert seen_consents(client, bank, book["registered"]) == 1
    listed = client.get(PLEDGES, headers=bank.headers).json()["items"]
    assert [item["id"] for item in listed] == newest_first(*book.values())
    assert {item["visibility"] for item in listed} == {"full"}


def seen_consents(client: TestClient, party: Party, pledge: Pledge) -> int:
    return len(client.get(at(pledge), headers=party.headers).json()["consents"])


def test_another_bank_sees_only_the_register_of_registered_pledges(
    client: TestClient, other_bank: Party, book: dict[str, Pledge]
) -> None:
    for name in ON_REGISTER:
        pledge = book[name]
        response = client.get(at(pledge), headers=other_bank.headers)
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["visibility"] == "register"
        assert seen["status"] == name
        assert (seen["registration_number"], seen["registered_date"]) == (
            pledge.registration_number,
            TODAY.isoformat(),
        )
        assert (seen["pledgor_id"], seen["pledgee_id"]) == (pledge.pledgor_id, pledge.pledgee_id)
        assert [p["application_number"] for p in seen["patents"]] == [
            p.application_number for p in pledge.patents
        ]
        assert seen["patents"][0]["main_ipc"] == "H01M 10/0525"
        assert {field: seen[field] for field in PRIVATE_FIELDS} == dict.fromkeys(PRIVATE_FIELDS)
        # Nor anywhere else in the body.
        for secret in ("5000000.00", "6000000.00", "8000000.00", "Hangzhou Battery", "Apprais"):
            assert secret not in response.text
    for name in ("applied", "refused", "withdrawn"):
        assert_problem(
            client.get(at(book[name]), headers=other_bank.headers), 404, "pledge_not_found"
        )
    listed = client.get(PLEDGES, headers=other_bank.headers).json()["items"]
    assert [item["id"] for item in listed] == newest_first(*(book[name] for name in ON_REGISTER))
    assert {item["visibility"] for item in listed} == {"register"}
    assert all(item[field] is None for item in listed for field in PRIVATE_FIELDS)


def test_the_pledgor_sees_its_pledges_in_full(
    client: TestClient, owner: Party, book: dict[str, Pledge]
) -> None:
    listed = client.get(PLEDGES, headers=owner.headers).json()["items"]
    assert [item["id"] for item in listed] == newest_first(*book.values())
    assert {item["visibility"] for item in listed} == {"full"}
    applied = client.get(at(book["applied"]), headers=owner.headers).json()
    assert (applied["visibility"], applied["secured_amount"]) == ("full", "5000000.00")
    refused = client.get(at(book["refused"]), headers=owner.headers).json()
    assert refused["refusal_reasons"] == [{"code": "documents_incomplete"}]


def test_an_unrelated_organization_sees_no_pledge(
    client: TestClient, new_party: NewParty, book: dict[str, Pledge]
) -> None:
    for kind in (OrganizationKind.enterprise, OrganizationKind.university):
        stranger = new_party(kind=kind)
        assert client.get(PLEDGES, headers=stranger.headers).json()["items"] == []
        for pledge in book.values():
            assert_problem(
                client.get(at(pledge), headers=stranger.headers), 404, "pledge_not_found"
            )


def test_a_platform_admin_sees_every_pledge_in_full(
    client: TestClient, admin: Party, book: dict[str, Pledge]
) -> None:
    listed = client.get(PLEDGES, headers=admin.headers).json()["items"]
    assert [item["id"] for item in listed] == newest_first(*book.values())
    assert {item["visibility"] for item in listed} == {"full"}
    assert all(item["secured_amount"] is not None for item in listed)


def test_reading_pledges_needs_a_token(client: TestClient, book: dict[str, Pledge]) -> None:
    assert_problem(client.get(PLEDGES), 401, "not_authenticated")
    assert_problem(client.get(at(book["registered"])), 401, "not_authenticated")
    forged = {"Authorization": "Bearer x.y.z"}
    assert_problem(client.get(PLEDGES, headers=forged), 401, "invalid_token")


def test_reading_pledges_needs_the_pledges_scope(
    client: TestClient, session: Session, bank: Party, book: dict[str, Pledge]
) -> None:
    # A bank token narrowed to the encumbrance check must not read loan terms, as a licenses
    # token is needed to read licenses.
    narrowed = factories.auth(session, bank.user, frozenset({"encumbrances"}))
    body = assert_problem(client.get(PLEDGES, headers=narrowed), 403, "insufficient_scope")
    assert body["required_scope"] == "pledges"
    assert_problem(client.get(at(book["applied"]), headers=narrowed), 403, "insufficient_scope")


def test_a_pledge_that_does_not_exist_is_not_found(client: TestClient, admin: Party) -> None:
    assert_problem(client.get(at(MAX_ID), headers=admin.headers), 404, "pledge_not_found")
    assert_problem(client.get(at(MAX_ID + 1), headers=admin.headers), 422, "validation_failed")


def test_list_filters(
    client: TestClient,
    session: Session,
    bank: Party,
    other_bank: Party,
    owner: Party,
    admin: Party,
    new_party: NewParty,
    pledge_of: MakePledge,
    set_today: SetToday,
) -> None:
    second_owner = new_party(kind=OrganizationKind.university)
    p1, p2, p4 = (factories.patent(session, owner.organization) for _ in range(3))
    p3 = factories.patent(session, second_owner.organization)
    first = pledge_of(patents=[p1])
    set_today(date(2026, 6, 20))
    second = pledge_of(patents=[p3], pledgor=second_owner)
    set_today(date(2026, 6, 25))
    third = pledge_of(patents=[p2], pledgee=other_bank, status=PledgeStatus.changed)
    fourth = pledge_of(patents=[p4], status=PledgeStatus.applied)

    def ids(party: Party = admin, **params: Any) -> list[int]:
        return listed_ids(client, party, **params)

    assert ids() == newest_first(first, second, third, fourth)
    assert ids(patent_id=p1.id) == newest_first(first)
    canonical = p1.application_number
    for spelling in (canonical, f"CN{canonical}", canonical.replace(".", ""), f"cn {canonical}"):
        assert ids(application_number=spelling) == newest_first(first), spelling
    assert ids(pledgor_id=owner.id) == newest_first(first, third, fourth)
    assert ids(pledgee_id=other_bank.id) == newest_first(third)
    assert ids(status="changed") == newest_first(third)
    assert ids(status="applied") == newest_first(fourth)
    assert ids(registered_from="2026-06-20") == newest_first(second, third)
    assert ids(registered_to="2026-06-20") == newest_first(first, second)
    assert ids(registered_from="2026-06-16", registered_to="2026-06-24") == newest_first(second)
    # Filters narrow what the caller may see; they never widen it.
    assert ids(bank, pledgee_id=other_bank.id) == newest_first(third)
    assert ids(bank, pledgor_id=owner.id) == newest_first(first, third, fourth)
    assert ids(other_bank, pledgor_id=owner.id) == newest_first(first, third)
    assert ids(second_owner, pledgor_id=owner.id) == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "pending"},
        {"application_number": "202010100002.4"},
        {"patent_id": 0},
        {"registered_from": "yesterday"},
        {"limit": 0},
        {"limit": 201},
    ],
)
def test_invalid_list_filters_are_refused(
    client: TestClient, bank: Party, params: dict[str, Any]
) -> None:
    assert_problem(
        client.get(PLEDGES, headers=bank.headers, params=params), 422, "validation_failed"
    )


def test_invalid_cursor_is_refused(client: TestClient, bank: Party) -> None:
    response = client.get(PLEDGES, headers=bank.headers, params={"cursor": "%%%"})
    assert_problem(response, 422, "invalid_cursor")


def test_the_cursor_walks_every_visible_pledge_once(
    client: TestClient, other_bank: Party, book: dict[str, Pledge], pledge_of: MakePledge
) -> None:
    own = [pledge_of(pledgee=other_bank) for _ in range(2)]
    expected = newest_first(*(book[name] for name in ON_REGISTER), *own)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(PLEDGES, headers=other_bank.headers, params=params).json()
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


# Co-owners and a pending invalidation (2021 pledge registration measures) -----------------------


def test_every_co_owner_consents_in_the_application(
    client: TestClient, session: Session, owner: Party, bank: Party, apply: Apply
) -> None:
    patent = factories.patent(
        session,
        owner.organization,
        co_owners=[CoOwner(name="Zhejiang University"), CoOwner(name="Li Wei")],
    )
    consents = [
        {"application_number": patent.application_number, "co_owner": name}
        for name in ("Li Wei", "Zhejiang University")
    ]
    response = apply([patent], co_owner_consents=consents)
    assert response.status_code == 201, response.text
    assert response.json()["co_owner_consents"] == consents
    pledge_id = response.json()["id"]
    assert client.post(at(pledge_id, "confirm"), headers=owner.headers).status_code == 200
    registered = client.post(
        at(pledge_id, "registration"), headers=bank.headers, json=registration_body()
    )
    assert registered.status_code == 200, registered.text


def test_a_consent_from_someone_who_is_no_co_owner_is_refused(
    session: Session, owner: Party, apply: Apply
) -> None:
    patent = factories.patent(session, owner.organization, co_owners=[CoOwner(name="Li Wei")])
    before = pledge_count(session)
    body = assert_problem(
        apply(
            [patent],
            co_owner_consents=[
                {"application_number": patent.application_number, "co_owner": "Wang Fang"}
            ],
        ),
        422,
        "unknown_co_owner",
    )
    assert body["co_owner"] == "Wang Fang"
    assert pledge_count(session) == before


def test_a_pending_invalidation_needs_both_parties_to_proceed(
    client: TestClient, session: Session, owner: Party, bank: Party, apply: Apply
) -> None:
    patent = encumber(
        session, factories.patent(session, owner.organization), EncumbranceKind.invalidation_request
    )
    applied = apply([patent], proceed_despite_pending_invalidation=True)
    assert applied.status_code == 201, applied.text
    pledge_id = applied.json()["id"]
    # The pledgor joins without saying it proceeds: registration is refused.
    assert client.post(at(pledge_id, "confirm"), headers=owner.headers).status_code == 200
    body = assert_problem(
        client.post(at(pledge_id, "registration"), headers=bank.headers, json=registration_body()),
        409,
        "invalidation_pending",
    )
    assert reason_codes(body) == ["invalidation_pending"]
    # It confirms again, proceeding: the office's registration is recorded.
    confirmed = client.post(
        at(pledge_id, "confirm"),
        headers=owner.headers,
        json={"proceed_despite_pending_invalidation": True},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["pledgor_proceeds_despite_invalidation"] is True
    registered = client.post(
        at(pledge_id, "registration"), headers=bank.headers, json=registration_body()
    )
    assert registered.status_code == 200, registered.text
    assert active_pledge_of(session, patent) == pledge_id
