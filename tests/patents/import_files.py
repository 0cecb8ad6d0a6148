"""Import files written the way the tests need them, and a job queued for one."""

import json
from typing import Any

from sqlmodel import Session

from marketplace.accounts.models import Organization
from marketplace.patents import import_jobs
from marketplace.patents.import_models import ImportFormat, ImportJob
from tests import factories

HEADER = "application_number,title,filing_date,grant_date,legal_status,fee_paid_until,ipc_codes"


def number() -> str:
    return factories.application_number()


def wrong_check(valid: str) -> str:
    last = valid[-1]
    return valid[:-1] + ("0" if last != "0" else "1")


def csv_row(application_number: str, title: str = "Cathode material", **extra: str) -> str:
    values = {
        "filing_date": "2020-03-02",
        "grant_date": "2022-01-10",
        "legal_status": "granted",
        "fee_paid_until": "2027-03-01",
        "ipc_codes": "H01M4/36; G06F 16/33",
        **extra,
    }
    return ",".join(
        [
            application_number,
            title,
            values["filing_date"],
            values["grant_date"],
            values["legal_status"],
            values["fee_paid_until"],
            values["ipc_codes"],
        ]
    )


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def jsonl_record(application_number: str, **overrides: Any) -> dict[str, Any]:
    return {
        "application_number": application_number,
        "title": "Sodium-ion cathode",
        "filing_date": "2021-03-02",
        "grant_date": "2023-01-10",
        "legal_status": "granted",
        "fee_paid_until": "2027-03-01",
        "ipc_codes": ["H01M4/36"],
        **overrides,
    }


def jsonl_file(*records: dict[str, Any] | str) -> bytes:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode()


def submit(session: Session, owner: Organization, content: bytes) -> ImportJob:
    return import_jobs.submit_import(
        session=session,
        owner=owner,
        submitted_by_id=None,
        filename="patents.csv",
        content=content,
        file_format=ImportFormat.csv,
    )
