""" "Is patent X pledgeable today?" for up to 1,000 numbers in one call: a fixed number of
queries whatever the batch size."""

from collections import Counter, defaultdict
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import lazyload, load_only
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization
from marketplace.db import any_of
from marketplace.licensing.models import License, LicenseStatus
from marketplace.listings.models import Listing, ListingPatent
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind, canonical_application_number
from marketplace.patents.models import FeeStatus, Patent, PatentEncumbrance
from marketplace.pledges.models import (
    ActivePledgeSummary,
    EncumbranceResult,
    OpenLicenseSummary,
    Pledge,
)
from marketplace.pledges.service import pledge_issues


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
    found = _patents(session, wanted) if wanted else []
    by_number = {patent.application_number: patent for patent in found}
    pledges = _active_pledges(session, {p.active_pledge_id for p in found if p.active_pledge_id})
    listings = _open_licenses(
        session, {p.open_license_listing_id for p in found if p.open_license_listing_id}
    )
    license_counts = _active_license_counts(
        session, [p.id for p in found if p.id is not None], today=today
    )

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
        results.append(
            _result(patent, pledges=pledges, listings=listings, counts=license_counts, today=today)
        )
    return results


# The columns the check reads; the rest of a patent (abstract, inventors, co-owners) stays unread.
_CHECKED_COLUMNS = (
    Patent.id,
    Patent.application_number,
    Patent.owner_id,
    Patent.kind,
    Patent.filing_date,
    Patent.legal_status,
    Patent.fee_paid_until,
    Patent.main_ipc,
    Patent.open_license_listing_id,
    Patent.active_pledge_id,
)


def _patents(session: Session, numbers: set[str]) -> list[Patent]:
    """The patents and their encumbrances in two statements, whatever the batch size."""
    found = list(
        session.scalars(
            select(Patent)
            .where(any_of(session, col(Patent.application_number), numbers))
            .options(
                load_only(*_CHECKED_COLUMNS),  # type: ignore[arg-type]
                lazyload(Patent.ipc_entries),  # type: ignore[arg-type]
                lazyload(Patent.encumbrances),  # type: ignore[arg-type]
            )
        ).all()
    )
    by_patent: dict[int, list[PatentEncumbrance]] = defaultdict(list)
    if found:
        for item in session.scalars(
            select(PatentEncumbrance).where(
                any_of(session, col(PatentEncumbrance.patent_id), [p.id for p in found])
            )
        ):
            by_patent[item.patent_id].append(item)
    for patent in found:
        set_committed_value(patent, "encumbrances", by_patent.get(patent.id or 0, []))
    return found


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


def _open_licenses(session: Session, listing_ids: set[int]) -> dict[int, OpenLicenseSummary]:
    if not listing_ids:
        return {}
    rows = session.execute(
        select(
            col(Listing.id), col(Listing.announcement_number), col(Listing.announcement_date)
        ).where(any_of(session, col(Listing.id), listing_ids))
    ).all()
    return {
        row[0]: OpenLicenseSummary(
            listing_id=row[0], announcement_number=row[1], announcement_date=row[2]
        )
        for row in rows
    }


def _active_license_counts(session: Session, patent_ids: list[int], *, today: date) -> Counter[int]:
    """Licenses in force today: not terminated, and their term not yet over."""
    if not patent_ids:
        return Counter()
    rows = session.execute(
        select(ListingPatent.patent_id, sa.func.count(col(License.id)))
        .join(License, col(License.listing_id) == col(ListingPatent.listing_id))
        .where(any_of(session, col(ListingPatent.patent_id), patent_ids))
        .where(col(License.status) == LicenseStatus.active)
        .where(col(License.effective_date) <= today, col(License.expires_on) >= today)
        .group_by(col(ListingPatent.patent_id))
    ).all()
    return Counter(dict(rows))


def _result(
    patent: Patent,
    *,
    pledges: dict[int, ActivePledgeSummary],
    listings: dict[int, OpenLicenseSummary],
    counts: Counter[int],
    today: date,
) -> EncumbranceResult:
    kind = PatentKind(patent.kind)
    term_end = patents.term_end_date(kind, patent.filing_date)
    fee = patents.fee_status(patent, today=today)
    pledge = pledges.get(patent.active_pledge_id) if patent.active_pledge_id else None
    listing = (
        listings.get(patent.open_license_listing_id) if patent.open_license_listing_id else None
    )
    issues = pledge_issues(patent, pledgor_id=patent.owner_id, debt_end_date=None, today=today)
    # Built from values this module computed: validating them again would cost as much as the
    # rest of the check for a thousand numbers.
    return EncumbranceResult.model_construct(
        application_number=patent.application_number,
        known=True,
        owner_id=patent.owner_id,
        kind=kind.value,
        legal_status=str(patent.legal_status),
        in_force=patents.is_in_force(patent, today=today),
        fee_status=fee.value,
        fee_paid_until=patent.fee_paid_until,
        next_fee_due_date=(
            patent.fee_paid_until + timedelta(days=1)
            if patent.fee_paid_until and fee is not FeeStatus.not_applicable
            else None
        ),
        term_end_date=term_end,
        remaining_term_days=max(0, (term_end - today).days),
        main_ipc=patent.main_ipc,
        active_pledge=pledge,
        open_license=listing,
        active_license_count=counts.get(patent.id or 0, 0),
        exclusive_license=bool(
            patents.encumbrances_in_force(patent, patents.EXCLUSIVE_KINDS, today=today)
        ),
        pledgeable=not issues,
        reasons=list(dict.fromkeys(item.code for item in issues)),
    )
