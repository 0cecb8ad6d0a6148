"""Technology-export review: the controlled categories and an admin's decision."""

from datetime import datetime

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.db import UTCDateTime
from marketplace.patents.models import IpcPrefix


class ExportControl(SQLModel, table=True):
    """A technology category the platform flags for export review, as an IPC prefix at any
    level: a license of a patent under it to a licensee outside China waits for an admin."""

    __tablename__ = "export_control"

    id: int | None = Field(default=None, primary_key=True)
    ipc_prefix: str = Field(max_length=30, unique=True)
    description: str = Field(max_length=500)
    created_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class ExportControlCreate(SQLModel):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"ipc_prefix": "H01L 21", "description": "Semiconductor manufacturing"}]
        },
    }

    ipc_prefix: IpcPrefix = Field(
        description="`G`, `G06`, `G06F`, `G06F 16` or `G06F 16/33`; stored normalized."
    )
    description: str = Field(min_length=1, max_length=500)


class ExportControlPublic(SQLModel):
    id: int
    ipc_prefix: str
    description: str
    created_at: datetime


class ExportDecision(SQLModel):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [{"note": "The technology is not on the restricted export catalogue."}]
        },
    )

    note: str | None = Field(default=None, max_length=1000, description="Why, for the parties.")
