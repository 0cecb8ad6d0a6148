"""Licenses granted on pledged patents: their royalty income is the pledgee's concern (Civil
Code art. 444), so each license is linked, when granted, to the pledges then registered on its
patents."""

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from marketplace.pledges.collateral import PledgedPatentFacts, active_pledge_ids
from marketplace.pledges.models import LicensePledge


def link_license(
    session: Session, *, license_id: int, patents: Sequence[PledgedPatentFacts]
) -> list[int]:
    """Link the license to every pledge in force on ``patents``; returns the pledge ids."""
    pledge_ids = sorted(active_pledge_ids(patents))
    if pledge_ids:  # most licenses have none: no flush to run then
        session.add_all(
            LicensePledge(license_id=license_id, pledge_id=pledge_id) for pledge_id in pledge_ids
        )
        session.flush()
    return pledge_ids


def pledge_ids_by_license(session: Session, license_ids: Iterable[int]) -> dict[int, list[int]]:
    """For each license, the pledges it was linked to when granted (ascending); one query."""
    wanted = sorted(set(license_ids))
    found: dict[int, list[int]] = defaultdict(list)
    if not wanted:
        return found
    rows = session.execute(
        select(LicensePledge.license_id, LicensePledge.pledge_id)
        .where(col(LicensePledge.license_id).in_(wanted))
        .order_by(col(LicensePledge.license_id), col(LicensePledge.pledge_id))
    ).all()
    for license_id, pledge_id in rows:
        found[license_id].append(pledge_id)
    return found
