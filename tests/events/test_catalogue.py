"""The event catalogue is the one description of every event type: complete, rendered into the
API docs and docs/events.md, and the only types that can be recorded."""

import ast
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.events import catalogue
from marketplace.events import service as events
from marketplace.events.models import EventType
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


def emitted_types() -> set[str]:
    """Every `EventType.<member>` the application code names outside the events package."""
    found: set[str] = set()
    for path in (ROOT / "marketplace").rglob("*.py"):
        if path.parent.name == "events":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "EventType"
            ):
                found.add(node.attr)
    return found


def test_every_event_type_is_catalogued_once() -> None:
    listed = [kind for group in catalogue.GROUPS for kind in group.types]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(EventType)


def test_every_catalogued_type_is_one_the_code_records() -> None:
    named = emitted_types()
    assert {kind.name for kind in EventType} <= named
    assert named <= {kind.name for kind in EventType}


def test_each_payload_field_has_a_description() -> None:
    for kind in EventType:
        fields = catalogue.payload_fields(kind)
        assert all(text.strip() for text in fields.values()), kind
        assert catalogue.CATALOGUE[kind][1].recipients, kind


def test_a_payload_differing_from_the_catalogue_is_named() -> None:
    documented = dict.fromkeys(catalogue.payload_fields(EventType.license_expired), 1)
    assert catalogue.undocumented(EventType.license_expired, documented) == []
    assert catalogue.undocumented(EventType.license_expired, {**documented, "extra": 1}) == [
        "+extra"
    ]
    del documented["expires_on"]
    assert catalogue.undocumented(EventType.license_expired, documented) == ["-expires_on"]


def test_an_uncatalogued_type_is_not_recorded(session: Session) -> None:
    organization = factories.organization(session)
    with pytest.raises(ValueError, match="not in the event catalogue"):
        events.record(
            session,
            recipients=[organization.id or 0],
            type=cast(EventType, "listing.renamed"),
            subject="listing:1",
            payload={},
        )


def test_docs_page_is_the_catalogue() -> None:
    page = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert page == catalogue.page(), "run `python -m marketplace.events.catalogue`"
    assert "(events.md)" in (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")


def test_the_events_endpoint_documents_every_type_and_its_fields(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/events"]["get"]
    described = operation["description"]
    for kind in EventType:
        assert f"`{kind}`" in described
        for name in catalogue.payload_fields(kind):
            assert f"`{name}`" in described
    assert "declaration.suspended_by_pledge" in described
    assert "pledge.registered" in described
