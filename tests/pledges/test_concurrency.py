"""At most one active pledge per patent, under real concurrency (PostgreSQL only).

The app runs as deployed, on the real engine with its own request sessions, so every request
commits for real and the database sees the requests side by side."""

from dataclasses import dataclass
from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.patents.models import Patent
from marketplace.pledges.models import (
    ACTIVE_PLEDGE_STATUSES,
    Pledge,
    PledgeChange,
    PledgePatent,
    PledgeStatus,
)
from tests import factories
from tests.concurrency import Call, send_at_once
from tests.conftest import postgres_only
from tests.pledges.conftest import SECURED_AMOUNT, make_pledge
from tests.problems import assert_problem

pytestmark = postgres_only

CANCEL = {"reason": "debt_repaid"}
AMENDED_AMOUNT = Decimal("6500000.00")


@dataclass(frozen=True)
class Lender:
    """A bank's pledge on the contested patent, and the bank's bearer headers."""

    pledge_id: int
    headers: dict[str, str]


@dataclass(frozen=True)
class Contest:
    patent_id: int
    application_number: str
    admin: dict[str, str]
    # The registered pledge, when the contest starts from one.
    holder: Lender | None
    # Applications confirmed by the pledgor and waiting for registration.
    waiting: list[Lender]


def lender(session: Session, pledgor: Organization, patent: Patent, status: PledgeStatus) -> Lender:
    user = factories.member(session, kind=OrganizationKind.bank)
    bank = session.get(Organization, user.organization_id)
    assert bank is not None
    pledge = make_pledge(session, pledgee=bank, pledgor=pledgor, patents=[patent], status=status)
    return Lender(pledge.id or 0, factories.auth(session, user))


def contest(engine: Engine, *, waiting: int, registered: bool = False) -> Contest:
    """Commit one patent with ``waiting`` confirmed applications from as many banks, and, when
    ``registered``, one more bank's pledge registered on it after they applied."""
    with Session(engine, expire_on_commit=False) as session:
        owner = factories.organization(session, kind=OrganizationKind.enterprise)
        patent = factories.patent(session, owner)
        applied = [lender(session, owner, patent, PledgeStatus.applied) for _ in range(waiting)]
        holder = lender(session, owner, patent, PledgeStatus.registered) if registered else None
        built = Contest(
            patent_id=patent.id or 0,
            application_number=patent.application_number,
            admin=factories.auth(session, factories.platform_admin(session)),
            holder=holder,
            waiting=applied,
        )
        session.commit()
    return built


def register(pledge_id: int, admin: dict[str, str]) -> Call:
    """A platform admin records the office's registration (a number of its own per pledge)."""
    return Call(
        "POST",
        f"/api/v1/pledges/{pledge_id}/registration",
        admin,
        {"registration_number": f"Y2026980{pledge_id:06d}", "registration_date": "2026-06-15"},
    )


def cancel(holder: Lender) -> Call:
    return Call("POST", f"/api/v1/pledges/{holder.pledge_id}/cancel", holder.headers, CANCEL)


def amend(holder: Lender) -> Call:
    return Call(
        "PATCH",
        f"/api/v1/pledges/{holder.pledge_id}",
        holder.headers,
        {"secured_amount": str(AMENDED_AMOUNT)},
    )


def pledges_on(engine: Engine, patent_id: int) -> dict[int, Pledge]:
    with Session(engine) as session:
        found = session.scalars(
            select(Pledge)
            .join(PledgePatent)
            .where(PledgePatent.patent_id == patent_id)
            .order_by(col(Pledge.id))
        ).all()
        return {pledge.id or 0: pledge for pledge in found}


def active_pledge_of(engine: Engine, patent_id: int) -> int | None:
    with Session(engine) as session:
        patent = session.get(Patent, patent_id)
        assert patent is not None
        return patent.active_pledge_id


def history(engine: Engine, pledge_id: int) -> list[PledgeChange]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(PledgeChange)
                .where(PledgeChange.pledge_id == pledge_id)
                .order_by(col(PledgeChange.id))
            ).all()
        )


def statuses_in_history(engine: Engine, pledge_id: int) -> list[PledgeStatus]:
    return [change.status for change in history(engine, pledge_id)]


def assert_never_two_active_pledges(engine: Engine, patent_id: int) -> int | None:
    """The patent's register entry and its pledges agree: at most one is active, and that one
    is the patent's ``active_pledge_id``. Returns it."""
    active = [
        pledge_id
        for pledge_id, pledge in pledges_on(engine, patent_id).items()
        if pledge.status in ACTIVE_PLEDGE_STATUSES
    ]
    assert len(active) <= 1, active
    claimed = active_pledge_of(engine, patent_id)
    assert claimed == (active[0] if active else None)
    return claimed


def test_ten_registrations_at_once_on_one_patent_register_exactly_one(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    world = contest(committed_engine, waiting=10)

    responses = send_at_once(
        live_app, [register(each.pledge_id, world.admin) for each in world.waiting]
    )

    assert sorted(r.status_code for r in responses) == [200] + [409] * 9, [
        r.text for r in responses
    ]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "patent_already_pledged")
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    assert winner["status"] == "registered"
    assert winner["registration_number"]
    stored = pledges_on(committed_engine, world.patent_id)
    assert [p.id for p in stored.values() if p.status == PledgeStatus.registered] == [winner["id"]]
    assert assert_never_two_active_pledges(committed_engine, world.patent_id) == winner["id"]
    losers = [pledge for pledge in stored.values() if pledge.id != winner["id"]]
    # A refused registration leaves nothing behind: still an application, off the register.
    assert {pledge.status for pledge in losers} == {PledgeStatus.applied}
    assert {pledge.registration_number for pledge in losers} == {None}
    for pledge in losers:
        assert PledgeStatus.registered not in statuses_in_history(committed_engine, pledge.id or 0)

    # Banks asking afterwards see the winner on the register.
    (check,) = send_at_once(
        live_app,
        [
            Call(
                "POST",
                "/api/v1/encumbrances/check",
                world.waiting[0].headers,
                {"application_numbers": [world.application_number]},
            )
        ],
    )
    assert check.status_code == 200, check.text
    assert check.json()["results"][0]["active_pledge"]["pledge_id"] == winner["id"]


def test_cancellation_racing_an_amendment_leaves_a_coherent_cancelled_pledge(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    # Several independent races at once, so that either request gets to go first.
    worlds = [contest(committed_engine, waiting=0, registered=True) for _ in range(6)]
    holders = [world.holder for world in worlds if world.holder is not None]
    calls = [call for holder in holders for call in (amend(holder), cancel(holder))]

    responses = send_at_once(live_app, calls)

    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    for world, holder, amended, cancelled in zip(
        worlds, holders, responses[::2], responses[1::2], strict=True
    ):
        # An amendment never stops a cancellation; it either came first or was too late.
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        stored = pledges_on(committed_engine, world.patent_id)[holder.pledge_id]
        assert stored.status == PledgeStatus.cancelled
        assert stored.cancelled_at is not None
        assert stored.cancellation_reason == "debt_repaid"
        assert assert_never_two_active_pledges(committed_engine, world.patent_id) is None
        steps = statuses_in_history(committed_engine, holder.pledge_id)
        if amended.status_code == 200:
            assert amended.json()["status"] == "changed"
            assert steps[-3:] == [
                PledgeStatus.registered,
                PledgeStatus.changed,
                PledgeStatus.cancelled,
            ]
            assert stored.secured_amount == AMENDED_AMOUNT
        else:
            assert_problem(amended, 409, "pledge_wrong_state")
            assert steps[-2:] == [PledgeStatus.registered, PledgeStatus.cancelled]
            assert stored.secured_amount == SECURED_AMOUNT
        assert steps.count(PledgeStatus.cancelled) == 1


def test_registration_racing_the_cancellation_of_the_pledge_before_never_doubles_up(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    # Cancellations go first and the registrations of later patents start later, so that across
    # the patents a registration sees the earlier pledge still registered, just cancelled, or
    # freed and contested by the other applications.
    worlds = [contest(committed_engine, waiting=3, registered=True) for _ in range(8)]
    holders = [world.holder for world in worlds if world.holder is not None]
    calls = [cancel(holder) for holder in holders] + [
        register(each.pledge_id, world.admin) for world in worlds for each in world.waiting
    ]

    responses = send_at_once(live_app, calls)

    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    cancellations, registrations = responses[: len(worlds)], responses[len(worlds) :]
    for index, (world, holder, cancelled) in enumerate(
        zip(worlds, holders, cancellations, strict=True)
    ):
        mine = registrations[index * 3 : (index + 1) * 3]
        assert cancelled.status_code == 200, cancelled.text
        for response in mine:
            if response.status_code != 200:
                assert_problem(response, 409, "patent_already_pledged")
        winners = [r.json()["id"] for r in mine if r.status_code == 200]
        assert len(winners) <= 1
        stored = pledges_on(committed_engine, world.patent_id)
        assert stored[holder.pledge_id].status == PledgeStatus.cancelled
        claimed = assert_never_two_active_pledges(committed_engine, world.patent_id)
        assert claimed == (winners[0] if winners else None)
