"""Writing the rows of a bulk import: new patents in multi-row inserts, and what a row changes in
a patent the organization already has.

Idempotent by application number:

* a new number is created, with a multi-row ``INSERT ... ON CONFLICT DO NOTHING``;
* a number the organization already has is ``unchanged`` when the row agrees with it, and an edit
  (``PatentEdit``, applied through the same rules as ``PATCH /api/v1/patents/{id}``) when a field
  the row gives differs; empty cells and absent keys leave the stored value as it is; the filing
  date never changes;
* a number registered by another organization is a row error (``patent_already_registered``).
"""

import json
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from marketplace import clock
from marketplace.accounts.models import LICENSOR_KINDS, Organization
from marketplace.db import any_of
from marketplace.patents.errors import NotPatentOwnerKind
from marketplace.patents.identifiers import kind_of_canonical_number
from marketplace.patents.import_models import ImportRowError
from marketplace.patents.import_reader import Row, row_error
from marketplace.patents.models import Patent, PatentCreate, PatentUpdate

PATENT_TABLE: sa.Table = SQLModel.metadata.tables["patent"]
PATENT_IPC_TABLE: sa.Table = SQLModel.metadata.tables["patent_ipc"]

MAX_REPORTED_ERRORS = 1000
UPDATABLE_FIELDS = frozenset(PatentUpdate.model_fields)


def still_reported(reported: int, errors: list[ImportRowError]) -> list[ImportRowError]:
    """Those of ``errors`` that fit after ``reported`` ones: only the first are kept."""
    return errors[: max(MAX_REPORTED_ERRORS - reported, 0)]


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
        self.errors.extend(still_reported(len(self.errors), other.errors))


@dataclass(frozen=True, slots=True)
class PatentEdit:
    """An own patent that a row changes. Applying it is the caller's: a patent edit has
    consequences beyond patents (a declaration lapses, a pledgee hears of it)."""

    line: int
    patent: Patent
    changes: PatentUpdate


def check_owner(owner: Organization) -> None:
    if owner.kind not in LICENSOR_KINDS:
        raise NotPatentOwnerKind(f"A {owner.kind} does not register patents.")


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
        "evaluation_report_conclusion": data.evaluation_report_conclusion,
        "fee_reduction_percent": data.fee_reduction_percent,
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


def _edits(session: Session, rows: list[Row], outcome: ImportOutcome) -> list[PatentEdit]:
    numbers = [cast(PatentCreate, row.data).application_number for row in rows]
    found = session.scalars(
        select(Patent).where(any_of(session, col(Patent.application_number), numbers))
    )
    by_number = {patent.application_number: patent for patent in found}
    edits: list[PatentEdit] = []
    for row in rows:
        data = cast(PatentCreate, row.data)
        patent = by_number[data.application_number]
        if data.filing_date != patent.filing_date:
            outcome.fail(
                row_error(
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
        edits.append(PatentEdit(row.line, patent, PatentUpdate.model_validate(changes)))
    return edits


def _owners(session: Session, numbers: list[str]) -> dict[str, int]:
    statement = select(Patent.application_number, Patent.owner_id).where(
        any_of(session, col(Patent.application_number), numbers)
    )
    return {str(number): int(owner_id) for number, owner_id in session.execute(statement)}


def write_chunk(
    *, session: Session, owner_id: int, rows: list[Row]
) -> tuple[ImportOutcome, list[PatentEdit]]:
    """Write one chunk of read rows, and say what they change in patents the owner already has
    (the edits, neither applied nor counted yet); flushes only (the caller's transaction
    commits). Errors are in the order found, not by line."""
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
                row_error(
                    row.line,
                    "patent_already_registered",
                    f"Patent {number} is already registered on the platform.",
                    application_number=number,
                )
            )
    return outcome, _edits(session, own, outcome) if own else []
