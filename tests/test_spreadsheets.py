"""Every CSV the service writes opens in a spreadsheet as data, never as a formula."""

import csv
import io

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from marketplace import spreadsheets
from marketplace.accounts.models import OrganizationKind
from tests import factories
from tests.factories import NewParty

ATTACKS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_formula_trigger_is_neutralised(attack: str) -> None:
    assert spreadsheets.safe_cell(attack) == "'" + attack


@given(st.text())
def test_no_written_text_cell_starts_a_formula(text: str) -> None:
    out = io.StringIO()
    spreadsheets.writer(out).writerow([text, 42, -1])

    [row] = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert not row[0].startswith(spreadsheets.FORMULA_TRIGGERS)
    assert row[0] in (text, "'" + text)
    # Numbers stay numbers, negative ones included.
    assert row[1:] == ["42", "-1"]


def test_statistics_csv_neutralises_tenant_labels(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    university = new_party(kind=OrganizationKind.university)
    factories.patent(session, university.organization, department='=HYPERLINK("http://x","y")')
    factories.patent(session, university.organization, department="@SUM(A1)")

    response = client.get(
        "/api/v1/stats",
        params={"group_by": "department", "format": "csv"},
        headers=university.headers,
    )

    assert response.status_code == 200, response.text
    labels = [row[0] for row in csv.reader(io.StringIO(response.text))][1:]
    assert '\'=HYPERLINK("http://x","y")' in labels
    assert "'@SUM(A1)" in labels
    assert not any(label.startswith(spreadsheets.FORMULA_TRIGGERS) for label in labels)
