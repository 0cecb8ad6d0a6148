"""Reading a bulk import file: its format, its records, each validated into a row or an error.

A row is valid exactly when the same fields sent to ``POST /api/v1/patents`` would be: each row is
validated by ``PatentCreate``. A bad row is reported with its line, application number (when
readable) and the API's field errors; a number seen earlier in the same file is a row error
(``duplicate_row``). Only a file that cannot be read as a whole (empty, a wrong CSV header) fails as
a whole (``InvalidImportFile``), before any row is written.
"""

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from pydantic import ValidationError

from marketplace.config import get_settings
from marketplace.errors import FieldError, field_errors, summary
from marketplace.patents.errors import InvalidImportFile
from marketplace.patents.import_models import ImportFormat, ImportRowError
from marketplace.patents.models import PatentCreate
from marketplace.text import find_control_character

COLUMNS: tuple[str, ...] = tuple(PatentCreate.model_fields)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    name for name, info in PatentCreate.model_fields.items() if info.is_required()
)
# `;`-separated in CSV.
LIST_COLUMNS = frozenset({"ipc_codes", "inventors"})
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


def row_error(
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
    # The API's middleware refuses these in JSON bodies; a file never passes through it.
    found = find_control_character(values)
    if found is not None:
        where, code_point = found
        number = values.get("application_number")
        return Row(
            line,
            error=row_error(
                line,
                "control_character",
                f"{where} holds the control character {code_point}; text may hold tab, line "
                "feed and carriage return, no other control characters.",
                application_number=None if find_control_character(number) else number,
                errors=[
                    FieldError(
                        field=where, message=f"control character {code_point}", type="value_error"
                    )
                ],
            ),
        )
    try:
        return Row(line, data=PatentCreate.model_validate(values))
    except ValidationError as exc:
        # The API's 422 field errors, without its `body.` prefix.
        errors = field_errors(exc.errors(), empty_field="row")
        return Row(
            line,
            error=row_error(
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
            yield Row(start, error=row_error(start, "malformed_row", f"Unreadable CSV: {exc}."))
            continue
        start, previous = previous + 1, reader.line_num
        span = range(start, previous + 1)
        if too_long and any(number in too_long for number in span):
            yield Row(
                start,
                error=row_error(
                    start, "line_too_long", f"The line is longer than {max_line_bytes} bytes."
                ),
            )
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if not_utf8 and any(number in not_utf8 for number in span):
            yield Row(
                start,
                error=row_error(
                    start, "invalid_encoding", "The row is not valid UTF-8; save the file as UTF-8."
                ),
            )
            continue
        if len(cells) != len(columns):
            yield Row(
                start,
                error=row_error(
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
                error=row_error(
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
                error=row_error(
                    number, "invalid_encoding", "The line is not valid UTF-8; save it as UTF-8."
                ),
            )
            continue
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Row(
                number,
                error=row_error(
                    number, "invalid_json", f"Not valid JSON: {exc.msg} (column {exc.colno})."
                ),
            )
            continue
        if not isinstance(values, dict):
            yield Row(
                number,
                error=row_error(number, "invalid_json", "Each line must be one JSON object."),
            )
            continue
        yield _validated(number, values)


def _repeats_marked(rows: Iterable[Row]) -> Iterator[Row]:
    """The rows, with a valid one whose number an earlier line has turned into an error."""
    seen: dict[str, int] = {}
    for row in rows:
        if row.data is not None:
            number = row.data.application_number
            first = seen.setdefault(number, row.line)
            if first != row.line:
                row = Row(
                    row.line,
                    error=row_error(
                        row.line,
                        "duplicate_row",
                        f"Application number {number} is already on line {first}.",
                        application_number=number,
                    ),
                )
        yield row


def read_rows(stream: IO[bytes], file_format: ImportFormat) -> Iterator[Row]:
    """Every non-blank record of the file, in order, a repeated application number an error.
    Raises ``InvalidImportFile`` (on the first ``next``) when the file cannot be read at all."""
    max_line_bytes = get_settings().import_max_line_bytes
    if file_format is ImportFormat.csv:
        return _repeats_marked(_csv_rows(stream, max_line_bytes=max_line_bytes))
    return _repeats_marked(_jsonl_rows(stream, max_line_bytes=max_line_bytes))


def check_file(content: bytes, file_format: ImportFormat) -> None:
    """What can be refused at once, before a job is queued: an empty file, a wrong CSV header."""
    if not content.strip():
        raise InvalidImportFile("The file is empty.")
    if file_format is ImportFormat.csv:
        rows = read_rows(io.BytesIO(content), file_format)
        next(rows, None)
