"""A small, realistic demo that shows every flow: two universities whose open-license
declarations the office announced, SMEs holding licenses (lump sums paid and confirmed, a running
royalty whose first quarter has ended, a hybrid awaiting its entry fee), a foreign enterprise
(technology-export review), a bank with an API client and two registered pledges (one on a
declared patent, with the bank's consent), and a platform admin. Built through the services, so
every rule applies to it as to real data. The office's numbers in it are example numbers, entered
as a party enters those it received: the platform mints none."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from unittest.mock import patch

from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts import service as accounts
from marketplace.accounts.caller import Caller
from marketplace.accounts.credit_code import credit_code_check_character
from marketplace.accounts.models import (
    ApiClient,
    Organization,
    OrganizationCreate,
    OrganizationKind,
    User,
    UserCreate,
)
from marketplace.licensing import export_review, obligations, payments
from marketplace.licensing.models.export_review import ExportControlCreate
from marketplace.licensing.models.licenses import License
from marketplace.licensing.models.obligations import PaymentCreate
from marketplace.listings import service as listings
from marketplace.listings.models import (
    DeclarationAnnouncement,
    Listing,
    ListingCreate,
    OfferCreate,
    RoyaltyType,
)
from marketplace.patents import service as patents
from marketplace.patents.identifiers import application_check_character
from marketplace.patents.models import (
    CoOwner,
    EvaluationConclusion,
    LegalStatus,
    PatentCreate,
)
from marketplace.pledges import lifecycle
from marketplace.pledges import service as pledge_service
from marketplace.pledges.models import (
    Pledge,
    PledgeCreate,
    PledgeRegistrationCreate,
    Valuation,
    ValuationMethod,
)
from marketplace.workflows import acceptance, declarations
from marketplace.workflows import pledges as pledge_workflows

# Published in the README on purpose; `marketplace demo` refuses to run in production.
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105
ADMIN_EMAIL = "admin@marketplace.example"


@dataclass
class DemoSummary:
    created: bool
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # (role, email, org)
    patents: int = 0
    listings: int = 0
    licenses: int = 0
    pledges: int = 0
    api_client: tuple[str, str | None] | None = None  # (client_id, secret if just made)


def _credit_code(division: str, serial: str) -> str:
    body = f"12{division}{serial}"
    return body + credit_code_check_character(body)


def _application_number(year: int, type_digit: int, serial: int) -> str:
    digits = f"{year}{type_digit}{serial:07d}"
    return f"{digits}.{application_check_character(digits)}"


_UNIVERSITIES = [
    ("Zhejiang Institute of Technology", "Zhejiang", "330100", "tto@zit.example.edu.cn"),
    ("Northwest Polytechnic University", "Shaanxi", "610100", "ip@nwpu.example.edu.cn"),
]

# (title, abstract, ipc codes, type digit, filing date, department)
_PORTFOLIOS = [
    [
        (
            "Solid-state electrolyte with high ionic conductivity for lithium batteries",
            "A sulfide solid electrolyte doped with halogen that raises room-temperature ionic "
            "conductivity above 10 mS/cm while remaining stable against lithium metal.",
            ["H01M 10/0562", "H01M 10/0525"],
            1,
            date(2019, 4, 12),
            "School of Materials Science",
        ),
        (
            "Battery thermal management method based on phase-change materials",
            "A pack-level cooling method combining paraffin composites with liquid cold plates, "
            "keeping cell temperature spread under 3 K during fast charging.",
            ["H01M 10/613", "H01M 10/6554"],
            1,
            date(2020, 8, 3),
            "School of Energy Engineering",
        ),
        (
            "Semantic retrieval of technical documents using dual encoders",
            "A retrieval system that embeds patent claims and product descriptions into one vector "
            "space for cross-language matching of Chinese and English text.",
            ["G06F 16/33", "G06N 3/08"],
            1,
            date(2021, 2, 22),
            "College of Computer Science",
        ),
        (
            "Clamp for fixing photovoltaic panels on corrugated roofs",
            "A tool-free aluminium clamp that fixes photovoltaic modules to corrugated steel roofs "
            "without drilling.",
            ["H02S 20/23"],
            2,
            date(2022, 5, 9),
            "School of Mechanical Engineering",
        ),
    ],
    [
        (
            "Titanium alloy additive manufacturing with in-situ heat treatment",
            "Laser powder-bed fusion of Ti-6Al-4V with a scan strategy that performs in-situ "
            "heat treatment, removing the need for hot isostatic pressing.",
            ["B22F 10/28", "B33Y 10/00", "C22C 14/00"],
            1,
            date(2018, 11, 30),
            "School of Materials",
        ),
        (
            "Fault diagnosis of rotating machinery from vibration signals",
            "A convolutional network trained on envelope spectra that detects bearing faults of "
            "rotating machinery under variable speed.",
            ["G01M 13/045", "G06N 3/0464"],
            1,
            date(2020, 1, 15),
            "School of Mechanical Engineering",
        ),
        (
            "Drip irrigation emitter resistant to clogging",
            "A labyrinth emitter geometry that keeps sediment in suspension, for drip irrigation "
            "in arid regions.",
            ["A01G 25/02"],
            2,
            date(2021, 9, 1),
            "College of Water Resources",
        ),
    ],
]

_SMES = [
    ("Hangzhou Greencell Energy Co., Ltd.", "Zhejiang", "330100", "ceo@greencell.example.com"),
    ("Xi'an Precision Drive Co., Ltd.", "Shaanxi", "610100", "cto@xpdrive.example.com"),
]


# The demo's history starts this many days before it is loaded: the declarations were announced
# then and the running-royalty license took effect then, so its first quarter has ended (a
# report can be filed and paid) while its report is not yet overdue.
HISTORY_DAYS = 100
BANK_EMAIL = "ipfinance@bank.example.com"
BANK_CLIENT_NAME = "loan-origination"
FOREIGN_EMAIL = "licensing@munich-drives.example.de"
# Additive manufacturing of metals: flagged for technology-export review in the demo.
EXPORT_CONTROLLED_IPC = "B22F 10"
DEMO_EMAILS = (
    ADMIN_EMAIL,
    *(email for *_, email in _UNIVERSITIES),
    *(email for *_, email in _SMES),
    FOREIGN_EMAIL,
    BANK_EMAIL,
)


@contextmanager
def _days_ago(days: int) -> Iterator[None]:
    """Runs the block as if it were ``days`` days ago (every date and timestamp the services
    take from the clock). Only for loading the demo, before any server runs."""
    real_now, real_today = clock.now, clock.today
    with (
        patch.object(clock, "now", lambda: real_now() - timedelta(days=days)),
        patch.object(clock, "today", lambda: real_today() - timedelta(days=days)),
    ):
        yield


def _already_loaded(session: Session) -> bool:
    return session.scalar(select(User.id).where(User.email == ADMIN_EMAIL)) is not None


def _organization(
    session: Session,
    *,
    name: str,
    kind: OrganizationKind,
    region: str | None,
    credit_code: str | None,
    email: str,
    summary: DemoSummary,
    country: str = "CN",
) -> tuple[Organization, User]:
    org, user = accounts.signup(
        session=session,
        organization=OrganizationCreate(
            name=name, kind=kind, country=country, region=region, credit_code=credit_code
        ),
        user=UserCreate(email=email, password=DEMO_PASSWORD, full_name=f"{name} admin"),
    )
    accounts.decide_verification(session=session, organization=org, approve=True)
    summary.accounts.append((kind.value, email, name))
    return org, user


def _accounts_of(session: Session) -> list[tuple[str, str, str]]:
    """The demo's accounts as loaded: (role, email, organization)."""
    rows = session.execute(
        select(Organization.kind, User.email, Organization.name)
        .join(Organization, col(Organization.id) == col(User.organization_id))
        .where(col(User.email).in_(DEMO_EMAILS))
        .order_by(col(User.id))
    ).all()
    return [
        ("platform admin" if kind == OrganizationKind.platform else str(kind), email, name)
        for kind, email, name in rows
    ]


def _existing_summary(session: Session) -> DemoSummary:
    """What a second load reports: the accounts and the bank's client id (its secret was shown
    once; `marketplace reset-client-secret` issues a new one)."""
    client_id = session.scalar(
        select(ApiClient.client_id)
        .join(User, col(User.id) == col(ApiClient.created_by_user_id))
        .where(User.email == BANK_EMAIL, col(ApiClient.revoked_at).is_(None))
        .order_by(col(ApiClient.id))
    )
    return DemoSummary(
        created=False,
        accounts=_accounts_of(session),
        api_client=(client_id, None) if client_id else None,
    )


def load_demo(session: Session) -> DemoSummary:
    """Loads the demo once; a second call changes nothing and reports the accounts again."""
    if _already_loaded(session):
        return _existing_summary(session)
    summary = DemoSummary(created=True)
    with _days_ago(HISTORY_DAYS):
        admin_user = accounts.create_platform_admin(
            session=session, email=ADMIN_EMAIL, password=DEMO_PASSWORD, full_name="Platform admin"
        )
        summary.accounts.append(("platform admin", ADMIN_EMAIL, "Platform operations"))
        licensors, published = _declare_portfolios(session, summary)
        smes = [
            _organization(
                session,
                name=name,
                kind=OrganizationKind.enterprise,
                region=region,
                credit_code=_credit_code(division, f"MA0{index:05d}X"),
                email=email,
                summary=summary,
            )
            for index, (name, region, division, email) in enumerate(_SMES)
        ]
        # A running royalty, nothing up front: in force on the notice (Patent Law art. 51).
        _accept(session, published[3], RoyaltyType.running, smes[0], summary)
    for index, listing in enumerate(published[:3]):
        # The lawful sequence: the SME's acceptance is its written notice; it pays the lump sum
        # and records the payment; the university confirms receipt, and only then is the
        # license in force.
        sme, user = smes[index % len(smes)]
        license_ = _accept(session, listing, RoyaltyType.lump_sum, (sme, user), summary)
        _pay_the_upfront_fee(
            session, license_, payer=user, licensor_user=licensors[listing.owner_id]
        )
    # A hybrid license whose entry fee is not yet paid: pending_payment.
    _accept(session, published[5], RoyaltyType.hybrid, smes[1], summary)
    _organization(
        session,
        name="Munich Drive Systems GmbH",
        kind=OrganizationKind.enterprise,
        region="Bavaria",
        credit_code=None,
        email=FOREIGN_EMAIL,
        summary=summary,
        country="DE",
    )
    export_review.add_control(
        session=session,
        data=ExportControlCreate(
            ipc_prefix=EXPORT_CONTROLLED_IPC, description="Additive manufacturing of metals"
        ),
        user=admin_user,
    )
    bank, bank_user = _organization(
        session,
        name="Bank of Hangzhou Science and Technology Branch",
        kind=OrganizationKind.bank,
        region="Zhejiang",
        credit_code=_credit_code("330100", "7000000B2"),
        email=BANK_EMAIL,
        summary=summary,
    )
    client, secret = accounts.create_api_client(
        session=session, creator=bank_user, name=BANK_CLIENT_NAME
    )
    summary.api_client = (client.client_id, secret)
    _pledge_an_sme_patent(session, sme=smes[0][0], bank=bank, summary=summary)
    _pledge_a_declared_patent(session, listing=published[6], bank=bank, summary=summary)
    return summary


def _declare_portfolios(
    session: Session, summary: DemoSummary
) -> tuple[dict[int, User], list[Listing]]:
    """Each university registers its patents and declares each one open to license, with a
    lump-sum, a hybrid and a running-royalty offer; the office announced every declaration."""
    today = clock.today()
    serial = 100_000
    published: list[Listing] = []
    licensor_users: dict[int, User] = {}
    for index, (name, region, division, email) in enumerate(_UNIVERSITIES):
        university, university_user = _organization(
            session,
            name=name,
            kind=OrganizationKind.university,
            region=region,
            credit_code=_credit_code(division, f"4000{index:04d}1"),
            email=email,
            summary=summary,
        )
        licensor_users[university.id or 0] = university_user
        for title, abstract, ipc_codes, type_digit, filed, department in _PORTFOLIOS[index]:
            serial += 1
            granted = filed + timedelta(days=540 if type_digit == 1 else 200)
            patent = patents.register_patent(
                session=session,
                owner=university,
                data=PatentCreate(
                    application_number=_application_number(filed.year, type_digit, serial),
                    title=title,
                    abstract=abstract,
                    ipc_codes=ipc_codes,
                    filing_date=filed,
                    grant_date=granted,
                    legal_status=LegalStatus.granted,
                    fee_paid_until=today + timedelta(days=HISTORY_DAYS + 150 + 30 * (serial % 7)),
                    inventors=["Chen Jing", "Liu Yang"],
                    department=department,
                    publicly_funded=True,
                    evaluation_report_ref=f"PJ{filed.year}{serial}" if type_digit != 1 else None,
                    evaluation_report_conclusion=(
                        EvaluationConclusion.supports_validity if type_digit != 1 else None
                    ),
                    co_owners=[CoOwner(name="Provincial Research Fund", open_license_consent=True)]
                    if serial % 3 == 0
                    else [],
                ),
            )
            summary.patents += 1
            listing = listings.create_listing(
                session=session,
                owner=university,
                data=ListingCreate(patent_ids=[patent.id or 0], description=abstract),
            )
            for offer in _offers(serial):
                listings.add_offer(session=session, listing=listing, data=offer)
            # The university files the declaration with the office and enters the announcement
            # number and date it receives (example numbers in the configured pattern).
            declarations.publish_listing(
                session=session,
                listing=listing,
                announcement=DeclarationAnnouncement(
                    announcement_number=f"KF{today:%Y}{serial:07d}",
                    announcement_date=max(granted, today - timedelta(days=7)),
                ),
            )
            summary.listings += 1
            published.append(listing)
    return licensor_users, published


def _offers(serial: int) -> list[OfferCreate]:
    return [
        OfferCreate(
            royalty_type=RoyaltyType.lump_sum,
            upfront_fee=Decimal(80_000 + 20_000 * (serial % 5)),
            term_years=3,
        ),
        OfferCreate(
            royalty_type=RoyaltyType.hybrid,
            upfront_fee=Decimal("30000"),
            royalty_rate=Decimal("2.5"),
            minimum_annual=Decimal("10000"),
            term_years=5,
        ),
        OfferCreate(royalty_type=RoyaltyType.running, royalty_rate=Decimal("4"), term_years=5),
    ]


def _accept(
    session: Session,
    listing: Listing,
    royalty_type: RoyaltyType,
    licensee: tuple[Organization, User],
    summary: DemoSummary,
) -> License:
    """The licensee accepts the listing's offer of that royalty type (its written notice)."""
    offer = next(offer for offer in listing.offers if offer.royalty_type == royalty_type)
    license_ = acceptance.accept_offer(
        session=session,
        offer_id=offer.id or 0,
        licensee=licensee[0],
        user=licensee[1],
        idempotency_key=f"demo-{listing.id}-{royalty_type}",
    ).license
    summary.licenses += 1
    return license_


def _pay_the_upfront_fee(
    session: Session, license_: License, *, payer: User, licensor_user: User
) -> None:
    """The licensee records its payment of the upfront fee and the licensor confirms it: the
    license takes effect that day, resting on that payment."""
    assert license_.id is not None
    fee = obligations.upfront_obligation(session, license_.id)
    assert fee is not None
    assert fee.id is not None
    payment = payments.record_payment(
        session=session,
        obligation_id=fee.id,
        organization_id=license_.licensee_id,
        user=payer,
        data=PaymentCreate(
            amount=fee.amount,
            paid_on=clock.today(),
            reference=f"TT{clock.today():%Y%m%d}{license_.id:04d}",
        ),
    )
    assert payment.id is not None
    acceptance.confirm_payment(
        session=session,
        payment_id=payment.id,
        organization_id=license_.licensor_id,
        user=licensor_user,
    )


def _bank_caller(bank: Organization) -> Caller:
    return Caller(
        organization=bank,
        scopes=accounts.allowed_scopes(bank),
        jti="demo-data",
        token_expires_at=clock.now(),
    )


def _register(session: Session, pledge: Pledge, *, bank: Organization, serial: int) -> None:
    """The office registers the pledge; the bank enters the number and date from its notice
    (example numbers in the configured pattern)."""
    today = clock.today()
    pledge_workflows.record_registration(
        session=session,
        pledge=pledge,
        caller=_bank_caller(bank),
        registration=PledgeRegistrationCreate(
            registration_number=f"Y{today:%Y}980{serial:06d}", registration_date=today
        ),
    )


def _pledge(
    session: Session,
    *,
    pledgor: Organization,
    application_numbers: list[str],
    bank: Organization,
    secured_amount: Decimal,
    loan_years: int,
    valuation: Valuation,
    serial: int,
    summary: DemoSummary,
) -> Pledge:
    """The bank applies for a pledge securing a loan that starts today, the pledgor confirms it
    and the office registers it."""
    today = clock.today()
    pledge = lifecycle.apply_for_pledge(
        session=session,
        pledgee=bank,
        data=PledgeCreate(
            pledgor_id=pledgor.id or 0,
            application_numbers=application_numbers,
            secured_amount=secured_amount,
            debt_start_date=today,
            debt_end_date=patents.add_years(today, loan_years),
            valuation=valuation,
        ),
    )
    lifecycle.confirm_pledge(session=session, pledge=pledge, pledgor=pledgor)
    _register(session, pledge, bank=bank, serial=serial)
    summary.pledges += 1
    return pledge


def _pledge_an_sme_patent(
    session: Session, *, sme: Organization, bank: Organization, summary: DemoSummary
) -> None:
    """An SME's own patent, pledged to the bank for a three-year loan."""
    today = clock.today()
    filed = date(2020, 10, 20)
    patent = patents.register_patent(
        session=session,
        owner=sme,
        data=PatentCreate(
            application_number=_application_number(filed.year, 1, 200_001),
            title="Electrolyte additive that suppresses lithium dendrites",
            abstract="A fluorinated additive forming a stable interphase on lithium metal anodes.",
            ipc_codes=["H01M 10/0567", "H01M 4/134"],
            filing_date=filed,
            grant_date=date(2022, 6, 7),
            legal_status=LegalStatus.granted,
            fee_paid_until=today + timedelta(days=60),
            inventors=["Zhou Lei"],
        ),
    )
    summary.patents += 1
    _pledge(
        session,
        pledgor=sme,
        application_numbers=[patent.application_number],
        bank=bank,
        secured_amount=Decimal("3000000"),
        loan_years=3,
        valuation=Valuation(
            amount=Decimal("4500000"),
            method=ValuationMethod.income,
            valuer="Zhejiang Assets Appraisal Co.",
            valuation_date=today - timedelta(days=10),
            report_ref="ZA-2026-0417",
        ),
        serial=4521,
        summary=summary,
    )


def _pledge_a_declared_patent(
    session: Session, *, listing: Listing, bank: Organization, summary: DemoSummary
) -> None:
    """A university's patent under a declaration in force, pledged to the bank; the bank then
    consents to the declaration (Civil Code art. 444), so its offers can still be accepted."""
    pledge = _pledge(
        session,
        pledgor=session.get_one(Organization, listing.owner_id),
        application_numbers=[patent.application_number for patent in listing.patents],
        bank=bank,
        secured_amount=Decimal("1200000"),
        loan_years=2,
        valuation=Valuation(
            amount=Decimal("2000000"),
            method=ValuationMethod.market,
            valuer="Shaanxi Zhongxin Appraisal Co.",
            valuation_date=clock.today() - timedelta(days=5),
            report_ref="SZ-2026-0093",
        ),
        serial=4522,
        summary=summary,
    )
    pledge_service.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank, listing_id=listing.id or 0
    )
