"""Bulk patent import from CSV or JSON Lines, shared by the `marketplace import patents` command
and the asynchronous API job.

A row is valid exactly when the same fields sent to ``POST /api/v1/patents`` would be: each row is
validated by ``PatentCreate``. Valid rows are written in chunks, each chunk one transaction with a
multi-row ``INSERT ... ON CONFLICT DO NOTHING``, so a crash loses at most the chunk in flight.

Idempotent by application number:

* a new number is created;
* a number the organization already has is ``unchanged`` when the row agrees with it, and
  ``updated`` (through the same rules as ``PATCH /api/v1/patents/{id}``) when a field the row gives
  differs; empty cells and absent keys leave the stored value as it is; the filing date never
  changes;
* a number registered by another organization is a row error (``patent_already_registered``);
* a number seen earlier in the same file is a row error (``duplicate_row``).

A bad row never stops the rest: it is reported with its line, application number (when readable)
and the API's field errors or refusal code. Only a file that cannot be read as a whole (empty, a
wrong CSV header) fails as a whole (``InvalidImportFile``), before any row is written.
"""

import codecs
import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any, cast

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from marketplace import clock
from marketplace.accounts.errors import OrganizationNotFound
from marketplace.accounts.models import LICENSOR_KINDS, Organization
from marketplace.config import get_settings
from marketplace.db import any_of, transition
from marketplace.errors import FieldError, MarketplaceError, field_errors, summary
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents.errors import (
    ImportJobNotFound,
    InvalidImportFile,
    NotPatentOwnerKind,
)
from marketplace.patents.identifiers import kind_of_canonical_number
from marketplace.patents.import_models import (
    ImportFile,
    ImportFormat,
    ImportJob,
    ImportJobPublic,
    ImportJobSummary,
    ImportRowError,
    ImportStatus,
)
from marketplace.patents.models import Patent, PatentCreate, PatentUpdate
from marketplace.workflows import patents as patent_workflows

logger = logging.getLogger(__name__)

PATENT_TABLE: sa.Table = SQLModel.metadata.tables["patent"]
PATENT_IPC_TABLE: sa.Table = SQLModel.metadata.tables["patent_ipc"]

SessionFactory = Callable[[], AbstractContextManager[Session]]
"""Opens a session whose transaction commits when the block ends (``db.unit_of_work``)."""

MAX_REPORTED_ERRORS = 1000
COLUMNS: tuple[str, ...] = tuple(PatentCreate.model_fields)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    name for name, info in PatentCreate.model_fields.items() if info.is_required()
)
# `;`-separated in CSV.
LIST_COLUMNS = frozenset({"ipc_codes", "inventors"})
UPDATABLE_FIELDS = frozenset(PatentUpdate.model_fields)
# What pydantic reads as a boolean: `Name=yes` gives a CSV co-owner its consent.
_BOOLEAN_WORDS = frozenset(
    {"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"}
)
_JSONL_CONTENT_TYPES = frozenset(
    {
        "application/jsonl",
        "application/x-jsonl",
        "application/json-lines",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/x-ndjson",
        "application/ndjson",
    }
)


# Reading ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One record of the file: validated, or why not."""

    line: int
    data: PatentCreate | None = None
    error: ImportRowError | None = None


def detect_format(*, filename: str | None, content_type: str | None, head: bytes) -> ImportFormat:
    """From the file name, else the content type, else the content: JSON Lines start with `{`."""
    name = (filename or "").lower()
    if name.endswith(".csv"):
        return ImportFormat.csv
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return ImportFormat.jsonl
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in ("text/csv", "application/csv"):
        return ImportFormat.csv
    if media_type in _JSONL_CONTENT_TYPES:
        return ImportFormat.jsonl
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()
    return ImportFormat.jsonl if start.startswith(b"{") else ImportFormat.csv


def _row_error(
    line: int,
    code: str,
    detail: str,
    *,
    application_number: Any = None,
    errors: list[FieldError] | None = None,
) -> ImportRowError:
    number = application_number if isinstance(application_number, str) else None
    return ImportRowError(
        line=line,
        application_number=number[:40] if number else None,
        code=code,
        detail=detail,
        errors=errors or [],
    )


def _validated(line: int, values: dict[str, Any]) -> Row:
    try:
        return Row(line, data=PatentCreate.model_validate(values))
    except ValidationError as exc:
        # The API's 422 field errors, without its `body.` prefix.
        errors = field_errors(exc.errors(), empty_field="row")
        return Row(
            line,
            error=_row_error(
                line,
                "validation_failed",
                summary(errors),
                application_number=values.get("application_number"),
                errors=[FieldError(**error) for error in errors],
            ),
        )


def _physical_lines(
    stream: IO[bytes], *, max_line_bytes: int
) -> Iterator[tuple[int, bytes | None]]:
    """Numbered lines with their terminators; ``None`` for a line longer than allowed, whose rest
    is skipped without holding it in memory."""
    number = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(65_536)
            yield number, None
            continue
        yield number, raw


def _csv_value(name: str, cell: str) -> Any:
    if name in LIST_COLUMNS:
        return [item.strip() for item in cell.split(";") if item.strip()]
    if name == "co_owners":
        co_owners: list[dict[str, str]] = []
        for item in (part.strip() for part in cell.split(";")):
            if not item:
                continue
            owner_name, separator, flag = item.rpartition("=")
            if separator and flag.strip().lower() in _BOOLEAN_WORDS:
                co_owners.append({"name": owner_name.strip(), "open_license_consent": flag.strip()})
            else:
                co_owners.append({"name": item})
        return co_owners
    return cell


def _csv_header(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise InvalidImportFile(
            f"Unknown CSV column(s): {', '.join(repr(name) for name in unknown)}. "
            f"The columns are: {', '.join(COLUMNS)}.",
            unknown_columns=unknown,
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise InvalidImportFile(f"CSV column(s) given twice: {', '.join(repeated)}.")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise InvalidImportFile(
            f"Required CSV column(s) missing: {', '.join(missing)}.", missing_columns=missing
        )
    return columns


def _csv_rows(stream: IO[bytes], *, max_line_bytes: int) -> Iterator[Row]:
    not_utf8: set[int] = set()
    too_long: set[int] = set()

    def lines() -> Iterator[str]:
        for number, raw in _physical_lines(stream, max_line_bytes=max_line_bytes):
            if raw is None:
                too_long.add(number)
                yield "\n"
                continue
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                not_utf8.add(number)
                yield raw.decode("utf-8", "surrogateescape")

    reader = csv.reader(lines())
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidImportFile("The file is empty; a CSV file starts with a header.") from None
    except csv.Error as exc:
        raise InvalidImportFile(f"The CSV header cannot be read: {exc}.") from None
    if too_long or not_utf8 or not header:
        raise InvalidImportFile("The first line must be the CSV header, in UTF-8.")
    columns = _csv_header(header)
    previous = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, previous = previous + 1, reader.line_num
            yield Row(start, error=_row_error(start, "malformed_row", f"Unreadable CSV: {exc}."))
            continue
        start, previous = previous + 1, reader.line_num
        span = range(start, previous + 1)
        if too_long and any(number in too_long for number in span):
            yield Row(
                start,
                error=_row_error(
                    start, "line_too_long", f"The line is longer than {max_line_bytes} bytes."
                ),
            )
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if not_utf8 and any(number in not_utf8 for number in span):
            yield Row(
                start,
                error=_row_error(
                    start, "invalid_encoding", "The row is not valid UTF-8; save the file as UTF-8."
                ),
            )
            continue
        if len(cells) != len(columns):
            yield Row(
                start,
                error=_row_error(
                    start,
                    "malformed_row",
                    f"The row has {len(cells)} fields; the header has {len(columns)}.",
                    application_number=(
                        cells[columns.index("application_number")]
                        if len(cells) > columns.index("application_number")
                        else None
                    ),
                ),
            )
            continue
        values = {
            name: _csv_value(name, cell.strip())
            for name, cell in zip(columns, cells, strict=True)
            if cell.strip()
        }
        yield _validated(start, values)


def _jsonl_rows(stream: IO[bytes], *, max_line_bytes: int) -> Iterator[Row]:
    for number, raw in _physical_lines(stream, max_line_bytes=max_line_bytes):
        if raw is None:
            yield Row(
                number,
                error=_row_error(
                    number, "line_too_long", f"The line is longer than {max_line_bytes} bytes."
                ),
            )
            continue
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield Row(
                number,
                error=_row_error(
                    number, "invalid_encoding", "The line is not valid UTF-8; save it as UTF-8."
                ),
            )
            continue
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Row(
                number,
                error=_row_error(
                    number, "invalid_json", f"Not valid JSON: {exc.msg} (column {exc.colno})."
                ),
            )
            continue
        if not isinstance(values, dict):
            yield Row(
                number,
                error=_row_error(number, "invalid_json", "Each line must be one JSON object."),
            )
            continue
        yield _validated(number, values)


def read_rows(stream: IO[bytes], file_format: ImportFormat) -> Iterator[Row]:
    """Every non-blank record of the file, in order. Raises ``InvalidImportFile`` (on the first
    ``next``) when the file cannot be read at all."""
    max_line_bytes = get_settings().import_max_line_bytes
    if file_format is ImportFormat.csv:
        return _csv_rows(stream, max_line_bytes=max_line_bytes)
    return _jsonl_rows(stream, max_line_bytes=max_line_bytes)


def check_file(content: bytes, file_format: ImportFormat) -> None:
    """What can be refused at once, before a job is queued: an empty file, a wrong CSV header."""
    if not content.strip():
        raise InvalidImportFile("The file is empty.")
    if file_format is ImportFormat.csv:
        rows = read_rows(io.BytesIO(content), file_format)
        next(rows, None)


# Writing ---------------------------------------------------------------------------------------


@dataclass
class ImportOutcome:
    """Counts and errors of a chunk, or of a whole import."""

    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[ImportRowError] = field(default_factory=list)

    def fail(self, error: ImportRowError) -> None:
        self.failed += 1
        self.errors.append(error)

    def add(self, other: "ImportOutcome") -> None:
        self.total_rows += other.total_rows
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(other.errors[: max(room, 0)])


def _patent_values(data: PatentCreate, owner_id: int, now: Any) -> dict[str, Any]:
    return {
        "owner_id": owner_id,
        "application_number": data.application_number,
        "kind": kind_of_canonical_number(data.application_number),
        "filing_date": data.filing_date,
        "title": data.title,
        "abstract": data.abstract,
        "grant_date": data.grant_date,
        "legal_status": data.legal_status,
        "fee_paid_until": data.fee_paid_until,
        "publication_number": data.publication_number,
        "department": data.department,
        "publicly_funded": data.publicly_funded,
        "evaluation_report_ref": data.evaluation_report_ref,
        "main_ipc": data.ipc_codes[0] if data.ipc_codes else None,
        "inventors": data.inventors,
        "co_owners": [co_owner.model_dump() for co_owner in data.co_owners],
        "created_at": now,
        "updated_at": now,
    }


def _unnest(table: sa.Table, values: list[dict[str, Any]]) -> sa.Select[Any]:
    """PostgreSQL: the rows as one array parameter per column, ``SELECT unnest(...), ...``.

    A multi-row VALUES list of a thousand rows is a statement of twenty thousand placeholders
    that the driver parses on every chunk; arrays keep the statement small and constant."""
    columns: list[sa.ColumnElement[Any]] = []
    for name in values[0]:
        column_type = table.c[name].type
        items = [row[name] for row in values]
        element: sa.types.TypeEngine[Any]
        if isinstance(column_type, sa.JSON):
            items = [json.dumps(item) for item in items]
            element = sa.Text()
        elif isinstance(column_type, sa.String):
            items = [None if item is None else str(item) for item in items]
            element = sa.Text()
        elif isinstance(column_type, sa.types.TypeDecorator):
            element = column_type.impl_instance
        else:
            element = column_type
        unnested: sa.ColumnElement[Any] = sa.func.unnest(
            sa.bindparam(f"unnest_{name}", items, type_=postgresql.ARRAY(element))
        )
        if isinstance(column_type, sa.JSON):
            unnested = sa.cast(unnested, postgresql.JSONB)
        elif isinstance(column_type, sa.String):
            unnested = sa.cast(unnested, column_type)
        columns.append(unnested.label(name))
    return sa.select(*columns)


def _insert_rows(
    session: Session, table: sa.Table, values: list[dict[str, Any]], *, conflict: list[str]
) -> sa.Result[Any]:
    if session.get_bind().dialect.name == "postgresql":
        statement: postgresql.Insert | sqlite.Insert = postgresql.insert(table).from_select(
            list(values[0]), _unnest(table, values)
        )
        parameters: Any = None
    else:
        statement, parameters = sqlite.insert(table), values
    statement = statement.on_conflict_do_nothing(index_elements=conflict)
    if "id" in table.c:
        return session.execute(
            statement.returning(table.c.id, table.c.application_number), parameters
        )
    return session.execute(statement, parameters)


def _insert_new(session: Session, owner_id: int, rows: list[Row]) -> dict[str, int]:
    """Multi-row INSERT ... ON CONFLICT DO NOTHING; the ids of the patents it created."""
    now = clock.now()
    values = [_patent_values(cast(PatentCreate, row.data), owner_id, now) for row in rows]
    result = _insert_rows(session, PATENT_TABLE, values, conflict=["application_number"])
    created = {str(row.application_number): int(row.id) for row in result}
    codes = [
        {"patent_id": created[data.application_number], "position": position, "code": code}
        for data in (cast(PatentCreate, row.data) for row in rows)
        if data.application_number in created
        for position, code in enumerate(data.ipc_codes)
    ]
    if codes:
        _insert_rows(
            session,
            PATENT_IPC_TABLE,
            codes,
            conflict=["patent_id", "position"],
        )
    return created


def _changes(patent: Patent, data: PatentCreate) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in UPDATABLE_FIELDS & data.model_fields_set:
        value = getattr(data, name)
        if name == "co_owners":
            value = [co_owner.model_dump() for co_owner in data.co_owners]
        current = patent.ipc_codes if name == "ipc_codes" else getattr(patent, name)
        if value != current:
            changes[name] = value
    return changes


def _update_own(session: Session, rows: list[Row], outcome: ImportOutcome) -> None:
    numbers = [cast(PatentCreate, row.data).application_number for row in rows]
    found = session.scalars(
        select(Patent).where(any_of(session, col(Patent.application_number), numbers))
    )
    by_number = {patent.application_number: patent for patent in found}
    for row in rows:
        data = cast(PatentCreate, row.data)
        patent = by_number[data.application_number]
        if data.filing_date != patent.filing_date:
            outcome.fail(
                _row_error(
                    row.line,
                    "invalid_patent_update",
                    f"filing_date {data.filing_date} differs from the registered "
                    f"{patent.filing_date}; a filing date never changes.",
                    application_number=data.application_number,
                )
            )
            continue
        changes = _changes(patent, data)
        if not changes:
            outcome.unchanged += 1
            continue
        try:
            with session.begin_nested():
                patent_workflows.update_patent(
                    session=session, patent=patent, changes=PatentUpdate.model_validate(changes)
                )
        except MarketplaceError as exc:
            session.expire(patent)
            outcome.fail(
                _row_error(
                    row.line, exc.code, exc.detail, application_number=data.application_number
                )
            )
        else:
            outcome.updated += 1


def _owners(session: Session, numbers: list[str]) -> dict[str, int]:
    statement = select(Patent.application_number, Patent.owner_id).where(
        any_of(session, col(Patent.application_number), numbers)
    )
    return {str(number): int(owner_id) for number, owner_id in session.execute(statement)}


def write_chunk(*, session: Session, owner_id: int, rows: list[Row]) -> ImportOutcome:
    """Write one chunk of read rows; flushes only (the caller's transaction commits)."""
    outcome = ImportOutcome(total_rows=len(rows))
    valid: list[Row] = []
    for row in rows:
        if row.error is not None:
            outcome.fail(row.error)
        else:
            valid.append(row)
    owners = _owners(session, [cast(PatentCreate, row.data).application_number for row in valid])
    new = [row for row in valid if cast(PatentCreate, row.data).application_number not in owners]
    created = _insert_new(session, owner_id, new) if new else {}
    outcome.created = len(created)
    # Registered by a concurrent request between the look-up and the insert.
    raced = [row for row in new if cast(PatentCreate, row.data).application_number not in created]
    if raced:
        owners.update(
            _owners(session, [cast(PatentCreate, row.data).application_number for row in raced])
        )
    own: list[Row] = []
    new_rows = {id(row) for row in new}
    for row in [row for row in valid if id(row) not in new_rows] + raced:
        number = cast(PatentCreate, row.data).application_number
        if owners[number] == owner_id:
            own.append(row)
        else:
            outcome.fail(
                _row_error(
                    row.line,
                    "patent_already_registered",
                    f"Patent {number} is already registered on the platform.",
                    application_number=number,
                )
            )
    if own:
        _update_own(session, own, outcome)
    outcome.errors.sort(key=lambda error: error.line)
    return outcome


REFUSED_BY_DATABASE = (sa.exc.DataError, sa.exc.IntegrityError)


def _write_row_by_row(session: Session, owner_id: int, rows: list[Row]) -> ImportOutcome:
    outcome = ImportOutcome()
    for row in rows:
        try:
            with session.begin_nested():
                part = write_chunk(session=session, owner_id=owner_id, rows=[row])
        except REFUSED_BY_DATABASE as exc:
            logger.info("import row on line %s refused by the database: %s", row.line, exc)
            part = ImportOutcome(total_rows=1)
            part.fail(
                _row_error(
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


def check_owner(owner: Organization) -> None:
    if owner.kind not in LICENSOR_KINDS:
        raise NotPatentOwnerKind(f"A {owner.kind} does not register patents.")


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
    with sessions() as session:
        owner = session.get(Organization, owner_id)
        if owner is None:
            raise OrganizationNotFound(f"Organization {owner_id} does not exist.")
        check_owner(owner)
    total = ImportOutcome()
    seen: dict[str, int] = {}
    chunk: list[Row] = []

    def flush() -> None:
        try:
            with sessions() as session:
                outcome = write_chunk(session=session, owner_id=owner_id, rows=chunk)
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
        if row.data is not None:
            number = row.data.application_number
            first = seen.setdefault(number, row.line)
            if first != row.line:
                row = Row(
                    row.line,
                    error=_row_error(
                        row.line,
                        "duplicate_row",
                        f"Application number {number} is already on line {first}.",
                        application_number=number,
                    ),
                )
        if index <= skip_rows:
            continue
        chunk.append(row)
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    return total


# The API job -----------------------------------------------------------------------------------


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
    check_owner(owner)
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


def _record_chunk(job_id: int, session: Session, outcome: ImportOutcome) -> None:
    job = session.get_one(ImportJob, job_id)
    job.total_rows += outcome.total_rows
    job.created_count += outcome.created
    job.updated_count += outcome.updated
    job.unchanged_count += outcome.unchanged
    job.failed_count += outcome.failed
    job.rows_done += outcome.total_rows
    room = MAX_REPORTED_ERRORS - len(job.errors)
    if room > 0 and outcome.errors:
        job.errors = [*job.errors, *(e.model_dump() for e in outcome.errors[:room])]
    job.heartbeat_at = clock.now()
    session.add(job)
    session.flush()


def _finish(
    sessions: SessionFactory, job_id: int, status: ImportStatus, error: str | None = None
) -> None:
    with sessions() as session:
        job = session.get_one(ImportJob, job_id)
        job.status = status
        job.error = error
        job.finished_at = clock.now()
        session.add(job)
        file = session.get(ImportFile, job_id)
        if file is not None:
            session.delete(file)
        session.flush()


def run_import_job(
    *, sessions: SessionFactory, job_id: int, stale_after: timedelta | None = None
) -> bool:
    """Claim the job (queued, or running without progress for ``stale_after``) and run it from
    where it stopped. False when another process has it or it has ended."""
    stale_after = stale_after or timedelta(seconds=get_settings().import_stale_after_seconds)
    now = clock.now()
    with sessions() as session:
        claimable = sa.or_(
            col(ImportJob.status) == ImportStatus.queued,
            sa.and_(
                col(ImportJob.status) == ImportStatus.running,
                col(ImportJob.heartbeat_at) < now - stale_after,
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
            return False
        job = session.get_one(ImportJob, job_id)
        session.refresh(job)
        file = session.get_one(ImportFile, job_id)
        content, owner_id, skip = file.content, job.organization_id, job.rows_done
        file_format = ImportFormat(job.format)
    try:
        import_patents(
            sessions=sessions,
            owner_id=owner_id,
            stream=io.BytesIO(content),
            file_format=file_format,
            skip_rows=skip,
            on_chunk=lambda session, outcome: _record_chunk(job_id, session, outcome),
        )
    except MarketplaceError as exc:
        _finish(sessions, job_id, ImportStatus.failed, exc.detail)
    except Exception:
        logger.exception("import job %s failed", job_id)
        _finish(
            sessions,
            job_id,
            ImportStatus.failed,
            "The import stopped on an unexpected error; the rows reported as done are saved. "
            "Upload the file again to complete it.",
        )
    else:
        with sessions() as session:
            failed = session.get_one(ImportJob, job_id).failed_count
        _finish(
            sessions,
            job_id,
            ImportStatus.completed_with_errors if failed else ImportStatus.succeeded,
        )
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
    stale_after = stale_after or timedelta(seconds=get_settings().import_stale_after_seconds)
    with sessions() as session:
        candidates = list(
            session.scalars(
                select(ImportJob.id)
                .where(col(ImportJob.status).in_([ImportStatus.queued, ImportStatus.running]))
                .order_by(col(ImportJob.id))
            )
        )
    return [
        job_id
        for job_id in candidates
        if job_id is not None
        and run_import_job(sessions=sessions, job_id=job_id, stale_after=stale_after)
    ]


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
