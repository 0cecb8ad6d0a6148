"""A license as its parties see it: its terms and state (licensing) with the pledges it was
linked to when granted (pledges)."""

from collections.abc import Sequence

from sqlmodel import Session

from marketplace.licensing import service as licensing
from marketplace.licensing.models.licenses import License, LicensePublic
from marketplace.pledges import license_links


def license_public(session: Session, license_: License) -> LicensePublic:
    """The license with the pledges it was linked to when granted."""
    assert license_.id is not None
    linked = license_links.pledge_ids_by_license(session, [license_.id])
    return licensing.to_public(license_, linked.get(license_.id, []))


def licenses_public(session: Session, items: Sequence[License]) -> list[LicensePublic]:
    """Licenses with their pledge links, read in one query."""
    linked = license_links.pledge_ids_by_license(session, (item.id or 0 for item in items))
    return [licensing.to_public(item, linked.get(item.id or 0, [])) for item in items]
