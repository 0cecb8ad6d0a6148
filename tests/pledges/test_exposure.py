"""A bank's book (exposure) and the licensing income of pledged patents."""

from datetime import date, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.licensing import payments
from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License
from marketplace.licensing.models.obligations import Obligation, ObligationKind, PaymentCreate
from marketplace.patents import service as patents
from marketplace.patents.models import LegalStatus, Patent, PatentUpdate
from marketplace.pledges import exposure as exposure_report
from marketplace.pledges import lifecycle
from marketplace.pledges.models import CancellationReason, Pledge, PledgeCancellation, PledgeCreate
from marketplace.workflows import acceptance
from tests import factories
from tests.factories import SetToday
from tests.pledges.conftest import register
from tests.problems import assert_problem

TODAY = date(2026, 6, 15)


def org(session: Session, kind: OrganizationKind) -> Organization:
    return factories.organization(session, kind=kind)


def registered_pledge(
    session: Session,
    *,
    bank: Organization,
    pledgor: Organization,
    patent_list: list[Patent],
    amount: str,
    debt_end: date = date(2029, 6, 30),
    consents: bool = False,
) -> Pledge:
    pledge = lifecycle.apply_for_pledge(
        session=session,
        pledgee=bank,
        data=PledgeCreate(
            pledgor_id=pledgor.id or 0,
            application_numbers=[p.application_number for p in patent_list],
            secured_amount=Decimal(amount),
            debt_start_date=TODAY,
            debt_end_date=debt_end,
            consents_to_open_licenses=consents,
        ),
    )
    lifecycle.confirm_pledge(session=session, pledge=pledge, pledgor=pledgor)
    return register(session, pledge, factories.caller(bank))


def test_exposure_groups_the_book_by_pledgor_section_and_maturity(session: Session) -> None:
    bank = org(session, OrganizationKind.bank)
    first, second = (
        org(session, OrganizationKind.enterprise),
        org(session, OrganizationKind.enterprise),
    )
    battery = factories.patent(session, first, ipc_codes=["H01M 10/0525"])
    software = factories.patent(session, first, ipc_codes=["G06F 16/33"])
    machine = factories.patent(
        session, second, ipc_codes=["F16C 19/00"], fee_paid_until=TODAY + timedelta(days=300)
    )
    registered_pledge(
        session, bank=bank, pledgor=first, patent_list=[battery, software], amount="1000000"
    )
    registered_pledge(
        session,
        bank=bank,
        pledgor=second,
        patent_list=[machine],
        amount="250000",
        debt_end=date(2027, 12, 31),
    )

    book = exposure_report.exposure(session=session, pledgee_id=bank.id or 0, today=TODAY)

    assert (book.pledges, book.patents) == (2, 3)
    assert [
        (row.pledgor_id, row.pledges, row.patents, row.secured_amount) for row in book.by_pledgor
    ] == [
        (first.id, 1, 2, Decimal("1000000.00")),
        (second.id, 1, 1, Decimal("250000.00")),
    ]
    # A pledge's amount is shared equally by its patents.
    assert [(row.section, row.patents, row.secured_amount) for row in book.by_ipc_section] == [
        ("F", 1, Decimal("250000.00")),
        ("G", 1, Decimal("500000.00")),
        ("H", 1, Decimal("500000.00")),
    ]
    assert [
        (row.debt_end_year, row.pledges, row.secured_amount) for row in book.by_debt_end_year
    ] == [
        (2027, 1, Decimal("250000.00")),
        (2029, 1, Decimal("1000000.00")),
    ]
    # The factories' fee is paid for 200 days: due beyond 90 days. None of the three is at risk.
    assert book.patents_fee_due_within_90_days == 0
    assert book.fee_due_within_90_days_share == Decimal(0)


def test_exposure_flags_fees_due_soon_and_status_changes_after_registration(
    session: Session, set_today: SetToday
) -> None:
    bank = org(session, OrganizationKind.bank)
    owner = org(session, OrganizationKind.enterprise)
    due_soon = factories.patent(session, owner, fee_paid_until=TODAY + timedelta(days=30))
    safe = factories.patent(session, owner, fee_paid_until=TODAY + timedelta(days=200))
    registered_pledge(
        session, bank=bank, pledgor=owner, patent_list=[due_soon, safe], amount="1000"
    )

    set_today(TODAY + timedelta(days=5))
    patents.update_patent(
        session=session, patent=safe, changes=PatentUpdate(legal_status=LegalStatus.invalidated)
    )
    book = exposure_report.exposure(session=session, pledgee_id=bank.id or 0, today=TODAY)

    assert book.patents_fee_due_within_90_days == 1
    assert book.fee_due_within_90_days_share == Decimal("0.5000")
    assert [
        (item.patent_id, item.legal_status) for item in book.status_changed_since_registration
    ] == [(safe.id, "invalidated")]


def test_exposure_leaves_out_other_banks_and_ended_pledges(session: Session) -> None:
    bank, other_bank = org(session, OrganizationKind.bank), org(session, OrganizationKind.bank)
    owner = org(session, OrganizationKind.enterprise)
    mine = registered_pledge(
        session,
        bank=bank,
        pledgor=owner,
        patent_list=[factories.patent(session, owner)],
        amount="10",
    )
    registered_pledge(
        session,
        bank=other_bank,
        pledgor=owner,
        patent_list=[factories.patent(session, owner)],
        amount="20",
    )
    lifecycle.cancel_pledge(
        session=session,
        pledge=mine,
        caller=factories.caller(bank),
        cancellation=PledgeCancellation(reason=CancellationReason.debt_repaid),
    )
    book = exposure_report.exposure(session=session, pledgee_id=bank.id or 0, today=TODAY)
    assert (book.pledges, book.patents, book.by_pledgor) == (0, 0, [])


def test_exposure_endpoint_is_the_callers_own_book(client: TestClient, session: Session) -> None:
    bank_user = factories.member(session, kind=OrganizationKind.bank)
    bank = session.get_one(Organization, bank_user.organization_id)
    owner = org(session, OrganizationKind.enterprise)
    registered_pledge(
        session,
        bank=bank,
        pledgor=owner,
        patent_list=[factories.patent(session, owner)],
        amount="99",
    )
    response = client.get("/api/v1/pledges/exposure", headers=factories.auth(session, bank_user))
    assert response.status_code == 200, response.text
    assert response.json()["by_pledgor"][0]["secured_amount"] == "99.00"

    other = client.get(
        "/api/v1/pledges/exposure",
        headers=factories.auth(session, factories.member(session, kind=OrganizationKind.bank)),
    )
    assert other.json()["pledges"] == 0
    university = factories.member(session, kind=OrganizationKind.university)
    assert_problem(
        client.get("/api/v1/pledges/exposure", headers=factories.auth(session, university)),
        403,
        "insufficient_scope",
    )
    assert_problem(client.get("/api/v1/pledges/exposure"), 401, "not_authenticated")


def sweep_lapses(session: Session) -> list[License]:
    return licensing.lapse_unpaid_licenses(session=session, today=clock.today())


def upfront_obligation(session: Session, license_id: int | None) -> Obligation:
    return session.scalars(
        select(Obligation).where(
            Obligation.license_id == license_id, Obligation.kind == ObligationKind.upfront
        )
    ).one()


def test_license_income_covers_every_license_on_the_pledged_patents(
    client: TestClient, session: Session, set_today: SetToday
) -> None:
    bank_user = factories.member(session, kind=OrganizationKind.bank)
    bank = session.get_one(Organization, bank_user.organization_id)
    owner = org(session, OrganizationKind.university)
    pledged = factories.patent(session, owner)
    _, offer = factories.published_listing(session, owner, patent_list=[pledged])

    def take_license(day: date, key: str) -> License:
        set_today(day)
        license_ = acceptance.accept_offer(
            session=session,
            offer_id=offer.id or 0,
            licensee=org(session, OrganizationKind.enterprise),
            user=None,
            idempotency_key=key,
        ).license
        return license_

    # A license from before the pledge counts too: its income is the patent's.
    before = take_license(date(2026, 6, 15), "before")
    pledge = registered_pledge(
        session, bank=bank, pledgor=owner, patent_list=[pledged], amount="5", consents=True
    )
    under = take_license(date(2026, 7, 1), "under")
    # The first license's entry fee is paid and confirmed on 2026-07-10, when that license takes
    # effect; the second's is not paid, and that license waits for it.
    set_today(date(2026, 7, 10))
    owed = upfront_obligation(session, before.id)
    payment = payments.record_payment(
        session=session,
        obligation_id=owed.id or 0,
        organization_id=before.licensee_id,
        user=None,
        data=PaymentCreate(amount=owed.amount, paid_on=date(2026, 7, 10), reference="TT-1"),
    )
    acceptance.confirm_payment(
        session=session, payment_id=payment.id or 0, organization_id=owner.id or 0, user=None
    )
    assert (before.status, before.effective_date) == ("active", date(2026, 7, 10))
    take_license(date(2027, 1, 5), "after the period")
    unpaid = upfront_obligation(session, under.id)

    headers = factories.auth(session, bank_user)
    url = f"/api/v1/pledges/{pledge.id}/license-income"
    period = {"from": "2026-06-01", "to": "2026-12-31"}

    set_today(unpaid.due_date)
    body = client.get(url, headers=headers, params=period).json()
    assert [
        (item["license_id"], item["status"], item["granted_under_pledge"], item["royalty_type"])
        for item in body["licenses"]
    ] == [(under.id, "pending_payment", True, "hybrid"), (before.id, "active", False, "hybrid")]
    # The factories' hybrid offer has an entry fee of 50,000 CNY per license: the pending
    # license's is due, income to come.
    assert [(i["due"], i["overdue"], i["confirmed"]) for i in body["licenses"]] == [
        ("50000.00", "0.00", "0.00"),
        ("0.00", "0.00", "50000.00"),
    ]
    assert body["totals"] == [
        {
            "currency": "CNY",
            "licenses": 2,
            "upfront_fees": "100000.00",
            "due": "50000.00",
            "overdue": "0.00",
            "confirmed": "50000.00",
        }
    ]

    set_today(unpaid.due_date + timedelta(days=1))
    body = client.get(url, headers=headers, params=period).json()
    assert body["as_of"] == (unpaid.due_date + timedelta(days=1)).isoformat()
    assert [(t["due"], t["overdue"], t["confirmed"]) for t in body["totals"]] == [
        ("0.00", "50000.00", "50000.00")
    ]
    # Once the daily sweep lapses it, the unpaid license never took effect: its void fee is
    # neither due nor overdue, and it is no license of the pledged patent.
    assert [lapsed.id for lapsed in sweep_lapses(session)] == [under.id]
    body = client.get(url, headers=headers, params=period).json()
    assert [item["license_id"] for item in body["licenses"]] == [before.id]
    assert [(t["licenses"], t["due"], t["overdue"], t["confirmed"]) for t in body["totals"]] == [
        (1, "0.00", "0.00", "50000.00")
    ]
    # A period after every payment and due date, in the first license's last days: it and the
    # one taken in 2027 (still waiting for its fee, due long before), nothing owed or paid in it.
    late = client.get(url, headers=headers, params={"from": "2029-07-01", "to": "2029-07-09"})
    assert [(t["licenses"], t["due"], t["confirmed"]) for t in late.json()["totals"]] == [
        (2, "0.00", "0.00")
    ]

    assert_problem(
        client.get(url, headers=headers, params={"from": "2026-12-31", "to": "2026-07-01"}),
        422,
        "invalid_period",
    )
    assert_problem(client.get(url, headers=headers), 422, "validation_failed")
    pledgor = factories.user(session, owner)
    assert_problem(
        client.get(
            url,
            headers=factories.auth(session, pledgor),
            params={"from": "2026-01-01", "to": "2026-12-31"},
        ),
        403,
        "not_pledgee",
    )
    stranger = factories.member(session, kind=OrganizationKind.enterprise)
    assert_problem(
        client.get(
            url,
            headers=factories.auth(session, stranger),
            params={"from": "2026-01-01", "to": "2026-12-31"},
        ),
        404,
        "pledge_not_found",
    )
