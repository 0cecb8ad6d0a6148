"""Small flush-only builders. Each returns a persisted object inside the test's transaction."""

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, TypeVar

from sqlmodel import Session

from marketplace import clock
from marketplace.accounts import security
from marketplace.accounts import service as accounts
from marketplace.accounts.caller import Caller
from marketplace.accounts.credit_code import ALPHABET, credit_code_check_character
from marketplace.accounts.models import Organization, OrganizationKind, User, UserRole, Verification
from marketplace.licensing import obligations, payments
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.models.obligations import PaymentCreate
from marketplace.listings import service as listings
from marketplace.listings.bulk_models import (
    BulkAnnouncement,
)
from marketplace.listings.models import (
    CoOwnerConsent,
    DeclarationAnnouncement,
    Listing,
    ListingCreate,
    Offer,
    OfferCreate,
    WithdrawalAnnouncement,
    WithdrawalRequest,
)
from marketplace.patents import service as patents
from marketplace.patents.identifiers import application_check_character, kind_of_canonical_number
from marketplace.patents.models import (
    CoOwner,
    EvaluationConclusion,
    LegalStatus,
    Patent,
    PatentCreate,
)
from marketplace.patents.terms import term_end_date
from marketplace.workflows import acceptance, declarations

PASSWORD = "correct horse battery staple"
TODAY = date(2026, 6, 15)

_sequence = itertools.count(1)
_random = random.Random(20261125)


def next_number() -> int:
    return next(_sequence)


def credit_code() -> str:
    body = "91" + "330100" + "".join(_random.choice(ALPHABET) for _ in range(9))
    return body + credit_code_check_character(body)


def application_number(type_digit: int = 1, year: int = 2020) -> str:
    digits = f"{year}{type_digit}{next_number() + 1_000_000:07d}"[:12]
    return f"{digits}.{application_check_character(digits)}"


@lru_cache
def password_hash() -> str:
    return security.hash_secret(PASSWORD)


def organization(
    session: Session,
    *,
    kind: OrganizationKind = OrganizationKind.enterprise,
    verified: bool = True,
    name: str | None = None,
    country: str = "CN",
    region: str | None = "Zhejiang",
) -> Organization:
    org = Organization(
        name=name or f"{kind.value.replace('_', ' ').title()} {next_number()}",
        kind=kind,
        country=country,
        region=region,
        credit_code=credit_code() if country == "CN" else None,
        verification=Verification.verified if verified else Verification.pending,
    )
    session.add(org)
    session.flush()
    return org


def user(
    session: Session,
    org: Organization,
    *,
    role: UserRole = UserRole.admin,
    email: str | None = None,
) -> User:
    assert org.id is not None
    account = User(
        email=email or f"user{next_number()}@example.org",
        full_name="Test User",
        organization_id=org.id,
        role=role,
        password_hash=password_hash(),
    )
    session.add(account)
    session.flush()
    return account


def member(
    session: Session,
    *,
    kind: OrganizationKind = OrganizationKind.enterprise,
    verified: bool = True,
    role: UserRole = UserRole.admin,
    **org_fields: Any,
) -> User:
    """A user of a fresh organization: the usual way a test gets a caller."""
    return user(
        session, organization(session, kind=kind, verified=verified, **org_fields), role=role
    )


@dataclass(frozen=True)
class Party:
    """An organization acting through one of its users, with that user's bearer headers."""

    user: User
    organization: Organization
    headers: dict[str, str]

    @property
    def id(self) -> int:
        assert self.organization.id is not None
        return self.organization.id


NewParty = Callable[..., Party]

# Moves the clock to the given day (the ``set_today`` fixture).
SetToday = Callable[[date], None]
# Moves the clock to the given moment, and today to the marketplace's day of it (``set_now``).
SetNow = Callable[[datetime], None]


def make_party(
    session: Session,
    *,
    kind: OrganizationKind = OrganizationKind.enterprise,
    verified: bool = True,
    scopes: frozenset[str] | None = None,
    **org_fields: Any,
) -> Party:
    account = member(session, kind=kind, verified=verified, **org_fields)
    org = session.get_one(Organization, account.organization_id)
    return Party(account, org, auth(session, account, scopes))


def platform_admin(session: Session) -> User:
    return member(session, kind=OrganizationKind.platform)


def token(session: Session, account: User, scopes: frozenset[str] | None = None) -> str:
    org = session.get(Organization, account.organization_id)
    assert org is not None
    # As the token endpoint grants: the kind's scopes; each request uses what the state allows.
    granted = accounts.kind_scopes(org) if scopes is None else scopes
    return security.create_access_token(
        subject=f"user:{account.id}", organization_id=account.organization_id, scopes=granted
    ).token


def auth(session: Session, account: User, scopes: frozenset[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(session, account, scopes)}"}


def caller(
    organization: Organization, scopes: frozenset[str] | None = None, *, user: User | None = None
) -> Caller:
    """What a token of ``organization`` (signed in as ``user``, if given) tells the services:
    every scope it may hold, or ``scopes``."""
    granted = accounts.allowed_scopes(organization) if scopes is None else scopes
    return Caller(
        organization=organization,
        user=user,
        scopes=granted,
        jti=f"test-{next_number()}",
        token_expires_at=clock.now() + timedelta(minutes=15),
    )


def patent(
    session: Session,
    owner: Organization | User,
    *,
    type_digit: int = 1,
    filing_date: date = date(2020, 3, 1),
    legal_status: LegalStatus = LegalStatus.granted,
    grant_date: date | None = date(2022, 5, 10),
    fee_paid_until: date | Literal["default"] | None = "default",
    ipc_codes: list[str] | None = None,
    title: str | None = None,
    evaluation_report_ref: str | None = None,
    evaluation_report_conclusion: EvaluationConclusion | Literal["default"] | None = "default",
    co_owners: list[CoOwner] | None = None,
    **fields: Any,
) -> Patent:
    """A granted patent; an evaluation report given supports validity unless told otherwise."""
    org = _org(session, owner)
    number = application_number(type_digit, filing_date.year)
    if fee_paid_until == "default":
        # Paid 200 days ahead, but never past the term: no fee is paid beyond it.
        term_end = term_end_date(kind_of_canonical_number(number), filing_date)
        fee_paid_until = min(TODAY + timedelta(days=200), term_end)
    if legal_status is LegalStatus.pending:
        grant_date, fee_paid_until = None, None
    data = PatentCreate(
        application_number=number,
        title=title or f"Method and device number {next_number()}",
        abstract="A method for improving lithium battery thermal management.",
        filing_date=filing_date,
        grant_date=grant_date,
        legal_status=legal_status,
        fee_paid_until=fee_paid_until,
        ipc_codes=["H01M 10/0525", "G06F 16/33"] if ipc_codes is None else ipc_codes,
        inventors=["Li Wei", "Zhang Min"],
        evaluation_report_ref=evaluation_report_ref,
        evaluation_report_conclusion=(
            (EvaluationConclusion.supports_validity if evaluation_report_ref else None)
            if evaluation_report_conclusion == "default"
            else evaluation_report_conclusion
        ),
        co_owners=co_owners or [],
        **fields,
    )
    return patents.register_patent(session=session, owner=org, data=data)


def offer_data(**overrides: Any) -> OfferCreate:
    values: dict[str, Any] = {
        "royalty_type": "hybrid",
        "upfront_fee": Decimal("50000.00"),
        "royalty_rate": Decimal("3.5"),
        "minimum_annual": Decimal("20000"),
        "term_years": 3,
    }
    if overrides.get("royalty_type") in ("lump_sum", "running", "per_unit", "profit_share"):
        values = {"term_years": 3}
    values.update(overrides)
    return OfferCreate.model_validate(values)


def draft_listing(
    session: Session,
    owner: Organization | User,
    *,
    patent_list: list[Patent] | None = None,
    offers: list[OfferCreate] | None = None,
) -> Listing:
    org = _org(session, owner)
    covered = patent_list or [patent(session, org)]
    listing = listings.create_listing(
        session=session,
        owner=org,
        data=ListingCreate(patent_ids=[p.id for p in covered if p.id is not None]),
    )
    for data in [offer_data()] if offers is None else offers:
        listings.add_offer(session=session, listing=listing, data=data)
    return listing


def announcement_number(prefix: str = "KF") -> str:
    """A fresh office-style announcement number, as a patentee would enter it."""
    return f"{prefix}{clock.today():%Y}{next_number():07d}"


def announcement(**overrides: Any) -> DeclarationAnnouncement:
    """The office's announcement of a declaration, dated today unless told otherwise."""
    values: dict[str, Any] = {
        "announcement_number": announcement_number(),
        "announcement_date": clock.today(),
    }
    values.update(overrides)
    return DeclarationAnnouncement.model_validate(values)


def announcement_body(**overrides: Any) -> dict[str, str]:
    """The body of ``POST /listings/{id}/publish``."""
    return announcement(**overrides).model_dump(mode="json")


def bulk_announcements(patent_ids: list[int]) -> list[BulkAnnouncement]:
    """The office's announcement of each patent's declaration, for a bulk declaration."""
    return [
        BulkAnnouncement.model_validate({"patent_id": patent_id, **announcement_body()})
        for patent_id in patent_ids
    ]


def publish(session: Session, listing: Listing, **overrides: Any) -> Listing:
    """Publish ``listing`` with a fresh office announcement."""
    return declarations.publish_listing(
        session=session, listing=listing, announcement=announcement(**overrides)
    )


def published_listing(
    session: Session, owner: Organization | User | None = None, **kwargs: Any
) -> tuple[Listing, Offer]:
    org = _org(session, owner) if owner else organization(session, kind=OrganizationKind.university)
    listing = draft_listing(session, org, **kwargs)
    publish(session, listing)
    return listing, listing.offers[0]


def withdrawal_request(listing: Listing, reason: str = "Licensed exclusively") -> WithdrawalRequest:
    """A withdrawal with every co-owner of the covered patents consenting today."""
    names = dict.fromkeys(
        str(co_owner["name"]) for patent in listing.patents for co_owner in patent.co_owners
    )
    return WithdrawalRequest(
        reason=reason,
        co_owner_consents=[CoOwnerConsent(name=name, consented_on=clock.today()) for name in names],
    )


def withdrawal_body(listing: Listing, reason: str = "Licensed exclusively") -> dict[str, Any]:
    """The body of ``POST /listings/{id}/withdraw``."""
    return withdrawal_request(listing, reason).model_dump(mode="json")


def withdraw(session: Session, listing: Listing) -> Listing:
    """Request the withdrawal and record the office's announcement of it: the listing ends."""
    declarations.request_withdrawal(
        session=session, listing=listing, request=withdrawal_request(listing)
    )
    return declarations.record_withdrawal_announcement(
        session=session,
        listing=listing,
        announcement=WithdrawalAnnouncement(
            announcement_number=announcement_number("KFCX"), announcement_date=clock.today()
        ),
    )


def _org(session: Session, owner: Organization | User) -> Organization:
    if isinstance(owner, Organization):
        return owner
    org = session.get(Organization, owner.organization_id)
    assert org is not None
    return org


def pay_upfront(session: Session, license_: License) -> License:
    """The licensee pays the upfront fee of a ``pending_payment`` license today and the licensor
    confirms it: the license takes effect (Patent Law art. 51). Other licenses are returned as
    they are."""
    if license_.status is not LicenseStatus.pending_payment:
        return license_
    assert license_.id is not None
    fee = obligations.upfront_obligation(session, license_.id)
    assert fee is not None
    assert fee.id is not None
    payment = payments.record_payment(
        session=session,
        obligation_id=fee.id,
        organization_id=license_.licensee_id,
        user=None,
        data=PaymentCreate(amount=fee.amount, paid_on=clock.today(), reference="TT-UPFRONT"),
    )
    assert payment.id is not None
    acceptance.confirm_payment(
        session=session, payment_id=payment.id, organization_id=license_.licensor_id, user=None
    )
    session.refresh(license_)
    return license_


Row = TypeVar("Row")


def reread(session: Session, row: Row) -> Row:
    """The row as stored now: flushes pending changes and loads its columns again."""
    session.flush()
    session.refresh(row)
    return row
