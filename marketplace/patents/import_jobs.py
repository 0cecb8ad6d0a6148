"""The import job a university submits over the API: its stored file, who runs it, its progress.

Counts and reported errors are written in the same transaction as each chunk of patents, so
``rows_done`` is where a resumed run continues. Running a job is a workflow
(``marketplace.workflows.imports``): writing its rows edits patents, whose consequences reach
beyond this package.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents import import_writer
from marketplace.patents.errors import ImportJobNotFound
from marketplace.patents.import_models import (
    ImportFile,
    ImportFormat,
    ImportJob,
    ImportJobPublic,
    ImportJobSummary,
    ImportStatus,
)
from marketplace.patents.import_reader import check_file
from marketplace.patents.import_writer import ImportOutcome

SessionFactory = Callable[[], AbstractContextManager[Session]]
"""Opens a session whose transaction commits when the block ends (``db.unit_of_work``)."""


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """What a run needs of the job it claimed, read in the claiming transaction."""

    job_id: int
    owner_id: int
    file_format: ImportFormat
    rows_done: int
    content: bytes


def submit_import(
    *,
    session: Session,
    owner: Organization,
    submitted_by_id: int | None,
    filename: str,
    content: bytes,
    file_format: ImportFormat,
) -> ImportJob:
    """Queue a job for the file (stored with it); refuses at once what can be refused at once."""
    import_writer.check_owner(owner)
    check_file(content, file_format)
    assert owner.id is not None
    job = ImportJob(
        organization_id=owner.id,
        submitted_by_id=submitted_by_id,
        format=file_format,
        filename=filename[:255],
        size_bytes=len(content),
    )
    session.add(job)
    session.flush()
    assert job.id is not None
    session.add(ImportFile(job_id=job.id, content=content))
    session.flush()
    return job


def _stale_after(stale_after: timedelta | None) -> timedelta:
    return stale_after or timedelta(seconds=get_settings().import_stale_after_seconds)


def claim_job(
    *, session: Session, job_id: int, stale_after: timedelta | None = None
) -> ClaimedJob | None:
    """Take the job to run it: queued, or running without progress for ``stale_after``. None when
    another process has it or it has ended."""
    now = clock.now()
    claimable = sa.or_(
        col(ImportJob.status) == ImportStatus.queued,
        sa.and_(
            col(ImportJob.status) == ImportStatus.running,
            col(ImportJob.heartbeat_at) < now - _stale_after(stale_after),
        ),
    )
    if not transition(
        session,
        sa.update(ImportJob)
        .where(col(ImportJob.id) == job_id)
        .where(claimable)
        .values(
            status=ImportStatus.running,
            heartbeat_at=now,
            started_at=sa.func.coalesce(col(ImportJob.started_at), now),
        ),
    ):
        return None
    job = session.get_one(ImportJob, job_id)
    session.refresh(job)
    file = session.get_one(ImportFile, job_id)
    return ClaimedJob(
        job_id=job_id,
        owner_id=job.organization_id,
        file_format=ImportFormat(job.format),
        rows_done=job.rows_done,
        content=file.content,
    )


def record_chunk(*, session: Session, job_id: int, outcome: ImportOutcome) -> None:
    """A chunk's counts and errors, in the chunk's transaction; the job's heartbeat."""
    job = session.get_one(ImportJob, job_id)
    job.total_rows += outcome.total_rows
    job.created_count += outcome.created
    job.updated_count += outcome.updated
    job.unchanged_count += outcome.unchanged
    job.failed_count += outcome.failed
    job.rows_done += outcome.total_rows
    kept = import_writer.still_reported(len(job.errors), outcome.errors)
    if kept:
        job.errors = [*job.errors, *(error.model_dump() for error in kept)]
    job.heartbeat_at = clock.now()
    session.add(job)
    session.flush()


def finish_job(*, session: Session, job_id: int, error: str | None = None) -> None:
    """The job ends, failed with ``error`` or else by how its rows went; its file is dropped."""
    job = session.get_one(ImportJob, job_id)
    if error is not None:
        job.status = ImportStatus.failed
    elif job.failed_count:
        job.status = ImportStatus.completed_with_errors
    else:
        job.status = ImportStatus.succeeded
    job.error = error
    job.finished_at = clock.now()
    session.add(job)
    file = session.get(ImportFile, job_id)
    if file is not None:
        session.delete(file)
    session.flush()


def unfinished_job_ids(*, session: Session) -> list[int]:
    """Queued and running jobs, oldest first: those a resume may claim."""
    found = session.scalars(
        select(ImportJob.id)
        .where(col(ImportJob.status).in_([ImportStatus.queued, ImportStatus.running]))
        .order_by(col(ImportJob.id))
    )
    return [job_id for job_id in found if job_id is not None]


def get_job(*, session: Session, organization_id: int, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None or job.organization_id != organization_id:
        raise ImportJobNotFound(f"Import {job_id} does not exist.")
    return job


def list_jobs(
    *, session: Session, organization_id: int, params: PageParams
) -> tuple[list[ImportJob], str | None]:
    statement = select(ImportJob).where(ImportJob.organization_id == organization_id)
    items, cursor = paginate_by_id(session, statement, id_column=ImportJob.id, params=params)
    return list(items), cursor


def to_public(job: ImportJob) -> ImportJobPublic:
    return ImportJobPublic.model_validate(job.model_dump())


def to_summary(job: ImportJob) -> ImportJobSummary:
    return ImportJobSummary.model_validate(job.model_dump(exclude={"errors"}))
