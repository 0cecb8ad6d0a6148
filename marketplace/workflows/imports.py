"""Bulk patent import from CSV or JSON Lines, shared by the `marketplace import patents` command
and the asynchronous API job.

Unlike other workflows, an import is many transactions by design: rows are written in chunks,
each chunk one unit of work opened by ``sessions`` (the caller's: ``db.unit_of_work`` for the
command, ``patents.deps.import_sessions`` for the API job), so a crash loses at most the chunk in
flight and a job resumes after its last written chunk. Within a chunk, a row that changes a patent
the organization already has is applied as a patent edit (``workflows.patents.update_patent``),
with every consequence of one, in a savepoint of its own so that a refused edit fails only its row.

A bad row never stops the rest (``patents.import_reader``); only a file that cannot be read at
all fails as a whole, before any row is written.
"""

import io
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlmodel import Session

from marketplace.accounts.errors import OrganizationNotFound
from marketplace.accounts.models import Organization
from marketplace.config import get_settings
from marketplace.errors import MarketplaceError
from marketplace.patents import import_jobs, import_writer
from marketplace.patents.import_jobs import SessionFactory
from marketplace.patents.import_models import ImportFormat
from marketplace.patents.import_reader import Row, read_rows, row_error
from marketplace.patents.import_writer import ImportOutcome
from marketplace.workflows import patents as patent_workflows

logger = logging.getLogger(__name__)

REFUSED_BY_DATABASE = (sa.exc.DataError, sa.exc.IntegrityError)


def _write_chunk(session: Session, owner_id: int, rows: list[Row]) -> ImportOutcome:
    """Write one chunk of read rows and apply the edits they make; flushes only (the caller's
    transaction commits)."""
    outcome, edits = import_writer.write_chunk(session=session, owner_id=owner_id, rows=rows)
    for edit in edits:
        try:
            with session.begin_nested():
                patent_workflows.update_patent(
                    session=session, patent=edit.patent, changes=edit.changes
                )
        except MarketplaceError as exc:
            outcome.fail(
                row_error(
                    edit.line,
                    exc.code,
                    exc.detail,
                    application_number=edit.patent.application_number,
                )
            )
            session.expire(edit.patent)
        else:
            outcome.updated += 1
    outcome.errors.sort(key=lambda error: error.line)
    return outcome


def _write_row_by_row(session: Session, owner_id: int, rows: list[Row]) -> ImportOutcome:
    outcome = ImportOutcome()
    for row in rows:
        try:
            with session.begin_nested():
                part = _write_chunk(session, owner_id, [row])
        except REFUSED_BY_DATABASE as exc:
            logger.info("import row on line %s refused by the database: %s", row.line, exc)
            part = ImportOutcome(total_rows=1)
            part.fail(
                row_error(
                    row.line,
                    "invalid_value",
                    "The database refused a value of this row (for example a NUL character).",
                    application_number=row.data.application_number if row.data else None,
                )
            )
        errors = part.errors
        part.errors = []
        outcome.add(part)
        outcome.errors.extend(errors)
    return outcome


def _check_owner(*, sessions: SessionFactory, owner_id: int) -> None:
    with sessions() as session:
        owner = session.get(Organization, owner_id)
        if owner is None:
            raise OrganizationNotFound(f"Organization {owner_id} does not exist.")
        import_writer.check_owner(owner)


def check_import(
    *, sessions: SessionFactory, owner_id: int, path: Path, file_format: ImportFormat
) -> None:
    """What refuses a whole import, checked before it starts: the owner (it exists and may
    register patents) and the file (not empty, a CSV header that names known columns). Reads
    only the file's first record."""
    _check_owner(sessions=sessions, owner_id=owner_id)
    with path.open("rb") as stream:
        next(read_rows(stream, file_format), None)


def import_patents(
    *,
    sessions: SessionFactory,
    owner_id: int,
    stream: IO[bytes],
    file_format: ImportFormat,
    skip_rows: int = 0,
    on_chunk: Callable[[Session, ImportOutcome], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportOutcome:
    """Read, validate and write the file in chunks, each chunk one transaction (with whatever
    ``on_chunk`` records in it). ``skip_rows`` records, already written by an earlier run, are read
    only to recognize later duplicates. Raises ``InvalidImportFile`` before writing anything when
    the file cannot be read at all."""
    chunk_size = get_settings().import_chunk_size
    _check_owner(sessions=sessions, owner_id=owner_id)
    total = ImportOutcome()
    chunk: list[Row] = []

    def flush() -> None:
        try:
            with sessions() as session:
                outcome = _write_chunk(session, owner_id, chunk)
                if on_chunk is not None:
                    on_chunk(session, outcome)
        except REFUSED_BY_DATABASE:
            # A value the database refuses (PostgreSQL: a NUL character): the chunk again, row by
            # row, so that only the offending rows fail.
            with sessions() as session:
                outcome = _write_row_by_row(session, owner_id, chunk)
                if on_chunk is not None:
                    on_chunk(session, outcome)
        total.add(outcome)
        if progress is not None:
            progress(len(chunk))
        chunk.clear()

    for index, row in enumerate(read_rows(stream, file_format), start=1):
        if index <= skip_rows:
            continue
        chunk.append(row)
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    return total


def run_import_job(
    *, sessions: SessionFactory, job_id: int, stale_after: timedelta | None = None
) -> bool:
    """Claim the job (queued, or running without progress for ``stale_after``) and run it from
    where it stopped. False when another process has it or it has ended."""
    with sessions() as session:
        job = import_jobs.claim_job(session=session, job_id=job_id, stale_after=stale_after)
    if job is None:
        return False
    error: str | None = None
    try:
        import_patents(
            sessions=sessions,
            owner_id=job.owner_id,
            stream=io.BytesIO(job.content),
            file_format=job.file_format,
            skip_rows=job.rows_done,
            on_chunk=lambda session, outcome: import_jobs.record_chunk(
                session=session, job_id=job_id, outcome=outcome
            ),
        )
    except MarketplaceError as exc:
        error = exc.detail
    except Exception:
        logger.exception("import job %s failed", job_id)
        error = (
            "The import stopped on an unexpected error; the rows reported as done are saved. "
            "Upload the file again to complete it."
        )
    with sessions() as session:
        import_jobs.finish_job(session=session, job_id=job_id, error=error)
    return True


def run_import_job_in_background(*, sessions: SessionFactory, job_id: int) -> None:
    """After the response: nothing is left to tell the client, so a failure is logged, and the
    job, still queued, is run by ``marketplace import resume``."""
    try:
        run_import_job(sessions=sessions, job_id=job_id)
    except Exception:
        logger.exception("import job %s could not start; it stays queued", job_id)


def resume_import_jobs(
    *, sessions: SessionFactory, stale_after: timedelta | None = None
) -> list[int]:
    """Run every queued job and every running one whose process died; safe to repeat, because
    import is idempotent and each job resumes after its last written chunk."""
    with sessions() as session:
        candidates = import_jobs.unfinished_job_ids(session=session)
    return [
        job_id
        for job_id in candidates
        if run_import_job(sessions=sessions, job_id=job_id, stale_after=stale_after)
    ]
