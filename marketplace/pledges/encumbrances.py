""" "Is patent X pledgeable today?" for up to 1,000 numbers in one call: two statements
whatever the batch size, and plain column rows rather than table objects."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace.accounts.models import Organization
from marketplace.db import any_of
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.listings.models import Listing, ListingPatent
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind, canonical_application_number
from marketplace.patents.models import (
    EncumbranceKind,
    FeeStatus,
    LegalStatus,
    Patent,
    PatentEncumbrance,
)
from marketplace.patents.terms import next_fee_due_date
from marketplace.pledges.models import (
    ActivePledgeSummary,
    EncumbranceResult,
    OpenLicenseSummary,
    Pledge,
)
from marketplace.pledges.rules import pledge_issues


@dataclass(frozen=True, slots=True)
class _Encumbrance:
    kind: EncumbranceKind
    starts_on: date
    ends_on: date | None
    released_at: datetime | None


@dataclass(slots=True)
class _CheckedPatent:
    """One patent as the check reads it (``patents.PatentFacts``), with what encumbers it."""

    id: int
    application_number: str
    owner_id: int
    kind: PatentKind
    filing_date: date
    legal_status: LegalStatus
    fee_paid_until: date | None
    main_ipc: str | None
    active_pledge_id: int | None
    open_license: OpenLicenseSummary | None
    active_license_count: int
    encumbered: bool
    active_pledge: ActivePledgeSummary | None = None
    encumbrances: Sequence[_Encumbrance] = field(default_factory=tuple)


def check_encumbrances(
    *, session: Session, application_numbers: list[str], today: date
) -> list[EncumbranceResult]:
    """One result per number, in request order. Unknown numbers are reported as unknown and
    malformed ones carry an error; neither fails the batch."""
    canonical: list[str | None] = []
    errors: dict[int, str] = {}
    for index, raw in enumerate(application_numbers):
        try:
            canonical.append(canonical_application_number(raw))
        except ValueError as exc:
            canonical.append(None)
            errors[index] = str(exc)
    wanted = {number for number in canonical if number is not None}
    by_number = {
        patent.application_number: patent
        for patent in (_patents(session, wanted, today=today) if wanted else [])
    }

    results: list[EncumbranceResult] = []
    for index, raw in enumerate(application_numbers):
        number = canonical[index]
        if number is None:
            results.append(
                EncumbranceResult(application_number=raw, known=False, error=errors[index])
            )
            continue
        patent = by_number.get(number)
        if patent is None:
            results.append(EncumbranceResult(application_number=number, known=False))
            continue
        results.append(_result(patent, today=today))
    return results


def _patents(session: Session, numbers: set[str], *, today: date) -> list[_CheckedPatent]:
    """The patents with their open license, their count of licenses in force and whether
    anything encumbers them in one statement, then the pledges and the declared encumbrances
    of the few that have them. The per-patent parts are correlated subqueries, which run as an
    index lookup per patent: joins here were planned as hash joins over whole tables."""
    found = [
        _checked_patent(row)
        for row in session.execute(
            sa.select(
                col(Patent.id),
                col(Patent.application_number),
                col(Patent.owner_id),
                col(Patent.kind),
                col(Patent.filing_date),
                col(Patent.legal_status),
                col(Patent.fee_paid_until),
                col(Patent.main_ipc),
                col(Patent.active_pledge_id),
                col(Patent.open_license_listing_id),
                _listing_column(col(Listing.announcement_number)),
                _listing_column(col(Listing.announcement_date)),
                _licenses_in_force(today),
                _first_unreleased_encumbrance(),
            ).where(any_of(session, col(Patent.application_number), numbers))
        )
    ]
    pledges = _active_pledges(
        session, {patent.active_pledge_id for patent in found if patent.active_pledge_id}
    )
    encumbrances = _encumbrances(session, [patent.id for patent in found if patent.encumbered])
    for patent in found:
        if patent.active_pledge_id is not None:
            patent.active_pledge = pledges.get(patent.active_pledge_id)
        if patent.encumbered:
            patent.encumbrances = encumbrances.get(patent.id, ())
    return found


def _listing_column(column: Any) -> Any:
    return (
        sa.select(column)
        .where(col(Listing.id) == col(Patent.open_license_listing_id))
        .correlate(Patent)
        .scalar_subquery()
    )


def _licenses_in_force(today: date) -> Any:
    """Licenses in force today: not terminated, and their term not yet over."""
    return (
        sa.select(sa.func.count(col(License.id)))
        .select_from(ListingPatent)
        .join(License, col(License.listing_id) == col(ListingPatent.listing_id))
        .where(col(ListingPatent.patent_id) == col(Patent.id))
        .where(col(License.status) == LicenseStatus.active)
        .where(col(License.effective_date) <= today, col(License.expires_on) >= today)
        .correlate(Patent)
        .scalar_subquery()
    )


def _first_unreleased_encumbrance() -> Any:
    # A scalar subquery rather than EXISTS, which PostgreSQL may run as a hash of every
    # encumbrance on the platform.
    return (
        sa.select(col(PatentEncumbrance.id))
        .where(col(PatentEncumbrance.patent_id) == col(Patent.id))
        .where(col(PatentEncumbrance.released_at).is_(None))
        .correlate(Patent)
        .limit(1)
        .scalar_subquery()
    )


def _active_pledges(session: Session, pledge_ids: set[int]) -> dict[int, ActivePledgeSummary]:
    """The register fields only: the pledge's private terms are not even read."""
    if not pledge_ids:
        return {}
    rows = session.execute(
        sa.select(
            col(Pledge.id),
            col(Pledge.registration_number),
            col(Pledge.registered_date),
            col(Pledge.pledgor_id),
            col(Pledge.pledgee_id),
            col(Organization.name),
        )
        .join(Organization, col(Organization.id) == col(Pledge.pledgee_id))
        .where(any_of(session, col(Pledge.id), pledge_ids))
    ).all()
    return {
        row[0]: ActivePledgeSummary(
            pledge_id=row[0],
            registration_number=row[1],
            registered_date=row[2],
            pledgor_id=row[3],
            pledgee_id=row[4],
            pledgee_name=row[5],
        )
        for row in rows
    }


def _encumbrances(session: Session, patent_ids: list[int]) -> dict[int, list[_Encumbrance]]:
    if not patent_ids:
        return {}
    by_patent: dict[int, list[_Encumbrance]] = defaultdict(list)
    for row in session.execute(
        sa.select(
            col(PatentEncumbrance.patent_id),
            col(PatentEncumbrance.kind),
            col(PatentEncumbrance.starts_on),
            col(PatentEncumbrance.ends_on),
            col(PatentEncumbrance.released_at),
        )
        .where(any_of(session, col(PatentEncumbrance.patent_id), patent_ids))
        .order_by(col(PatentEncumbrance.id))
    ):
        by_patent[row[0]].append(_Encumbrance(*row[1:]))
    return by_patent


def _checked_patent(row: Sequence[Any]) -> _CheckedPatent:
    (
        patent_id,
        application_number,
        owner_id,
        kind,
        filing_date,
        legal_status,
        fee_paid_until,
        main_ipc,
        pledge_id,
        listing_id,
        announcement_number,
        announcement_date,
        license_count,
        first_encumbrance_id,
    ) = row
    return _CheckedPatent(
        id=patent_id,
        application_number=application_number,
        owner_id=owner_id,
        kind=kind,
        filing_date=filing_date,
        legal_status=legal_status,
        fee_paid_until=fee_paid_until,
        main_ipc=main_ipc,
        active_pledge_id=pledge_id,
        open_license=(
            OpenLicenseSummary(
                listing_id=listing_id,
                announcement_number=announcement_number,
                announcement_date=announcement_date,
            )
            if listing_id is not None
            else None
        ),
        active_license_count=license_count,
        encumbered=first_encumbrance_id is not None,
    )


def _result(patent: _CheckedPatent, *, today: date) -> EncumbranceResult:
    current = patents.standing(patent, today=today)
    fee = current.fee_status
    issues = pledge_issues(
        patent, pledgor_id=patent.owner_id, debt_end_date=None, today=today, known=current
    )
    return EncumbranceResult(
        application_number=patent.application_number,
        known=True,
        owner_id=patent.owner_id,
        kind=patent.kind.value,
        legal_status=str(patent.legal_status),
        in_force=current.in_force,
        fee_status=fee.value,
        fee_paid_until=patent.fee_paid_until,
        next_fee_due_date=(
            next_fee_due_date(patent.fee_paid_until, current.term_end)
            if patent.fee_paid_until and fee is not FeeStatus.not_applicable
            else None
        ),
        term_end_date=current.term_end,
        remaining_term_days=max(0, (current.term_end - today).days),
        main_ipc=patent.main_ipc,
        active_pledge=patent.active_pledge,
        open_license=patent.open_license,
        active_license_count=patent.active_license_count,
        exclusive_license=bool(
            patent.encumbrances
            and patents.encumbrances_in_force(patent, patents.EXCLUSIVE_KINDS, today=today)
        ),
        pledgeable=not issues,
        reasons=list(dict.fromkeys(item.code for item in issues)),
    )
