"""License disputes: opened by a party, mediated by platform admins, resolved or withdrawn."""

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from marketplace.accounts.caller import Caller
from marketplace.accounts.models import OrganizationKind
from marketplace.events.models import Event
from marketplace.licensing import disputes
from marketplace.licensing import service as licensing
from marketplace.licensing.errors import (
    DisputeAlreadyOpen,
    DisputeClosed,
    DisputeNotFound,
    DisputeNotOpen,
    LicenseNotFound,
    MediatorMustBeUser,
    NotDisputeParticipant,
    OnlyOpenerWithdraws,
)
from marketplace.licensing.models.disputes import (
    DISPUTE_TEXT_MAX_CHARS,
    DisputeAuthorRole,
    DisputeOutcome,
    DisputeReason,
    DisputeStatement,
    DisputeStatus,
    LicenseDispute,
)
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.pagination import PageParams
from tests import factories
from tests.factories import NewParty, Party
from tests.licensing.conftest import Grant
from tests.problems import assert_problem

STATEMENT = "The Q1 2026 running royalty (CNY 41,200) is 60 days overdue."


@pytest.fixture
def license_(grant: Grant, licensee: Party) -> License:
    return grant(licensee)


@pytest.fixture
def admin(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.platform)


@pytest.fixture
def other_admin(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.platform)


@pytest.fixture
def stranger(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.enterprise)


def open_(
    session: Session,
    license_: License,
    party: Party,
    reason: DisputeReason = DisputeReason.royalty_payment,
    statement: str = STATEMENT,
) -> LicenseDispute:
    return disputes.open_dispute(
        session=session,
        license_=license_,
        organization_id=party.id,
        user_id=party.user.id,
        reason=reason,
        statement=statement,
    )


def mediate(session: Session, dispute: LicenseDispute, admin: Party) -> LicenseDispute:
    return disputes.start_mediation(
        session=session, dispute=dispute, mediator_user_id=admin.user.id
    )


def resolve(
    session: Session,
    dispute: LicenseDispute,
    admin: Party,
    outcome: DisputeOutcome = DisputeOutcome.settled,
) -> LicenseDispute:
    return disputes.resolve_dispute(
        session=session,
        dispute=dispute,
        admin_user_id=admin.user.id,
        outcome=outcome,
        text="The licensee pays by 2026-07-31.",
    )


def withdraw(session: Session, dispute: LicenseDispute, party: Party) -> LicenseDispute:
    return disputes.withdraw_dispute(
        session=session, dispute=dispute, organization_id=party.id, user_id=party.user.id
    )


def as_caller(party: Party) -> Caller:
    return factories.caller(party.organization, user=party.user)


def say(session: Session, dispute: LicenseDispute, party: Party) -> DisputeStatement:
    return disputes.add_statement(
        session=session,
        dispute=dispute,
        caller=as_caller(party),
        text="Payment was made on 2026-06-01.",
    )


def dispute_events(session: Session, party: Party) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(Event)
        .where(Event.recipient_id == party.id)
        .where(col(Event.type).startswith("dispute."))
        .order_by(col(Event.id))
    ).all()
    return [(row.type, row.subject) for row in rows]


def snapshot(session: Session) -> tuple[Any, ...]:
    """Everything a dispute request can write."""
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(LicenseDispute)),
        session.scalar(select(func.count()).select_from(DisputeStatement)),
        session.scalar(select(func.count()).select_from(Event)),
        tuple(
            session.execute(
                select(LicenseDispute.id, LicenseDispute.status, LicenseDispute.updated_at)
            ).all()
        ),
        tuple(session.execute(select(License.id, License.open_dispute_id)).all()),
    )


# The service: opening -----------------------------------------------------------------------


def test_a_party_opens_a_dispute_and_the_license_shows_disputed(
    session: Session, license_: License, licensor: Party, licensee: Party
) -> None:
    dispute = open_(session, license_, licensee)

    assert dispute.status is DisputeStatus.open
    assert (dispute.license_id, dispute.opened_by_org_id) == (license_.id, licensee.id)
    assert dispute.opened_by_user_id == licensee.user.id
    assert dispute.reason is DisputeReason.royalty_payment
    assert dispute.statement == STATEMENT
    assert dispute.opened_at == datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    assert dispute.mediator_user_id is None
    assert dispute.closed_at is None
    assert license_.open_dispute_id == dispute.id
    # The license's status is not touched: it is still active.
    assert license_.status is LicenseStatus.active
    public = licensing.to_public(license_)
    assert public.disputed is True
    assert public.open_dispute_id == dispute.id
    expected = [("dispute.opened", f"dispute:{dispute.id}")]
    assert dispute_events(session, licensor) == expected
    assert dispute_events(session, licensee) == expected


def test_the_licensor_may_open_one_too(
    session: Session, license_: License, licensor: Party
) -> None:
    dispute = open_(session, license_, licensor, DisputeReason.royalty_report)

    assert dispute.opened_by_org_id == licensor.id
    assert license_.open_dispute_id == dispute.id


def test_an_undisputed_license_shows_not_disputed(license_: License) -> None:
    public = licensing.to_public(license_)

    assert public.disputed is False
    assert public.open_dispute_id is None


def test_a_second_dispute_while_one_is_open_is_refused(
    session: Session, license_: License, licensor: Party, licensee: Party
) -> None:
    first = open_(session, license_, licensee)

    with pytest.raises(DisputeAlreadyOpen) as refused:
        open_(session, license_, licensor)

    assert refused.value.extra == {"dispute_id": first.id}


def test_a_second_dispute_while_one_is_in_mediation_is_refused(
    session: Session, license_: License, licensee: Party, admin: Party
) -> None:
    mediate(session, open_(session, license_, licensee), admin)

    with pytest.raises(DisputeAlreadyOpen):
        open_(session, license_, licensee)


def test_the_database_holds_one_active_dispute_per_license(
    session: Session, license_: License, licensee: Party
) -> None:
    open_(session, license_, licensee)
    assert license_.id is not None

    # Past the service's own check, straight into the table: the partial unique index refuses.
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            LicenseDispute(
                license_id=license_.id,
                opened_by_org_id=licensee.id,
                reason=DisputeReason.other,
                statement="again",
            )
        )


def test_the_database_refuses_a_mediation_without_a_mediator(
    session: Session, license_: License, licensee: Party
) -> None:
    dispute = open_(session, license_, licensee)

    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(
            sa.update(LicenseDispute)
            .where(col(LicenseDispute.id) == dispute.id)
            .values(status=DisputeStatus.mediation)
        )


def test_a_closed_dispute_lets_a_new_one_be_opened(
    session: Session, license_: License, licensee: Party, admin: Party
) -> None:
    first = open_(session, license_, licensee)
    resolve(session, first, admin)

    second = open_(session, license_, licensee, DisputeReason.scope_of_use)

    assert second.id != first.id
    assert license_.open_dispute_id == second.id


def test_a_terminated_license_may_still_be_disputed(
    session: Session, license_: License, licensor: Party, licensee: Party
) -> None:
    licensing.terminate_license(
        session=session, license_=license_, organization_id=licensee.id, reason=None
    )

    dispute = open_(session, license_, licensor)

    assert dispute.status is DisputeStatus.open
    assert license_.status is LicenseStatus.terminated
    assert license_.open_dispute_id == dispute.id


def test_an_expired_license_may_still_be_disputed(
    session: Session, license_: License, licensor: Party
) -> None:
    licensing.expire_licenses(session=session, today=date(2030, 1, 1))
    session.refresh(license_)
    assert license_.status is LicenseStatus.expired

    dispute = open_(session, license_, licensor, DisputeReason.royalty_payment)

    assert license_.open_dispute_id == dispute.id
    assert license_.status is LicenseStatus.expired


def test_expiry_leaves_an_open_dispute_in_place(
    session: Session, license_: License, licensee: Party
) -> None:
    dispute = open_(session, license_, licensee)

    licensing.expire_licenses(session=session, today=date(2030, 1, 1))
    session.refresh(license_)

    assert license_.status is LicenseStatus.expired
    assert license_.open_dispute_id == dispute.id


# The service: mediation, resolution, withdrawal -----------------------------------------------


def test_an_admin_takes_an_open_dispute_into_mediation(
    session: Session, license_: License, licensor: Party, licensee: Party, admin: Party
) -> None:
    dispute = open_(session, license_, licensee)

    mediate(session, dispute, admin)

    assert dispute.status is DisputeStatus.mediation
    assert dispute.mediator_user_id == admin.user.id
    assert dispute.mediation_started_at == datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    assert license_.open_dispute_id == dispute.id
    assert dispute_events(session, licensor)[-1] == (
        "dispute.mediation_started",
        f"dispute:{dispute.id}",
    )
    assert dispute_events(session, licensee)[-1][0] == "dispute.mediation_started"
    # Not the admin's organization: it is told nothing.
    assert dispute_events(session, admin) == []


def test_mediation_of_a_dispute_already_in_mediation_is_refused(
    session: Session, license_: License, licensee: Party, admin: Party, other_admin: Party
) -> None:
    dispute = mediate(session, open_(session, license_, licensee), admin)

    with pytest.raises(DisputeNotOpen):
        mediate(session, dispute, other_admin)

    assert dispute.mediator_user_id == admin.user.id


def test_mediation_of_a_closed_dispute_is_refused(
    session: Session, license_: License, licensee: Party, admin: Party
) -> None:
    dispute = withdraw(session, open_(session, license_, licensee), licensee)

    with pytest.raises(DisputeNotOpen):
        mediate(session, dispute, admin)


def test_a_mediator_is_a_person(session: Session, license_: License, licensee: Party) -> None:
    dispute = open_(session, license_, licensee)

    with pytest.raises(MediatorMustBeUser):
        disputes.start_mediation(session=session, dispute=dispute, mediator_user_id=None)

    assert dispute.status is DisputeStatus.open


def test_an_admin_resolves_a_mediated_dispute_and_the_license_is_no_longer_disputed(
    session: Session, license_: License, licensor: Party, licensee: Party, admin: Party
) -> None:
    dispute = mediate(session, open_(session, license_, licensee), admin)

    resolve(session, dispute, admin, DisputeOutcome.upheld)

    assert dispute.status is DisputeStatus.resolved
    assert dispute.resolution_outcome is DisputeOutcome.upheld
    assert dispute.resolution_text == "The licensee pays by 2026-07-31."
    assert dispute.closed_at == datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    assert dispute.closed_by_user_id == admin.user.id
    assert dispute.mediator_user_id == admin.user.id
    assert license_.open_dispute_id is None
    assert licensing.to_public(license_).disputed is False
    kinds = [kind for kind, _ in dispute_events(session, licensor)]
    assert kinds == ["dispute.opened", "dispute.mediation_started", "dispute.resolved"]
    assert [kind for kind, _ in dispute_events(session, licensee)] == kinds


def test_an_open_dispute_may_be_resolved_without_mediation(
    session: Session, license_: License, licensee: Party, admin: Party
) -> None:
    dispute = open_(session, license_, licensee)

    resolve(session, dispute, admin)

    assert dispute.status is DisputeStatus.resolved
    # Recorded as settled before mediation: no mediator, no mediation start.
    assert dispute.mediator_user_id is None
    assert dispute.mediation_started_at is None
    assert dispute.closed_by_user_id == admin.user.id
    assert license_.open_dispute_id is None


def test_any_admin_may_resolve_not_only_the_mediator(
    session: Session, license_: License, licensee: Party, admin: Party, other_admin: Party
) -> None:
    dispute = mediate(session, open_(session, license_, licensee), admin)

    resolve(session, dispute, other_admin)

    assert dispute.mediator_user_id == admin.user.id
    assert dispute.closed_by_user_id == other_admin.user.id


@pytest.mark.parametrize("close", ["resolve", "withdraw"])
def test_a_closed_dispute_cannot_be_resolved(
    session: Session, license_: License, licensee: Party, admin: Party, close: str
) -> None:
    dispute = open_(session, license_, licensee)
    if close == "resolve":
        resolve(session, dispute, admin)
    else:
        withdraw(session, dispute, licensee)
    status = dispute.status

    with pytest.raises(DisputeClosed):
        resolve(session, dispute, admin, DisputeOutcome.rejected)

    assert dispute.status is status


@pytest.mark.parametrize("in_mediation", [False, True])
def test_the_opener_withdraws_its_dispute(
    session: Session,
    license_: License,
    licensor: Party,
    licensee: Party,
    admin: Party,
    in_mediation: bool,
) -> None:
    dispute = open_(session, license_, licensor)
    if in_mediation:
        mediate(session, dispute, admin)

    withdraw(session, dispute, licensor)

    assert dispute.status is DisputeStatus.withdrawn
    assert dispute.closed_at is not None
    assert dispute.closed_by_user_id == licensor.user.id
    assert dispute.resolution_outcome is None
    assert license_.open_dispute_id is None
    assert dispute_events(session, licensee)[-1][0] == "dispute.withdrawn"


def test_the_other_party_may_not_withdraw(
    session: Session, license_: License, licensor: Party, licensee: Party
) -> None:
    dispute = open_(session, license_, licensee)

    with pytest.raises(OnlyOpenerWithdraws):
        withdraw(session, dispute, licensor)

    assert dispute.status is DisputeStatus.open
    assert license_.open_dispute_id == dispute.id


def test_a_withdrawn_dispute_cannot_be_withdrawn_again(
    session: Session, license_: License, licensee: Party
) -> None:
    dispute = withdraw(session, open_(session, license_, licensee), licensee)

    with pytest.raises(DisputeClosed):
        withdraw(session, dispute, licensee)


def test_closing_leaves_a_newer_dispute_on_the_license_alone(
    session: Session, license_: License, licensee: Party, admin: Party
) -> None:
    first = open_(session, license_, licensee)
    resolve(session, first, admin)
    second = open_(session, license_, licensee)

    # A late second resolution of the first is refused and does not clear the second.
    with pytest.raises(DisputeClosed):
        resolve(session, first, admin)

    session.refresh(license_)
    assert license_.open_dispute_id == second.id


# The service: statements ------------------------------------------------------------------------


def test_both_parties_and_the_mediator_add_statements(
    session: Session, license_: License, licensor: Party, licensee: Party, admin: Party
) -> None:
    dispute = open_(session, license_, licensee)
    by_licensor = say(session, dispute, licensor)
    mediate(session, dispute, admin)
    by_licensee = say(session, dispute, licensee)
    by_mediator = say(session, dispute, admin)

    assert [s.author_role for s in (by_licensor, by_licensee, by_mediator)] == [
        DisputeAuthorRole.licensor,
        DisputeAuthorRole.licensee,
        DisputeAuthorRole.mediator,
    ]
    assert (by_mediator.author_org_id, by_mediator.author_user_id) == (admin.id, admin.user.id)
    assert by_licensor.text == "Payment was made on 2026-06-01."
    found, cursor = disputes.list_statements(
        session=session, dispute=dispute, params=PageParams(limit=2)
    )
    assert [s.id for s in found] == [by_mediator.id, by_licensee.id]
    assert cursor is not None
    rest, end = disputes.list_statements(
        session=session, dispute=dispute, params=PageParams(limit=2, cursor=cursor)
    )
    assert [s.id for s in rest] == [by_licensor.id]
    assert end is None
    kinds = [kind for kind, _ in dispute_events(session, licensor)]
    assert kinds.count("dispute.statement_added") == 3


def test_an_admin_who_is_not_the_mediator_may_not_add_statements(
    session: Session, license_: License, licensee: Party, admin: Party, other_admin: Party
) -> None:
    dispute = open_(session, license_, licensee)

    # Before mediation there is no mediator at all.
    with pytest.raises(NotDisputeParticipant):
        say(session, dispute, admin)
    mediate(session, dispute, admin)
    with pytest.raises(NotDisputeParticipant):
        say(session, dispute, other_admin)


def test_statements_on_a_closed_dispute_are_refused(
    session: Session, license_: License, licensor: Party, licensee: Party, admin: Party
) -> None:
    dispute = resolve(session, mediate(session, open_(session, license_, licensee), admin), admin)

    for author in (licensor, licensee, admin):
        with pytest.raises(DisputeClosed):
            say(session, dispute, author)


# The service: reading ---------------------------------------------------------------------------


def test_only_parties_and_admins_see_a_dispute(
    session: Session,
    license_: License,
    licensee: Party,
    licensor: Party,
    stranger: Party,
    admin: Party,
) -> None:
    dispute = open_(session, license_, licensee)
    assert dispute.id is not None

    for party in (licensor, licensee):
        seen = disputes.get_dispute(session=session, dispute_id=dispute.id, caller=as_caller(party))
        assert seen.id == dispute.id
    assert (
        disputes.get_dispute(session=session, dispute_id=dispute.id, caller=as_caller(admin)).id
        == dispute.id
    )
    with pytest.raises(DisputeNotFound):
        disputes.get_dispute(session=session, dispute_id=dispute.id, caller=as_caller(stranger))
    assert license_.id is not None
    with pytest.raises(LicenseNotFound):
        licensing.get_license(
            session=session, license_id=license_.id, caller=as_caller(stranger), mediation=True
        )
    # A platform admin sees a license only to mediate its disputes.
    assert licensing.get_license(
        session=session, license_id=license_.id, caller=as_caller(admin), mediation=True
    )
    with pytest.raises(LicenseNotFound):
        licensing.get_license(session=session, license_id=license_.id, caller=as_caller(admin))


def test_listing_disputes_by_role_and_filters(
    session: Session,
    grant: Grant,
    license_: License,
    licensor: Party,
    licensee: Party,
    new_party: NewParty,
    admin: Party,
) -> None:
    other_licensee = new_party()
    other_license = grant(other_licensee)
    mine = open_(session, license_, licensee, DisputeReason.royalty_payment)
    theirs = open_(session, other_license, licensor, DisputeReason.scope_of_use)
    mediate(session, theirs, admin)

    def ids(party: Party, **filters: Any) -> list[int | None]:
        found, _ = disputes.list_disputes(
            session=session,
            caller=as_caller(party),
            params=PageParams(),
            **filters,
        )
        return [d.id for d in found]

    assert ids(licensee) == [mine.id]
    assert ids(other_licensee) == [theirs.id]
    assert ids(licensor) == [theirs.id, mine.id]
    assert ids(admin) == [theirs.id, mine.id]
    assert ids(admin, status=DisputeStatus.mediation) == [theirs.id]
    assert ids(admin, reason=DisputeReason.royalty_payment) == [mine.id]
    assert ids(admin, license_id=other_license.id) == [theirs.id]
    assert ids(licensee, license_id=other_license.id) == []


# HTTP ----------------------------------------------------------------------------------------


def open_http(
    client: TestClient, license_id: int | None, party: Party | None, **body: Any
) -> httpx.Response:
    payload = {"reason": "royalty_payment", "statement": STATEMENT} | body
    response: httpx.Response = client.post(
        f"/api/v1/licenses/{license_id}/disputes",
        headers=party.headers if party else {},
        json=payload,
    )
    return response


def opened(client: TestClient, license_: License, party: Party) -> int:
    response = open_http(client, license_.id, party)
    assert response.status_code == 201, response.text
    dispute_id: int = response.json()["id"]
    return dispute_id


def post(
    client: TestClient, path: str, party: Party | None, body: dict[str, Any] | None = None
) -> httpx.Response:
    response: httpx.Response = client.post(path, headers=party.headers if party else {}, json=body)
    return response


RESOLUTION = {"outcome": "settled", "text": "The licensee pays by 2026-07-31."}


def test_http_open_a_dispute(
    session: Session, client: TestClient, license_: License, licensor: Party, licensee: Party
) -> None:
    response = open_http(client, license_.id, licensee, reason="scope_of_use")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "open"
    assert body["reason"] == "scope_of_use"
    assert body["statement"] == STATEMENT
    assert (body["license_id"], body["opened_by_org_id"]) == (license_.id, licensee.id)
    assert body["mediator_user_id"] is None
    assert body["opened_at"] == "2026-06-15T09:30:00Z"
    for party in (licensor, licensee):
        shown = client.get(f"/api/v1/licenses/{license_.id}", headers=party.headers).json()
        assert shown["disputed"] is True
        assert shown["open_dispute_id"] == body["id"]
        assert shown["status"] == "active"
    # (The feed itself hides events of transactions still open, as the test's is on PostgreSQL.)
    for party in (licensor, licensee):
        assert dispute_events(session, party) == [("dispute.opened", f"dispute:{body['id']}")]


def test_http_open_refusals_write_nothing(
    session: Session,
    client: TestClient,
    license_: License,
    licensor: Party,
    licensee: Party,
    stranger: Party,
    admin: Party,
    new_party: NewParty,
) -> None:
    bank = new_party(kind=OrganizationKind.bank)
    opened(client, license_, licensee)
    before = snapshot(session)

    assert_problem(open_http(client, license_.id, None), 401, "not_authenticated")
    assert_problem(open_http(client, license_.id, bank), 403, "insufficient_scope")
    assert_problem(open_http(client, license_.id, admin), 403, "insufficient_scope")
    assert_problem(open_http(client, license_.id, stranger), 404, "license_not_found")
    assert_problem(open_http(client, 999_999, licensee), 404, "license_not_found")
    assert_problem(open_http(client, license_.id, licensor), 409, "dispute_already_open")
    for bad in (
        {"reason": "because"},
        {"statement": ""},
        {"statement": "   \n "},
        {"statement": "x" * (DISPUTE_TEXT_MAX_CHARS + 1)},
    ):
        assert_problem(open_http(client, license_.id, licensor, **bad), 422, "validation_failed")

    assert snapshot(session) == before


def test_http_read_disputes(
    client: TestClient,
    license_: License,
    licensor: Party,
    licensee: Party,
    stranger: Party,
    admin: Party,
    new_party: NewParty,
) -> None:
    dispute_id = opened(client, license_, licensee)
    bank = new_party(kind=OrganizationKind.bank)

    for party in (licensor, licensee, admin):
        one = client.get(f"/api/v1/disputes/{dispute_id}", headers=party.headers)
        assert one.status_code == 200, one.text
        assert one.json()["id"] == dispute_id
        listed = client.get(f"/api/v1/licenses/{license_.id}/disputes", headers=party.headers)
        assert [d["id"] for d in listed.json()["items"]] == [dispute_id]
        all_ = client.get("/api/v1/disputes", headers=party.headers).json()
        assert [d["id"] for d in all_["items"]] == [dispute_id]
    assert client.get("/api/v1/disputes", headers=stranger.headers).json()["items"] == []
    assert_problem(
        client.get(f"/api/v1/disputes/{dispute_id}", headers=stranger.headers),
        404,
        "dispute_not_found",
    )
    assert_problem(
        client.get(f"/api/v1/licenses/{license_.id}/disputes", headers=stranger.headers),
        404,
        "license_not_found",
    )
    assert_problem(
        client.get(f"/api/v1/disputes/{dispute_id + 1000}", headers=admin.headers),
        404,
        "dispute_not_found",
    )
    assert_problem(client.get(f"/api/v1/disputes/{dispute_id}"), 401, "not_authenticated")
    assert_problem(client.get("/api/v1/disputes", headers=bank.headers), 403, "insufficient_scope")
    assert_problem(
        client.get("/api/v1/disputes", params={"status": "pending"}, headers=admin.headers),
        422,
        "validation_failed",
    )
    assert_problem(
        client.get("/api/v1/disputes", params={"cursor": "nonsense"}, headers=admin.headers),
        422,
        "invalid_cursor",
    )


def test_http_list_filters_and_pages(
    client: TestClient,
    grant: Grant,
    license_: License,
    licensor: Party,
    new_party: NewParty,
    admin: Party,
) -> None:
    licensees = [new_party() for _ in range(2)]
    ids = [opened(client, license_, licensor)]
    ids += [opened(client, grant(party), party) for party in licensees]
    post(client, f"/api/v1/disputes/{ids[1]}/mediation", admin)

    first = client.get("/api/v1/disputes", params={"limit": 2}, headers=admin.headers).json()
    assert [d["id"] for d in first["items"]] == [ids[2], ids[1]]
    rest = client.get(
        "/api/v1/disputes",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=admin.headers,
    ).json()
    assert [d["id"] for d in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    mediated = client.get(
        "/api/v1/disputes", params={"status": "mediation"}, headers=admin.headers
    ).json()
    assert [d["id"] for d in mediated["items"]] == [ids[1]]
    by_license = client.get(
        "/api/v1/disputes", params={"license_id": license_.id}, headers=licensor.headers
    ).json()
    assert [d["id"] for d in by_license["items"]] == [ids[0]]


def test_http_mediation_and_resolution(
    session: Session,
    client: TestClient,
    license_: License,
    licensor: Party,
    licensee: Party,
    admin: Party,
) -> None:
    dispute_id = opened(client, license_, licensee)

    mediated = post(client, f"/api/v1/disputes/{dispute_id}/mediation", admin)
    assert mediated.status_code == 200, mediated.text
    assert mediated.json()["status"] == "mediation"
    assert mediated.json()["mediator_user_id"] == admin.user.id

    resolved = post(client, f"/api/v1/disputes/{dispute_id}/resolve", admin, RESOLUTION)
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["status"], body["resolution_outcome"]) == ("resolved", "settled")
    assert body["resolution_text"] == RESOLUTION["text"]
    assert body["closed_at"] == "2026-06-15T09:30:00Z"
    shown = client.get(f"/api/v1/licenses/{license_.id}", headers=licensor.headers).json()
    assert (shown["disputed"], shown["open_dispute_id"]) == (False, None)

    before = snapshot(session)
    assert_problem(
        post(client, f"/api/v1/disputes/{dispute_id}/mediation", admin), 409, "dispute_not_open"
    )
    assert_problem(
        post(client, f"/api/v1/disputes/{dispute_id}/resolve", admin, RESOLUTION),
        409,
        "dispute_closed",
    )
    assert snapshot(session) == before


def test_http_admin_actions_refusals_write_nothing(
    session: Session,
    client: TestClient,
    license_: License,
    licensor: Party,
    licensee: Party,
    admin: Party,
) -> None:
    dispute_id = opened(client, license_, licensee)
    before = snapshot(session)

    for action, body in (("mediation", None), ("resolve", RESOLUTION)):
        path = f"/api/v1/disputes/{dispute_id}/{action}"
        assert_problem(post(client, path, None, body), 401, "not_authenticated")
        for party in (licensor, licensee):
            assert_problem(post(client, path, party, body), 403, "not_platform_admin")
        assert_problem(
            post(client, f"/api/v1/disputes/{dispute_id + 1000}/{action}", admin, body),
            404,
            "dispute_not_found",
        )
    resolve_path = f"/api/v1/disputes/{dispute_id}/resolve"
    for bad in (
        {"outcome": "won", "text": "x"},
        {"outcome": "settled", "text": " "},
        {"outcome": "settled"},
        {"outcome": "settled", "text": "x" * (DISPUTE_TEXT_MAX_CHARS + 1)},
    ):
        assert_problem(post(client, resolve_path, admin, bad), 422, "validation_failed")

    assert snapshot(session) == before


def test_http_resolve_straight_from_open(
    client: TestClient, license_: License, licensee: Party, admin: Party
) -> None:
    dispute_id = opened(client, license_, licensee)

    resolved = post(
        client,
        f"/api/v1/disputes/{dispute_id}/resolve",
        admin,
        {"outcome": "referred_to_court", "text": "Filed with the Hangzhou IP court."},
    )

    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["status"], body["resolution_outcome"]) == ("resolved", "referred_to_court")
    assert (body["mediator_user_id"], body["mediation_started_at"]) == (None, None)
    assert body["closed_by_user_id"] == admin.user.id


def test_http_withdraw(
    session: Session,
    client: TestClient,
    license_: License,
    licensor: Party,
    licensee: Party,
    stranger: Party,
    admin: Party,
) -> None:
    dispute_id = opened(client, license_, licensee)
    path = f"/api/v1/disputes/{dispute_id}/withdraw"
    before = snapshot(session)

    assert_problem(post(client, path, None), 401, "not_authenticated")
    assert_problem(post(client, path, licensor), 403, "only_opener_can_withdraw")
    assert_problem(post(client, path, admin), 403, "insufficient_scope")
    assert_problem(post(client, path, stranger), 404, "dispute_not_found")
    assert_problem(post(client, "/api/v1/disputes/0/withdraw", licensee), 422, "validation_failed")
    assert snapshot(session) == before

    withdrawn = post(client, path, licensee)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    shown = client.get(f"/api/v1/licenses/{license_.id}", headers=licensee.headers).json()
    assert shown["disputed"] is False

    before = snapshot(session)
    assert_problem(post(client, path, licensee), 409, "dispute_closed")
    assert snapshot(session) == before


def test_http_statements(
    session: Session,
    client: TestClient,
    license_: License,
    licensor: Party,
    licensee: Party,
    stranger: Party,
    admin: Party,
    other_admin: Party,
) -> None:
    dispute_id = opened(client, license_, licensee)
    path = f"/api/v1/disputes/{dispute_id}/statements"
    text = {"text": "Payment was made on 2026-06-01; the bank slip is attached."}

    by_licensor = post(client, path, licensor, text)
    assert by_licensor.status_code == 201, by_licensor.text
    assert by_licensor.json()["author_role"] == "licensor"
    assert by_licensor.json()["text"] == text["text"]
    post(client, f"/api/v1/disputes/{dispute_id}/mediation", admin)
    by_mediator = post(client, path, admin, {"text": "Both parties: send the bank records."})
    assert by_mediator.status_code == 201, by_mediator.text
    assert by_mediator.json()["author_role"] == "mediator"

    listed = client.get(path, headers=licensee.headers)
    assert [s["author_role"] for s in listed.json()["items"]] == ["mediator", "licensor"]
    assert_problem(client.get(path, headers=stranger.headers), 404, "dispute_not_found")

    before = snapshot(session)
    assert_problem(post(client, path, None, text), 401, "not_authenticated")
    assert_problem(post(client, path, other_admin, text), 403, "not_dispute_participant")
    assert_problem(post(client, path, stranger, text), 404, "dispute_not_found")
    for bad in ({"text": ""}, {"text": "\t"}, {}, {"text": "x" * (DISPUTE_TEXT_MAX_CHARS + 1)}):
        assert_problem(post(client, path, licensee, bad), 422, "validation_failed")
    assert snapshot(session) == before

    post(client, f"/api/v1/disputes/{dispute_id}/withdraw", licensee)
    before = snapshot(session)
    assert_problem(post(client, path, licensor, text), 409, "dispute_closed")
    assert snapshot(session) == before
