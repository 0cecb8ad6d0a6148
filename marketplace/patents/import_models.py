"""Bulk patent imports: the job a university submits over the API, its file, and what it reports."""

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.db import JSONType, UTCDateTime, enum_type
from marketplace.errors import FieldError


class ImportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    completed_with_errors = "completed_with_errors"
    failed = "failed"


class ImportRowError(BaseModel):
    """Why one row of the file was not imported."""

    line: int = PydanticField(description="Line of the file where the row starts (1-based).")
    application_number: str | None = PydanticField(
        default=None, description="As written in the row (canonical when it was valid)."
    )
    code: str = PydanticField(examples=["validation_failed"])
    detail: str
    errors: list[FieldError] = PydanticField(
        default_factory=list, description="Field errors, as in the API's 422 responses."
    )


class ImportCounts(SQLModel):
    total_rows: int = 0
    created_count: int = 0
    updated_count: int = 0
    unchanged_count: int = 0
    failed_count: int = 0


class ImportJob(ImportCounts, table=True):
    """One uploaded file and the progress of importing it. Counts and reported errors are written
    in the same transaction as each chunk of patents, so ``rows_done`` is where a resumed run
    continues."""

    __tablename__ = "import_job"

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    submitted_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    format: ImportFormat = Field(sa_type=enum_type(ImportFormat, "import_format"))
    filename: str = Field(max_length=255)
    size_bytes: int = Field(ge=0)
    status: ImportStatus = Field(
        default=ImportStatus.queued, sa_type=enum_type(ImportStatus, "import_status"), index=True
    )
    rows_done: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ImportFile(SQLModel, table=True):
    """The uploaded bytes, kept in the database so that any process can run or resume the job;
    a table of its own so that reading a job's status never loads them."""

    __tablename__ = "import_file"

    job_id: int = Field(foreign_key="import_job.id", primary_key=True, ondelete="CASCADE")
    content: bytes = Field(sa_type=sa.LargeBinary)


class ImportJobSummary(ImportCounts):
    """A job in a list: its status and counts, without the row errors."""

    id: int
    organization_id: int
    submitted_by_id: int | None
    format: ImportFormat
    filename: str
    size_bytes: int
    status: ImportStatus
    rows_done: int
    error: str | None = PydanticField(
        description="Why the file as a whole could not be imported (its rows were not read)."
    )
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


class ImportJobPublic(ImportJobSummary):
    errors: list[ImportRowError] = PydanticField(
        description="Row errors, in file order; at most the first 1,000 (see `failed_count`)."
    )
