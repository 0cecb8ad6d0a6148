from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Response, UploadFile, status

from marketplace.accounts.deps import PatentsScope
from marketplace.api.examples import response_example
from marketplace.config import get_settings
from marketplace.errors import problem_responses
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import ObjectId
from marketplace.patents import import_jobs, import_reader
from marketplace.patents.deps import ImportSessions
from marketplace.patents.errors import ImportFileTooLarge
from marketplace.patents.import_models import ImportFormat, ImportJobPublic, ImportJobSummary
from marketplace.sessions import SessionDep
from marketplace.workflows import imports as import_workflows

router = APIRouter(prefix="/api/v1/imports", tags=["patents"])

_READ_BLOCK = 1024 * 1024


def _read_capped(upload: UploadFile) -> bytes:
    limit = get_settings().import_max_upload_bytes
    parts: list[bytes] = []
    size = 0
    while block := upload.file.read(_READ_BLOCK):
        size += len(block)
        if size > limit:
            raise ImportFileTooLarge(
                f"The file is larger than {limit} bytes; split it into several imports.",
                max_bytes=limit,
            )
        parts.append(block)
    return b"".join(parts)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportJobPublic,
    responses=problem_responses(401, 403, 413, 422),
    summary="Upload a CSV or JSON Lines file of patents; they are imported in the background",
    description=(
        "Columns (CSV) or keys (JSON Lines) are the fields of `POST /api/v1/patents`; in CSV, "
        "`ipc_codes` and `inventors` are `;`-separated and `co_owners` is `;`-separated names, "
        "each optionally `=yes` when that co-owner consents to open licensing. Re-importing is "
        "safe: a patent is identified by its application number. Returns `202` and the job; "
        "follow `Location` for its status, counts and row errors. An empty file or a wrong CSV "
        "header is refused at once with `422`."
    ),
    openapi_extra={
        **response_example(202, "import_job"),
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "examples": {
                        "csv": {
                            "summary": "A CSV file (its content shown as text)",
                            "value": {
                                "file": "application_number,title,filing_date,legal_status\n"
                                "202110123456.7,Battery cooling plate,2021-03-15,pending\n",
                                "format": "csv",
                            },
                        }
                    }
                }
            }
        },
    },
)
def submit_import(
    caller: PatentsScope,
    session: SessionDep,
    background: BackgroundTasks,
    sessions: ImportSessions,
    response: Response,
    file: Annotated[UploadFile, File(description="The CSV or JSON Lines file (UTF-8).")],
    file_format: Annotated[
        ImportFormat | None,
        Form(
            alias="format",
            description="`csv` or `jsonl`; inferred from the file name, type or content.",
        ),
    ] = None,
) -> ImportJobPublic:
    content = _read_capped(file)
    chosen = file_format or import_reader.detect_format(
        filename=file.filename, content_type=file.content_type, head=content[:1024]
    )
    job = import_jobs.submit_import(
        session=session,
        owner=caller.organization,
        submitted_by_id=caller.user.id if caller.user else None,
        filename=file.filename or f"upload.{chosen}",
        content=content,
        file_format=chosen,
    )
    assert job.id is not None
    # Runs after the response, when the request's transaction has committed the job.
    background.add_task(
        import_workflows.run_import_job_in_background, sessions=sessions, job_id=job.id
    )
    response.headers["Location"] = f"{router.prefix}/{job.id}"
    return import_jobs.to_public(job)


@router.get(
    "",
    response_model=Page[ImportJobSummary],
    responses=problem_responses(401, 403, 422),
    summary="The organization's imports, newest first",
)
def list_imports(
    caller: PatentsScope, session: SessionDep, page: PageParamsDep
) -> Page[ImportJobSummary]:
    found = import_jobs.list_jobs(
        session=session, organization_id=caller.organization_id, params=page
    )
    return page_of(found, page, import_jobs.to_summary)


@router.get(
    "/{import_id}",
    response_model=ImportJobPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="An import's status, counts and row errors",
)
def get_import(import_id: ObjectId, caller: PatentsScope, session: SessionDep) -> ImportJobPublic:
    job = import_jobs.get_job(
        session=session, organization_id=caller.organization_id, job_id=import_id
    )
    return import_jobs.to_public(job)
