"""Bulk patent import, called without HTTP: reading, validation, idempotency, edits with their
consequences, chunks, running and resuming jobs."""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, func, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.listings.models import ListingStatus
from marketplace.patents import import_reader, import_writer
from marketplace.patents.errors import InvalidImportFile, NotPatentOwnerKind
from marketplace.patents.identifiers import application_check_character
from marketplace.patents.import_jobs import SessionFactory
from marketplace.patents.import_models import ImportFile, ImportFormat, ImportStatus
from marketplace.patents.models import LegalStatus, Patent
from marketplace.sessions import transaction
from marketplace.workflows import imports
from tests import factories
from tests.patents.import_files import (
    HEADER,
    csv_file,
    csv_row,
    jsonl_file,
    jsonl_record,
    number,
    submit,
    wrong_check,
)


@pytest.fixture
def sessions(session: Session) -> SessionFactory:
    """Each import transaction is a savepoint of the test's transaction."""

    @contextmanager
    def open_session() -> Iterator[Session]:
        yield from transaction(session)

    return open_session


@pytest.fixture
def university(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


def run(
    sessions: SessionFactory,
    owner: Organization,
    content: bytes,
    file_format: ImportFormat = ImportFormat.csv,
    **kwargs: Any,
) -> import_writer.ImportOutcome:
    assert owner.id is not None
    return imports.import_patents(
        sessions=sessions,
        owner_id=owner.id,
        stream=io.BytesIO(content),
        file_format=file_format,
        **kwargs,
    )


def patent_by_number(session: Session, application_number: str) -> Patent | None:
    canonical = application_number.removeprefix("CN").replace(" ", "")
    return session.scalar(select(Patent).where(Patent.application_number == canonical))


def patent_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Patent)) or 0


def error_codes(outcome: import_writer.ImportOutcome) -> dict[int, str]:
    return {error.line: error.code for error in outcome.errors}


# Happy paths -------------------------------------------------------------------------------------


def test_csv_rows_become_patents_with_lists_split_on_semicolons(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    first, second = number(), number()
    header = HEADER + ",inventors,co_owners,publicly_funded,department"
    content = csv_file(
        csv_row(first) + ',Li Wei; Wang Fang,"Zhejiang Lab=yes;Hangzhou Institute",true,Materials',
        csv_row(f"CN {second}", title='"Battery, solid-state"') + ",,,,",
        header=header,
    )

    outcome = run(sessions, university, content)

    assert (outcome.total_rows, outcome.created, outcome.failed) == (2, 2, 0), outcome.errors
    patent = patent_by_number(session, first)
    assert patent is not None
    assert patent.owner_id == university.id
    assert patent.kind == "invention"
    assert patent.ipc_codes == ["H01M 4/36", "G06F 16/33"]
    assert patent.main_ipc == "H01M 4/36"
    assert patent.inventors == ["Li Wei", "Wang Fang"]
    assert patent.co_owners == [
        {"name": "Zhejiang Lab", "open_license_consent": True},
        {"name": "Hangzhou Institute", "open_license_consent": False},
    ]
    assert patent.publicly_funded is True
    assert patent.department == "Materials"
    other = patent_by_number(session, second)
    assert other is not None
    assert other.title == "Battery, solid-state"
    assert other.inventors == []
    assert other.publicly_funded is False


def test_jsonl_rows_become_patents(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    first, second = number(), number()
    content = jsonl_file(
        jsonl_record(first, co_owners=[{"name": "Zhejiang Lab", "open_license_consent": True}]),
        jsonl_record(second, legal_status="pending", grant_date=None, fee_paid_until=None),
    )

    outcome = run(sessions, university, content, ImportFormat.jsonl)

    assert (outcome.created, outcome.failed) == (2, 0), outcome.errors
    patent = patent_by_number(session, first)
    assert patent is not None
    assert patent.co_owners[0]["open_license_consent"] is True
    pending = patent_by_number(session, second)
    assert pending is not None
    assert pending.legal_status == LegalStatus.pending


def test_an_imported_patent_reads_as_one_registered_through_the_api(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    from marketplace.patents import service as patents

    imported = number()
    run(sessions, university, csv_file(csv_row(imported)))
    patent = patent_by_number(session, imported)
    assert patent is not None
    public = patents.to_public(patent)
    assert public.in_force is True
    assert public.ipc_codes == ["H01M 4/36", "G06F 16/33"]
    assert public.created_at == clock.now()


# Idempotency -------------------------------------------------------------------------------------


def test_importing_the_same_file_again_creates_nothing(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    content = csv_file(csv_row(number()), csv_row(number()), csv_row(number()))
    run(sessions, university, content)
    before = patent_count(session)

    again = run(sessions, university, content)

    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 3, 0)
    assert patent_count(session) == before


def test_a_changed_row_updates_the_patent_and_empty_cells_keep_stored_values(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    kept = number()
    run(sessions, university, csv_file(csv_row(kept, title="Old title")))

    outcome = run(
        sessions,
        university,
        csv_file(csv_row(kept, title="New title", ipc_codes="")),
    )

    assert (outcome.updated, outcome.unchanged) == (1, 0)
    patent = patent_by_number(session, kept)
    assert patent is not None
    session.refresh(patent)
    assert patent.title == "New title"
    assert patent.ipc_codes == ["H01M 4/36", "G06F 16/33"]


def test_a_row_cannot_change_the_filing_date(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    kept = number()
    run(sessions, university, csv_file(csv_row(kept)))

    outcome = run(sessions, university, csv_file(csv_row(kept, filing_date="2020-03-03")))

    assert error_codes(outcome) == {2: "invalid_patent_update"}
    patent = patent_by_number(session, kept)
    assert patent is not None
    assert str(patent.filing_date) == "2020-03-02"


def test_an_update_follows_the_rules_of_a_patent_edit(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    listing, _offer = factories.published_listing(session, university)
    patent = listing.patents[0]

    content = jsonl_file(
        {
            "application_number": patent.application_number,
            "title": patent.title,
            "filing_date": str(patent.filing_date),
            "grant_date": str(patent.grant_date),
            "legal_status": "invalidated",
        }
    )
    outcome = run(sessions, university, content, ImportFormat.jsonl)

    assert outcome.updated == 1, outcome.errors
    session.refresh(listing)
    assert listing.status == ListingStatus.lapsed


def test_an_update_refused_by_the_patent_rules_is_a_row_error(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    granted = number()
    run(sessions, university, jsonl_file(jsonl_record(granted)), ImportFormat.jsonl)

    # Valid as a new patent, but the stored grant date contradicts `pending`.
    outcome = run(
        sessions,
        university,
        jsonl_file(
            {
                "application_number": granted,
                "title": "Renamed",
                "filing_date": "2021-03-02",
                "legal_status": "pending",
            }
        ),
        ImportFormat.jsonl,
    )

    assert error_codes(outcome) == {1: "invalid_patent_update"}
    patent = patent_by_number(session, granted)
    assert patent is not None
    session.refresh(patent)
    assert patent.title == "Sodium-ion cathode"
    assert patent.legal_status == LegalStatus.granted


def test_a_number_another_organization_registered_is_a_row_error(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    rival = factories.organization(session, kind=OrganizationKind.university)
    theirs = factories.patent(session, rival)
    mine = number()

    outcome = run(sessions, university, csv_file(csv_row(theirs.application_number), csv_row(mine)))

    assert outcome.created == 1
    assert error_codes(outcome) == {2: "patent_already_registered"}
    assert outcome.errors[0].application_number == theirs.application_number
    session.refresh(theirs)
    assert theirs.owner_id == rival.id
    assert theirs.title != "Cathode material"


def test_a_number_repeated_in_the_file_is_reported_once_per_repeat(
    session: Session, sessions: SessionFactory, university: Organization, monkeypatch: Any
) -> None:
    monkeypatch.setattr(get_settings(), "import_chunk_size", 2)
    twice = number()
    content = csv_file(csv_row(twice), csv_row(number()), csv_row(number()), csv_row(twice))

    outcome = run(sessions, university, content)

    assert outcome.created == 3
    assert error_codes(outcome) == {5: "duplicate_row"}
    assert "line 2" in outcome.errors[0].detail


# Bad rows amid good ones -------------------------------------------------------------------------


def test_bad_csv_rows_are_reported_and_the_good_ones_imported(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    good = [number() for _ in range(3)]
    bad_check = wrong_check(number())
    unknown_kind = f"2020412345{factories.next_number() % 100:02d}"
    unknown_kind += "." + application_check_character(unknown_kind)
    content = csv_file(
        csv_row(good[0]),
        csv_row(bad_check),
        csv_row(unknown_kind),
        csv_row(number(), title=""),
        csv_row(good[1]),
        csv_row(number(), legal_status="sleeping"),
        csv_row(number()) + ",surplus",
        ",".join(csv_row(number()).split(",")[:4]),
        csv_row(good[2]),
    )

    outcome = run(sessions, university, content)

    assert (outcome.total_rows, outcome.created, outcome.failed) == (9, 3, 6)
    assert error_codes(outcome) == {
        3: "validation_failed",
        4: "validation_failed",
        5: "validation_failed",
        7: "validation_failed",
        8: "malformed_row",
        9: "malformed_row",
    }
    by_line = {error.line: error for error in outcome.errors}
    check = by_line[3]
    assert check.application_number == bad_check
    assert check.errors[0].field == "application_number"
    assert "expected" in check.errors[0].message
    assert by_line[4].errors[0].field == "application_number"
    assert "type digit" in by_line[4].errors[0].message
    assert by_line[5].errors[0].field == "title"
    assert by_line[5].errors[0].type == "missing"
    assert by_line[7].errors[0].field == "legal_status"
    assert "8 fields" in by_line[8].detail
    assert all(patent_by_number(session, item) is not None for item in good)


def test_a_row_that_is_not_utf8_is_reported_and_the_rest_imported(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    good = number()
    content = csv_file(csv_row(number(), title="Kathode"), csv_row(good)).replace(
        b"Kathode", "Käthode".encode("latin-1")
    )

    outcome = run(sessions, university, content)

    assert error_codes(outcome) == {2: "invalid_encoding"}
    assert outcome.created == 1
    assert patent_by_number(session, good) is not None


def test_bad_json_lines_are_reported_and_the_good_ones_imported(
    session: Session, sessions: SessionFactory, university: Organization, monkeypatch: Any
) -> None:
    monkeypatch.setattr(get_settings(), "import_max_line_bytes", 2048)
    good = [number(), number()]
    content = jsonl_file(
        jsonl_record(good[0]),
        '{"application_number": "2020',
        "[1, 2]",
        "",
        jsonl_record(wrong_check(number())),
        jsonl_record(number(), abstract="x" * 5000),
        {key: value for key, value in jsonl_record(number()).items() if key != "title"},
        jsonl_record(good[1]),
    )

    outcome = run(sessions, university, content, ImportFormat.jsonl)

    assert error_codes(outcome) == {
        2: "invalid_json",
        3: "invalid_json",
        5: "validation_failed",
        6: "line_too_long",
        7: "validation_failed",
    }
    assert {error.field for error in outcome.errors[-1].errors} == {"title"}
    assert outcome.created == 2
    assert all(patent_by_number(session, item) is not None for item in good)


def test_jsonl_latin1_line_is_an_encoding_error(
    sessions: SessionFactory, university: Organization
) -> None:
    content = jsonl_file(jsonl_record(number(), title="Käthode")).replace(
        "Käthode".encode(), "Käthode".encode("latin-1")
    )
    outcome = run(sessions, university, content, ImportFormat.jsonl)
    assert error_codes(outcome) == {1: "invalid_encoding"}


# Files that cannot be read at all ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (csv_file(csv_row("202010100002.3"), header=HEADER + ",ipc_code"), "ipc_code"),
        (csv_file(header="application_number,title"), "filing_date"),
        (csv_file(header="title,title,application_number,filing_date"), "twice"),
        ("application_number,titel\n".encode("utf-16"), "header"),
    ],
)
def test_a_file_that_cannot_be_read_fails_whole_and_writes_nothing(
    session: Session,
    sessions: SessionFactory,
    university: Organization,
    content: bytes,
    message: str,
) -> None:
    before = patent_count(session)
    with pytest.raises(InvalidImportFile) as refused:
        run(sessions, university, content)
    assert message in refused.value.detail
    assert patent_count(session) == before


def test_only_organizations_that_own_patents_import(
    session: Session, sessions: SessionFactory
) -> None:
    bank = factories.organization(session, kind=OrganizationKind.bank)
    with pytest.raises(NotPatentOwnerKind):
        run(sessions, bank, csv_file(csv_row(number())))


# Chunks and progress -----------------------------------------------------------------------------


def test_rows_are_written_chunk_by_chunk_with_progress(
    session: Session, sessions: SessionFactory, university: Organization, monkeypatch: Any
) -> None:
    monkeypatch.setattr(get_settings(), "import_chunk_size", 2)
    steps: list[int] = []
    chunks: list[int] = []
    content = csv_file(*(csv_row(number()) for _ in range(5)))

    outcome = run(
        sessions,
        university,
        content,
        progress=steps.append,
        on_chunk=lambda _session, chunk: chunks.append(chunk.created),
    )

    assert outcome.created == 5
    assert steps == [2, 2, 1]
    assert chunks == [2, 2, 1]


# The API job -------------------------------------------------------------------------------------


def test_a_job_runs_records_counts_and_errors_and_drops_the_file(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    job = submit(session, university, csv_file(csv_row(number()), csv_row(wrong_check(number()))))
    assert job.id is not None
    assert job.status == ImportStatus.queued

    assert imports.run_import_job(sessions=sessions, job_id=job.id) is True

    assert factories.reread(session, job).status == ImportStatus.completed_with_errors
    assert (job.total_rows, job.created_count, job.failed_count, job.rows_done) == (2, 1, 1, 2)
    assert job.errors[0]["line"] == 3
    assert job.errors[0]["code"] == "validation_failed"
    assert job.started_at == clock.now()
    assert job.finished_at == clock.now()
    assert session.get(ImportFile, job.id) is None
    # Ended: running it again does nothing.
    assert imports.run_import_job(sessions=sessions, job_id=job.id) is False


def test_a_job_keeps_only_the_first_errors(
    session: Session, sessions: SessionFactory, university: Organization, monkeypatch: Any
) -> None:
    monkeypatch.setattr(import_writer, "MAX_REPORTED_ERRORS", 3)
    monkeypatch.setattr(get_settings(), "import_chunk_size", 2)
    job = submit(session, university, csv_file(*(csv_row("bad") for _ in range(5))))
    assert job.id is not None

    imports.run_import_job(sessions=sessions, job_id=job.id)

    session.refresh(job)
    assert job.failed_count == 5
    assert [error["line"] for error in job.errors] == [2, 3, 4]


def test_a_stale_running_job_is_resumed_after_its_last_chunk(
    session: Session, sessions: SessionFactory, university: Organization, monkeypatch: Any
) -> None:
    monkeypatch.setattr(get_settings(), "import_chunk_size", 2)
    numbers = [number() for _ in range(5)]
    job = submit(session, university, csv_file(*(csv_row(item) for item in numbers)))
    assert job.id is not None
    # A process wrote the first chunk, then died an hour ago.
    imports.import_patents(
        sessions=sessions,
        owner_id=job.organization_id,
        stream=io.BytesIO(csv_file(*(csv_row(item) for item in numbers[:2]))),
        file_format=ImportFormat.csv,
    )
    job.status = ImportStatus.running
    job.rows_done = job.total_rows = job.created_count = 2
    job.heartbeat_at = clock.now() - timedelta(hours=1)
    fresh = submit(session, university, csv_file(csv_row(number())))
    fresh.status = ImportStatus.running
    fresh.heartbeat_at = clock.now() - timedelta(seconds=30)
    session.add_all([job, fresh])
    session.commit()

    resumed = imports.resume_import_jobs(sessions=sessions)

    assert resumed == [job.id]
    session.refresh(job)
    session.refresh(fresh)
    assert job.status == ImportStatus.succeeded
    assert (job.total_rows, job.created_count, job.unchanged_count) == (5, 5, 0)
    assert all(patent_by_number(session, item) is not None for item in numbers)
    assert fresh.status == ImportStatus.running


def test_resume_runs_queued_jobs(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    job = submit(session, university, csv_file(csv_row(number())))
    session.commit()

    assert imports.resume_import_jobs(sessions=sessions) == [job.id]
    session.refresh(job)
    assert job.status == ImportStatus.succeeded
    assert job.created_count == 1


def test_a_job_that_cannot_start_in_the_background_stays_queued_for_resume(
    session: Session,
    university: Organization,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = submit(session, university, csv_file(csv_row(number())))
    assert job.id is not None

    @contextmanager
    def unreachable() -> Iterator[Session]:
        raise ConnectionError("database unreachable")
        yield session  # pragma: no cover

    imports.run_import_job_in_background(sessions=unreachable, job_id=job.id)

    session.refresh(job)
    assert job.status == ImportStatus.queued
    assert "stays queued" in caplog.text


def test_a_spreadsheet_export_with_bom_crlf_and_multiline_cells_reads_with_true_lines(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    first, bad = number(), wrong_check(number())
    header = HEADER + ",abstract"
    content = (
        "\ufeff"
        + "\r\n".join(
            [
                header,
                csv_row(first) + ',"Two\r\nlines"',
                "",
                csv_row(bad) + ",plain",
            ]
        )
        + "\r\n"
    ).encode()

    outcome = run(sessions, university, content)

    assert outcome.created == 1
    assert error_codes(outcome) == {5: "validation_failed"}
    patent = patent_by_number(session, first)
    assert patent is not None
    assert patent.abstract == "Two\r\nlines"


def test_a_header_line_longer_than_allowed_fails_the_file(
    sessions: SessionFactory, university: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "import_max_line_bytes", 1024)
    with pytest.raises(InvalidImportFile, match="header"):
        run(sessions, university, csv_file(header=HEADER + "," + "x" * 2000))


def test_a_row_the_database_refuses_fails_alone(
    session: Session, sessions: SessionFactory, university: Organization, monkeypatch: Any
) -> None:
    import sqlalchemy as sa

    refused = number()
    insert_new = import_writer._insert_new

    def picky(session: Session, owner_id: int, rows: list[import_reader.Row]) -> dict[str, int]:
        created = insert_new(session, owner_id, rows)
        if refused in created:
            raise sa.exc.IntegrityError("INSERT", {}, Exception("refused"))
        return created

    monkeypatch.setattr(import_writer, "_insert_new", picky)
    others = [number(), number()]
    content = csv_file(csv_row(others[0]), csv_row(refused), csv_row(others[1]))

    outcome = run(sessions, university, content)

    assert (outcome.created, outcome.failed) == (2, 1)
    assert error_codes(outcome) == {3: "invalid_value"}
    assert patent_by_number(session, refused) is None
    assert all(patent_by_number(session, item) is not None for item in others)


def test_a_nul_character_fails_only_its_row(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    bad, good = number(), number()
    content = jsonl_file(jsonl_record(bad, title="Cathode\u0000"), jsonl_record(good))

    outcome = run(sessions, university, content, ImportFormat.jsonl)

    # Refused as text, on every database (PostgreSQL could not even store it).
    assert error_codes(outcome) == {1: "control_character"}
    assert patent_by_number(session, good) is not None


def test_an_import_carries_fee_reductions_and_evaluation_conclusions(
    session: Session, sessions: SessionFactory, university: Organization
) -> None:
    utility, reduced, legacy = (factories.application_number(2) for _ in range(3))
    content = jsonl_file(
        jsonl_record(
            utility,
            evaluation_report_ref="PJ2021001",
            evaluation_report_conclusion="supports_validity",
        ),
        jsonl_record(reduced, fee_reduction_percent="85"),
        jsonl_record(
            legacy, evaluation_report_ref="PJ2021002", evaluation_report_conclusion="legacy_unknown"
        ),
    )

    outcome = run(sessions, university, content, ImportFormat.jsonl)

    assert (outcome.created, outcome.failed) == (2, 1), outcome.errors
    assert [error.line for error in outcome.errors] == [3]
    imported = patent_by_number(session, utility)
    assert imported is not None
    assert imported.evaluation_report_conclusion == "supports_validity"
    with_reduction = patent_by_number(session, reduced)
    assert with_reduction is not None
    assert with_reduction.fee_reduction_percent == Decimal("85.00")
