"""Import jobs, called without HTTP: what is refused before a job is queued, and listing."""

import pytest
from sqlmodel import Session, col, func, select

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.pagination import PageParams
from marketplace.patents import import_jobs
from marketplace.patents.errors import InvalidImportFile
from marketplace.patents.import_models import ImportJob
from tests import factories
from tests.patents.import_files import csv_file, csv_row, number, submit


@pytest.fixture
def university(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


def test_submitting_refuses_a_wrong_header_at_once(
    session: Session, university: Organization
) -> None:
    with pytest.raises(InvalidImportFile):
        submit(session, university, b"number,name\n1,2\n")
    assert session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_listing_jobs_shows_only_the_organizations_own(
    session: Session, university: Organization
) -> None:
    rival = factories.organization(session, kind=OrganizationKind.university)
    mine = [submit(session, university, csv_file(csv_row(number()))) for _ in range(3)]
    submit(session, rival, csv_file(csv_row(number())))
    assert university.id is not None

    page, cursor = import_jobs.list_jobs(
        session=session, organization_id=university.id, params=PageParams(limit=2)
    )
    rest, last = import_jobs.list_jobs(
        session=session, organization_id=university.id, params=PageParams(limit=2, cursor=cursor)
    )

    assert [job.id for job in page + rest] == [job.id for job in reversed(mine)]
    assert last is None
    assert session.scalar(select(func.count()).where(col(ImportJob.id).is_not(None))) == 4
