"""Licenses under open-license declarations: acceptance in one step, frozen terms, termination."""

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from marketplace import clock
from marketplace.accounts.caller import Caller
from marketplace.accounts.models import Organization, User
from marketplace.canonical import canonical_json
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.events.models import EventType
from marketplace.licensing import obligations
from marketplace.licensing.declarations import Declaration, Licensor, read_declaration
from marketplace.licensing.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    LicenseAlreadyActive,
    LicenseNotActive,
    LicenseNotFound,
    OnlyLicenseeTerminates,
    PatentNotInForce,
    PatentSuspended,
    SelfLicense,
)
from marketplace.licensing.models.export_review import ExportControl
from marketplace.licensing.models.idempotency import IdempotencyRecord
from marketplace.licensing.models.licenses import (
    HOLDING_STATUSES,
    License,
    LicensePublic,
    LicenseStatus,
    PartyRole,
    party_condition,
)
from marketplace.licensing.models.obligations import (
    Obligation,
    ObligationKind,
    ObligationStatus,
    Payment,
)
from marketplace.licensing.notices import license_event
from marketplace.listings import service as listings
from marketplace.listings.errors import ListingNotPublished
from marketplace.listings.models import Listing, ListingStatus, Offer
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind, ipc_like_pattern
from marketplace.patents.models import PatentIpc

# 2: a license may rest on an upfront payment (``payment``: null until the licensor confirms it).
TERMS_SCHEMA_VERSION = 2


def terms_digest(terms: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(terms)).hexdigest()


def to_public(license_: License, pledge_ids: Sequence[int] = ()) -> LicensePublic:
    """The license as its parties see it; ``pledge_ids`` are the pledges it was linked to when
    granted, which the pledges domain keeps."""
    return LicensePublic.model_validate(
        {
            **license_.model_dump(),
            "pledge_ids": list(pledge_ids),
            "disputed": license_.open_dispute_id is not None,
        }
    )


def _organization_terms(org: Organization | Licensor) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "country": org.country,
        "credit_code": org.credit_code,
    }


def license_term(licensed: Iterable[patents.TermFacts], offer: Offer, effective: date) -> date:
    """The license's end: its term from ``effective``, cut short where a licensed patent's
    term ends sooner."""
    nominal_end = patents.add_years(effective, offer.term_years) - timedelta(days=1)
    return min(nominal_end, listings.earliest_term_end_of(licensed))


def build_terms(
    *,
    listing: Listing | Declaration,
    offer: Offer,
    licensor: Organization | Licensor,
    licensee: Organization,
    effective: date,
    expires_on: date,
) -> dict[str, Any]:
    """The exact terms accepted, as plain JSON: amounts as decimal strings, dates ISO 8601."""

    def amount(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "schema_version": TERMS_SCHEMA_VERSION,
        "declaration": {
            "listing_id": listing.id,
            "announcement_number": listing.announcement_number,
            "announcement_date": (
                listing.announcement_date.isoformat() if listing.announcement_date else None
            ),
            "title": listing.title,
        },
        "licensor": _organization_terms(licensor),
        "licensee": _organization_terms(licensee),
        "patents": [
            {
                "application_number": patent.application_number,
                "title": patent.title,
                "kind": str(patent.kind),
                "term_end_date": patents.term_end_date(
                    PatentKind(patent.kind), patent.filing_date
                ).isoformat(),
            }
            for patent in listing.patents
        ],
        "offer": {
            "offer_id": offer.id,
            "royalty_type": str(offer.royalty_type),
            "upfront_fee": amount(offer.upfront_fee),
            "royalty_rate_percent": amount(offer.royalty_rate),
            "per_unit_fee": amount(offer.per_unit_fee),
            "minimum_annual": amount(offer.minimum_annual),
            "currency": offer.currency,
            "term_years": offer.term_years,
            "field_of_use": offer.field_of_use,
            "territory": offer.territory,
        },
        "exclusivity": "non_exclusive",
        "sublicensing_allowed": False,
        "effective_date": effective.isoformat(),
        "expires_on": expires_on.isoformat(),
        "payment": None,
    }


def request_fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _replay(session: Session, record: IdempotencyRecord, fingerprint: str) -> License:
    if record.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request; use a new key."
        )
    # A record names its license before the license is inserted (on PostgreSQL, from the
    # claim): without the license, the acceptance that claimed the key has not given it yet.
    license_ = None if record.license_id is None else session.get(License, record.license_id)
    if license_ is None:
        raise IdempotencyKeyInFlight("A request with this Idempotency-Key is still in progress.")
    return license_


_IDEMPOTENCY: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ClaimedKey:
    """An acceptance's key, claimed in this transaction, and what the claim read with it.

    ``record_id``: the key's record. ``license_id``: the id the new license will have, taken
    from the table's sequence by the claim and named by the record already (PostgreSQL; None on
    SQLite, which numbers the row when it is inserted). ``holding_license_id``: the license the
    licensee held under the offer when the key was claimed, if any."""

    record_id: int
    license_id: int | None
    holding_license_id: int | None


# The license the licensee holds under the offer, if any; parameters ``licensee_id``, ``offer_id``.
_HOLDING_LICENSE = select(License.id).where(
    col(License.licensee_id) == sa.bindparam("licensee_id"),
    col(License.offer_id) == sa.bindparam("offer_id"),
    col(License.status).in_(HOLDING_STATUSES),
)
# The next license id from the table's sequence (PostgreSQL).
_NEXT_LICENSE_ID = sa.func.nextval(sa.func.pg_get_serial_sequence(License.__tablename__, "id"))


@cache
def _claim_key_statement(dialect_name: str) -> sa.Insert:
    """The claim's ``INSERT``, built once per dialect (every acceptance runs it); its values are
    the parameters of its execution. It returns, besides the record's id, what the acceptance
    would otherwise ask in statements of their own: the license the licensee holds under the
    offer, and on PostgreSQL the new license's id."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    holding = _HOLDING_LICENSE.limit(1).scalar_subquery().label("holding_license_id")
    insert = dialect.insert(_IDEMPOTENCY)
    if dialect_name == "postgresql":
        # The record names the license it will give from the start (its foreign key is checked
        # at commit, when the license exists): no UPDATE follows the license's INSERT.
        insert = insert.values(license_id=_NEXT_LICENSE_ID)
    statement: sa.Insert = insert.on_conflict_do_nothing(
        index_elements=["organization_id", "key"]
    ).returning(_IDEMPOTENCY.c.id, _IDEMPOTENCY.c.license_id, holding)
    return statement


def claim_offer_key(
    session: Session, *, offer_id: int, organization_id: int, key: str
) -> ClaimedKey | License:
    """Claim the key of an acceptance of this offer in this transaction, or return the license
    an earlier acceptance with it produced.

    One ``INSERT ... ON CONFLICT DO NOTHING``: a concurrent request with the same key waits on
    the unique index until the first commits, inserts nothing and finds its record: exactly one
    license, whatever the interleaving. No savepoint is needed, as no error is raised."""
    fingerprint = request_fingerprint("accept_offer", str(offer_id))
    # On the connection: a table's row needs none of the ORM's execution machinery.
    connection = session.connection()
    claimed = connection.execute(
        _claim_key_statement(connection.dialect.name),
        {
            "organization_id": organization_id,
            "key": key,
            "request_fingerprint": fingerprint,
            "created_at": clock.timestamp(),
            "licensee_id": organization_id,
            "offer_id": offer_id,
        },
    ).first()
    if claimed is not None:
        record_id, license_id, holding_license_id = claimed
        return ClaimedKey(int(record_id), license_id, holding_license_id)
    winner = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == organization_id, IdempotencyRecord.key == key
        )
    )
    if winner is None:
        raise IdempotencyKeyInFlight("A request with this Idempotency-Key is still in progress.")
    return _replay(session, winner, fingerprint)


def accept_offer(
    *,
    session: Session,
    offer_id: int,
    licensee: Organization,
    user: User | None,
    idempotency_key: str,
    claimed: ClaimedKey | None = None,
    visible_offer: Offer | None = None,
    locked_declaration: Declaration | None = None,
) -> tuple[License, bool]:
    """Notify-and-take a license under a published declaration (Patent Law art. 51).

    Returns the license and whether it was created now (False: a replay of the same key).
    What the caller has done already in this transaction is not done again: ``claimed``, the
    key it claimed (``claim_offer_key``, which read the license held under the offer and took
    the new one's id with it); ``visible_offer``, the offer it found
    visible to the licensee (``get_visible_offer``); ``locked_declaration``, the offer's
    listing (``read_declaration``) read after taking a shared lock on its row (the acceptance
    workflow's pledge check takes it), so that it is neither locked nor read again."""
    assert licensee.id is not None
    if claimed is None:
        found = claim_offer_key(
            session, offer_id=offer_id, organization_id=licensee.id, key=idempotency_key
        )
        if isinstance(found, License):
            return found, False
        claimed = found

    if visible_offer is None:
        offer = listings.get_visible_offer(
            session=session, offer_id=offer_id, organization_id=licensee.id
        )
    else:
        assert visible_offer.id == offer_id
        offer = visible_offer
    # A shared lock on the listing: acceptances run side by side, while a withdrawal (which
    # updates the row) waits for them, or they for it, and then see "withdrawn".
    if locked_declaration is None:
        session.execute(
            select(Listing.status)
            .where(col(Listing.id) == offer.listing_id)
            .with_for_update(read=True)
        )
        listing = read_declaration(session, offer.listing_id)
    else:
        assert locked_declaration.id == offer.listing_id
        listing = locked_declaration
    status = listing.status
    if status != ListingStatus.published:
        raise ListingNotPublished(
            f"Listing {listing.id} is {status}; its offers can no longer be accepted."
        )
    if listing.owner_id == licensee.id:
        raise SelfLicense("An organization cannot take a license under its own declaration.")
    today = clock.today()
    for patent in listing.patents:
        if not patents.is_in_force(patent, today=today):
            raise PatentNotInForce(
                f"Patent {patent.application_number} is no longer in force.",
                application_number=patent.application_number,
            )
        # A court preservation or an ownership dispute that arose after the declaration stops
        # the patentee from disposing of the patent, licenses included, while it lasts.
        holds = patents.encumbrances_in_force(patent, patents.SUSPENDING_KINDS, today=today)
        if holds:
            raise PatentSuspended(
                f"Patent {patent.application_number} is suspended ({holds[0].kind}).",
                application_number=patent.application_number,
            )
    holding = {"licensee_id": licensee.id, "offer_id": offer.id}
    already = claimed.holding_license_id
    if already is not None:
        # A license that ran its term is over, and one left unpaid has lapsed: either way the
        # licensee may take a new one. (Only a license still holding can have run out: without
        # one, a first acceptance, there is nothing to look for.)
        expire_licenses(session=session, today=today, licensee_id=licensee.id, offer_id=offer.id)
        lapse_unpaid_licenses(
            session=session, today=today, licensee_id=licensee.id, offer_id=offer.id
        )
        already = session.scalar(_HOLDING_LICENSE, holding)
    if already is not None:
        raise LicenseAlreadyActive(
            f"You already hold active license {already} under offer {offer.id}.",
            license_id=already,
        )

    expires_on = license_term(listing.patents, offer, today)
    controls = export_controls_applying(
        session, licensee=licensee, patent_ids=[patent.id for patent in listing.patents]
    )
    terms = build_terms(
        listing=listing,
        offer=offer,
        licensor=listing.owner,
        licensee=licensee,
        effective=today,
        expires_on=expires_on,
    )
    assert offer.id is not None
    license_ = License(
        offer_id=offer.id,
        listing_id=listing.id,
        licensor_id=listing.owner_id,
        licensee_id=licensee.id,
        accepted_by_user_id=user.id if user else None,
        terms=terms,
        terms_sha256=terms_digest(terms),
        effective_date=today,
        expires_on=expires_on,
        recordation_deadline=patents.add_months(today, get_settings().recordation_deadline_months),
        status=LicenseStatus.pending_export_review if controls else LicenseStatus.active,
        export_controls=controls or None,
    )
    if not controls and obligations.upfront_fee(license_) is not None:
        # The notice alone does not make the license: the upfront payment must follow.
        license_.status = LicenseStatus.pending_payment
        license_.payment_due_date = today + timedelta(days=get_settings().license_payment_days)
    if claimed.license_id is not None:
        # The id from the table's sequence, taken with the key, so that the row is inserted
        # with its number rather than numbered by a second UPDATE. (SQLite has no sequence.)
        license_.id = claimed.license_id
        license_.license_number = license_number(today, license_.id)
    session.add(license_)
    try:
        session.flush()
    except IntegrityError:
        # The partial unique index on (licensee, offer) of holding licenses: a concurrent
        # acceptance won. No savepoint: this refusal ends the use case and rolls it all back
        # (the failed flush has expired every loaded object: only plain values are used here).
        raise LicenseAlreadyActive(
            f"An active license under offer {offer_id} was created concurrently."
        ) from None
    assert license_.id is not None
    if license_.license_number is None:
        license_.license_number = license_number(today, license_.id)
        session.flush()
    if claimed.license_id is None:
        # SQLite: the key's record learns the license's id now that the row has it.
        session.connection().execute(
            _KEY_GAVE_LICENSE, {"record_id": claimed.record_id, "given_license_id": license_.id}
        )
    _notify_licensor(session, license_, licensee)
    if license_.status is LicenseStatus.pending_export_review:
        license_event(
            session,
            license_,
            EventType.license_export_review,
            export_controls=controls,
        )
    else:
        start(session=session, license_=license_)
    return license_, True


# The key's record names the license it gave; parameters ``record_id``, ``given_license_id``.
_KEY_GAVE_LICENSE = (
    sa.update(_IDEMPOTENCY)
    .where(_IDEMPOTENCY.c.id == sa.bindparam("record_id"))
    .values(license_id=sa.bindparam("given_license_id"))
)


def license_number(issued: date, license_id: int) -> str:
    """The license's number: the year it was issued and its id."""
    return f"LIC{issued:%Y}{license_id:08d}"


def _notify_licensor(session: Session, license_: License, licensee: Organization) -> None:
    """The acceptance is the licensee's written notice to the patentee (art. 51): it reaches
    the licensor with who accepted and on which terms."""
    license_event(
        session,
        license_,
        EventType.license_accepted,
        to=[license_.licensor_id],
        status=str(license_.status),
        offer_id=license_.offer_id,
        listing_id=license_.listing_id,
        licensee=_organization_terms(licensee),
        terms=license_.terms,
        terms_sha256=license_.terms_sha256,
        payment_due_date=(
            license_.payment_due_date.isoformat() if license_.payment_due_date else None
        ),
        upfront_fee=_amount_text(obligations.upfront_fee(license_)),
    )


def _amount_text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def start(*, session: Session, license_: License) -> None:
    """After the notice (or the export approval): a license waiting for its upfront payment
    owes that fee by its payment due date; one with nothing up front is in force now."""
    if license_.status is LicenseStatus.pending_payment:
        assert license_.payment_due_date is not None
        obligations.open_upfront_fee(
            session=session, license_=license_, due_date=license_.payment_due_date
        )
    else:
        _take_effect(session, license_, payment=None)


def _take_effect(session: Session, license_: License, payment: dict[str, Any] | None) -> None:
    """What follows once a license is in force, in the same transaction: the license years whose
    minimum royalty the sweep settles are scheduled, and both parties hear of it."""
    obligations.schedule_minimum_years(session=session, license_=license_)
    license_event(
        session,
        license_,
        EventType.license_in_force,
        effective_date=license_.effective_date.isoformat(),
        expires_on=license_.expires_on.isoformat(),
        recordation_deadline=license_.recordation_deadline.isoformat(),
        terms_sha256=license_.terms_sha256,
        payment=payment,
    )


def effective_from(
    session: Session, license_: License, day: date, *, payment: dict[str, Any] | None
) -> dict[str, Any]:
    """The columns of a license taking effect on ``day``: its term, recordation deadline and
    frozen terms (with their hash) count from that day."""
    listing = session.get_one(Listing, license_.listing_id)
    offer = session.get_one(Offer, license_.offer_id)
    expires_on = license_term(listing.patents, offer, day)
    terms = {
        **license_.terms,
        "effective_date": day.isoformat(),
        "expires_on": expires_on.isoformat(),
    }
    if payment is not None:
        terms["payment"] = payment
    return {
        "effective_date": day,
        "expires_on": expires_on,
        "recordation_deadline": patents.add_months(day, get_settings().recordation_deadline_months),
        "terms": terms,
        "terms_sha256": terms_digest(terms),
    }


def put_in_force_on_payment(
    *, session: Session, license_id: int, payment: Payment, obligation: Obligation
) -> License | None:
    """The licensor confirmed the payment that settles a pending license's upfront fee: the
    license arises today (art. 51), resting on that payment. None when the license is not
    waiting for it (already in force, or the fee was not an upfront one)."""
    if obligation.kind is not ObligationKind.upfront or obligation.status is not (
        ObligationStatus.paid
    ):
        return None
    license_ = session.get_one(License, license_id)
    if license_.status is not LicenseStatus.pending_payment:
        return None
    today = clock.today()
    resting_on = {
        "payment_id": payment.id,
        "obligation_id": obligation.id,
        "paid_on": payment.paid_on.isoformat(),
        "confirmed_on": today.isoformat(),
        "amount": str(obligation.amount),
        "currency": obligation.currency,
    }
    changed = transition(
        session,
        sa.update(License)
        .where(col(License.id) == license_id)
        .where(col(License.status) == LicenseStatus.pending_payment)
        .values(
            status=LicenseStatus.active,
            **effective_from(session, license_, today, payment=resting_on),
        ),
    )
    if not changed:
        return None
    session.refresh(license_)
    _take_effect(session, license_, payment=resting_on)
    return license_


Selected = TypeVar("Selected", bound=SelectOfScalar[Any])


def _narrowed(statement: Selected, *, licensee_id: int | None, offer_id: int | None) -> Selected:
    """The sweep's statement, narrowed to one licensee and offer when acceptance runs it."""
    if licensee_id is not None:
        statement = statement.where(col(License.licensee_id) == licensee_id)
    if offer_id is not None:
        statement = statement.where(col(License.offer_id) == offer_id)
    return statement


def lapse_unpaid_licenses(
    *,
    session: Session,
    today: date,
    licensee_id: int | None = None,
    offer_id: int | None = None,
) -> list[License]:
    """Pending licenses whose upfront fee was not paid by their payment due date lapse unpaid
    (``marketplace sweep`` daily for all; at acceptance for one licensee and offer). A payment
    the licensee recorded and the licensor has yet to decide holds the lapse off: a licensee
    that paid in time does not lose its license to the licensor's delay. Returns the lapsed."""
    statement = _narrowed(
        select(License.id)
        .where(col(License.status) == LicenseStatus.pending_payment)
        .where(col(License.payment_due_date) < today)
        .order_by(col(License.id)),
        licensee_id=licensee_id,
        offer_id=offer_id,
    )
    lapsed = []
    for license_id in session.scalars(statement).all():
        assert license_id is not None
        fee = obligations.upfront_obligation(session, license_id)
        if fee is not None and fee.id is not None:
            # Ordered with payments recorded and decided on the fee (they lock it too).
            fee_id = fee.id
            fee = obligations.lock_obligation(session, fee_id)
            if obligations.awaiting_decision(session, fee_id):
                continue
        if not transition(
            session,
            sa.update(License)
            .where(col(License.id) == license_id)
            .where(col(License.status) == LicenseStatus.pending_payment)
            .values(status=LicenseStatus.lapsed_unpaid),
        ):
            continue
        if fee is not None and fee.status is ObligationStatus.due:
            obligations.void_upfront_fee(session=session, obligation=fee)
        license_ = session.get_one(License, license_id)
        session.refresh(license_)
        license_event(
            session,
            license_,
            EventType.license_lapsed_unpaid,
            offer_id=license_.offer_id,
            payment_due_date=(
                license_.payment_due_date.isoformat() if license_.payment_due_date else None
            ),
        )
        lapsed.append(license_)
    return lapsed


DOMESTIC_COUNTRY = "CN"


def _under(code: str, prefix: str) -> bool:
    pattern = ipc_like_pattern(prefix)
    return code.startswith(pattern[:-1]) if pattern.endswith("%") else code == pattern


def export_controls_applying(
    session: Session, *, licensee: Organization, patent_ids: Collection[int]
) -> list[str]:
    """The flagged technology categories that send a license to export review: the licensee is
    outside China and a licensed patent (of ``patent_ids``) falls under a category. Empty when
    none does."""
    if (licensee.country or DOMESTIC_COUNTRY).upper() == DOMESTIC_COUNTRY:
        return []
    # Only a foreign licensee needs the IPC codes: the acceptance does not read them otherwise.
    codes = session.scalars(
        select(PatentIpc.code).where(col(PatentIpc.patent_id).in_(patent_ids))
    ).all()
    if not codes:
        return []
    prefixes = session.scalars(select(ExportControl.ipc_prefix)).all()
    return sorted(prefix for prefix in prefixes if any(_under(code, prefix) for code in codes))


def expire_licenses(
    *,
    session: Session,
    today: date,
    licensee_id: int | None = None,
    offer_id: int | None = None,
) -> int:
    """Active licenses whose term ended before ``today`` become expired, and both parties hear
    of it; returns how many. Run daily for all (``marketplace sweep``), and for one licensee and
    offer at acceptance."""
    statement = _narrowed(
        select(License)
        .where(col(License.status) == LicenseStatus.active)
        .where(col(License.expires_on) < today)
        .order_by(col(License.id)),
        licensee_id=licensee_id,
        offer_id=offer_id,
    )
    expired = 0
    for license_ in session.scalars(statement).all():
        if not transition(
            session,
            sa.update(License)
            .where(col(License.id) == license_.id)
            .where(col(License.status) == LicenseStatus.active)
            .values(status=LicenseStatus.expired),
        ):
            continue
        session.refresh(license_)
        expired += 1
        license_event(
            session,
            license_,
            EventType.license_expired,
            expires_on=license_.expires_on.isoformat(),
        )
    return expired


def get_license(
    *, session: Session, license_id: int, caller: Caller, mediation: bool = False
) -> License:
    """The license if the caller is a party to it (or, for ``mediation`` of its disputes, a
    platform admin); to anyone else it does not exist."""
    license_ = session.get(License, license_id)
    admitted = mediation and caller.is_platform_admin
    if license_ is None or not (admitted or license_.has_party(caller.organization_id)):
        raise LicenseNotFound(f"License {license_id} does not exist.")
    return license_


def list_licenses(
    *,
    session: Session,
    organization_id: int,
    params: PageParams,
    role: PartyRole | None = None,
    status: LicenseStatus | None = None,
    listing_id: int | None = None,
    offer_id: int | None = None,
) -> tuple[Sequence[License], str | None]:
    statement = select(License).where(party_condition(License, organization_id, role))
    if status is not None:
        statement = statement.where(License.status == status)
    if listing_id is not None:
        statement = statement.where(License.listing_id == listing_id)
    if offer_id is not None:
        statement = statement.where(License.offer_id == offer_id)
    return paginate_by_id(session, statement, id_column=License.id, params=params)


def terminate_license(
    *, session: Session, license_: License, organization_id: int, reason: str | None
) -> License:
    """The licensee may end its license; the licensor may not revoke an open license."""
    if license_.licensee_id != organization_id:
        raise OnlyLicenseeTerminates("Only the licensee may terminate this license.")
    if not transition(
        session,
        sa.update(License)
        .where(col(License.id) == license_.id)
        .where(col(License.status) == LicenseStatus.active)
        .values(status=LicenseStatus.terminated),
    ):
        raise LicenseNotActive(f"License {license_.id} is {license_.status}.")
    license_.status = LicenseStatus.terminated
    license_.terminated_at = clock.now()
    license_.termination_reason = reason
    session.add(license_)
    session.flush()
    license_event(
        session,
        license_,
        EventType.license_terminated,
        reason=reason,
        terminated_at=license_.terminated_at.isoformat(),
    )
    return license_
