"""Input is validated the same way on every path in: currencies and countries from the ISO lists,
unknown fields refused in every JSON body, control characters refused where the HTTP guard does
not reach (imports, the command line)."""

import io
import re
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlmodel import Session, select

from marketplace import codes
from marketplace.accounts import service as accounts
from marketplace.accounts.errors import InvalidAccount
from marketplace.accounts.models import Organization, OrganizationKind, User
from marketplace.main import create_app
from marketplace.patents import import_reader
from marketplace.patents.import_models import ImportFormat
from marketplace.text import find_control_character, first_control_character
from tests import factories
from tests.factories import PASSWORD, NewParty
from tests.patents.import_files import HEADER, csv_file, csv_row, jsonl_file, jsonl_record
from tests.problems import assert_problem

# --- the ISO lists -------------------------------------------------------------------------------


def test_currencies_and_countries_come_from_the_iso_lists() -> None:
    assert codes.is_currency("CNY")
    assert codes.is_currency("USD")
    assert codes.is_currency("XOF")
    assert not codes.is_currency("XYZ")
    assert not codes.is_currency("XXX")  # "no currency" names no money
    assert codes.is_country("CN")
    assert codes.is_country("DE")
    assert not codes.is_country("XX")
    assert TypeAdapter(codes.CountryCode).validate_python("de") == "DE"
    with pytest.raises(ValidationError):
        TypeAdapter(codes.CurrencyCode).validate_python("cny")


def _request_models() -> Iterator[type[BaseModel]]:
    """Every model a JSON request body is read into, nested ones included."""
    app = create_app()
    seen: set[type[BaseModel]] = set()

    def walk(annotation: Any) -> Iterator[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            yield annotation
            for field in annotation.model_fields.values():
                yield from walk(field.annotation)
        for argument in getattr(annotation, "__args__", ()):
            yield from walk(argument)

    for route in _routes(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        for param in _body_params(dependant):
            yield from walk(param.field_info.annotation)


def _routes(routes: Any) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def _body_params(dependant: Any) -> Iterator[Any]:
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _body_params(sub)


def _field_type(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields[name]
    return Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation


def test_every_currency_and_country_in_a_request_is_checked_against_the_iso_lists() -> None:
    checked = 0
    for model in _request_models():
        for name in model.model_fields:
            if name == "currency":
                assert TypeAdapter(_field_type(model, name)).validate_python("CNY") == "CNY"
                with pytest.raises(ValidationError):
                    TypeAdapter(_field_type(model, name)).validate_python("XYZ")
                checked += 1
            if name == "country":
                with pytest.raises(ValidationError):
                    TypeAdapter(_field_type(model, name)).validate_python("XX")
                checked += 1
    assert checked >= 7


def test_every_json_body_refuses_unknown_fields() -> None:
    models = list(_request_models())
    assert len(models) > 25
    open_models = [
        model.__name__
        for model in models
        if model.model_config.get("extra") != "forbid"
        # Form bodies (the OAuth2 token endpoint, uploads) follow their own RFCs.
        and not model.__name__.startswith("Body_")
    ]
    assert open_models == []


# --- over HTTP -----------------------------------------------------------------------------------


def _signup(**overrides: Any) -> dict[str, Any]:
    number = factories.next_number()
    body: dict[str, Any] = {
        "organization": {
            "name": f"Munich Optics {number}",
            "kind": "enterprise",
            "country": "DE",
        },
        "user": {
            "email": f"founder{number}@optics.example.com",
            "full_name": "Anna Weber",
            "password": PASSWORD,
        },
    }
    for part, values in overrides.items():
        if isinstance(values, dict):
            body[part] = {**body[part], **values}
        else:
            body[part] = values
    return body


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"organization": {"country": "XX"}}, id="unknown-country"),
        pytest.param({"organization": {"verification": "verified"}}, id="extra-organization"),
        pytest.param({"user": {"role": "admin", "is_active": True}}, id="extra-user"),
        pytest.param({"invited_by": 1}, id="extra-top-level"),
    ],
)
def test_signup_refuses_unknown_countries_and_unknown_fields(
    client: TestClient, session: Session, overrides: dict[str, Any]
) -> None:
    body = _signup(**overrides)
    response = client.post("/api/v1/signup", json=body)
    assert_problem(response, 422, "validation_failed")
    email = body["user"]["email"]
    assert session.scalar(select(User).where(User.email == email)) is None


def test_signup_stores_a_lower_case_country_in_capitals(
    client: TestClient, session: Session
) -> None:
    response = client.post("/api/v1/signup", json=_signup(organization={"country": "de"}))
    assert response.status_code == 201, response.text
    assert response.json()["organization"]["country"] == "DE"


@pytest.mark.parametrize("currency", ["XYZ", "XXX", "cny"])
def test_a_need_in_a_currency_that_does_not_exist_is_refused(
    client: TestClient, new_party: NewParty, currency: str
) -> None:
    sme = new_party(kind=OrganizationKind.enterprise)
    response = client.put(
        "/api/v1/profile", headers=sme.headers, json={"currency": currency, "region": "Zhejiang"}
    )
    assert_problem(response, 422, "validation_failed")
    ok = client.put("/api/v1/profile", headers=sme.headers, json={"currency": "EUR"})
    assert ok.status_code == 200, ok.text


def test_an_organization_stored_with_an_odd_country_is_still_shown(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """Rows from before the ISO check stay readable: GET /me is never a 500 for them."""
    account = factories.member(session, kind=OrganizationKind.enterprise, country="XX")
    response = client.get("/api/v1/me", headers=factories.auth(session, account))
    assert response.status_code == 200, response.text
    assert response.json()["organization"]["country"] == "XX"


# --- imports -------------------------------------------------------------------------------------


def test_control_characters_are_found_in_nested_values_and_keys() -> None:
    assert first_control_character("tab\tline\nreturn\r") is None
    assert first_control_character("a\x00b") == "U+0000"
    assert first_control_character("\x7f") == "U+007F"
    assert find_control_character({"co_owners": [{"name": "Li\x1bWei"}]}) == (
        "co_owners.0.name",
        "U+001B",
    )
    assert find_control_character({"ok": ["x", 1, None], "k\x00": 1}) == ("k\x00", "U+0000")


def _rows(content: bytes, file_format: ImportFormat) -> list[import_reader.Row]:
    return list(import_reader.read_rows(io.BytesIO(content), file_format))


def test_an_imported_row_with_a_control_character_is_a_row_error() -> None:
    good, bad = factories.application_number(), factories.application_number()
    rows = _rows(
        csv_file(csv_row(good), csv_row(bad, title="Cathode\x00material"), header=HEADER),
        ImportFormat.csv,
    )
    assert rows[0].data is not None
    error = rows[1].error
    assert error is not None
    assert error.code == "control_character"
    assert error.application_number == bad
    assert [e.field for e in error.errors] == ["title"]

    [row] = _rows(
        jsonl_file(jsonl_record(bad, inventors=["Li\x07Wei"], title="ok")), ImportFormat.jsonl
    )
    assert row.error is not None
    assert row.error.code == "control_character"
    assert row.error.errors[0].field == "inventors.0"


def test_an_imported_row_with_an_unknown_field_is_a_row_error() -> None:
    [row] = _rows(
        jsonl_file(jsonl_record(factories.application_number(), owner_id=1)), ImportFormat.jsonl
    )
    assert row.error is not None
    assert row.error.code == "validation_failed"
    assert row.error.errors[0].field == "owner_id"


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "full_name"),
    [
        ("ops@localhost", "Platform admin"),  # special-use domain: the API cannot show it
        ("ops@example.test", "Platform admin"),
        ("not-an-address", "Platform admin"),
        ("ops@example.org", "Platform\x00admin"),
    ],
)
def test_create_platform_admin_refuses_what_the_api_could_not_render(
    session: Session, email: str, full_name: str
) -> None:
    with pytest.raises(InvalidAccount):
        accounts.create_platform_admin(
            session=session, email=email, password=PASSWORD, full_name=full_name
        )
    assert session.scalar(select(Organization).where(Organization.kind == "platform")) is None


def test_a_platform_admin_made_by_the_command_can_read_me(
    client: TestClient, session: Session
) -> None:
    admin = accounts.create_platform_admin(
        session=session, email="Ops@Example.org", password=PASSWORD, full_name="Ops"
    )
    response = client.get("/api/v1/me", headers=factories.auth(session, admin))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "ops@example.org"
    assert re.fullmatch(r"[a-z@.]+", admin.email)
