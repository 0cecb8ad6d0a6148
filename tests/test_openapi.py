"""The OpenAPI document is valid, clients can generate from it, and its pages work offline."""

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from marketplace.errors import PROBLEM_MEDIA_TYPE
from marketplace.main import create_app

APP = create_app()
SCHEMA = APP.openapi()
# Examples of these operations come with their route decorators, from the work on the lawful
# sequence of a license (publish, accept, record and confirm a payment, recordation).
EXAMPLES_ELSEWHERE: set[tuple[str, str]] = set()
RESPONSE_EXAMPLES_ELSEWHERE: set[tuple[str, str]] = set()


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in SCHEMA["paths"].items()
        for method, operation in methods.items()
    ]


def request_bodies() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (method, path, media_type, content)
        for method, path, operation in operations()
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items()
    ]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        for option in schema.get("anyOf", []):
            if "$ref" in option:
                return resolve(option)
        return schema
    found: dict[str, Any] = SCHEMA["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return found


def validator(schema: dict[str, Any]) -> OAS31Validator:
    """Schemas refer to each other as ``#/components/schemas/...``: give them the components."""
    return OAS31Validator({**schema, "components": SCHEMA["components"]})


def first_example(content: dict[str, Any]) -> Any:
    """The example a client or Swagger UI shows first: the media type's own, else the schema's
    (for a form, one made of its fields' examples)."""
    if "examples" in content:
        return next(iter(content["examples"].values()))["value"]
    if "example" in content:
        return content["example"]
    schema = resolve(content["schema"])
    if schema.get("examples"):
        return schema["examples"][0]
    properties = schema.get("properties", {})
    if properties and all(p.get("examples") for p in properties.values()):
        return {name: p["examples"][0] for name, p in properties.items()}
    return None


def route(method: str, path: str) -> APIRoute:
    """The operation behind ``method path``, also inside included routers. FastAPI walks them
    with ``iter_route_contexts`` to write the OpenAPI document; so does this."""
    for context in iter_route_contexts(APP.routes):
        candidate = context.original_route
        if (
            isinstance(candidate, APIRoute)
            and candidate.path == path
            and method.upper() in (candidate.methods or set())
        ):
            return candidate
    raise AssertionError(f"no route for {method} {path}")


def test_the_schema_is_valid_openapi() -> None:
    validate(SCHEMA)


def test_every_error_response_is_a_problem_under_its_media_type() -> None:
    seen: set[str] = set()
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            where = f"{method} {path} {status}"
            assert set(response.get("content", {})) == {PROBLEM_MEDIA_TYPE}, where
            content = response["content"][PROBLEM_MEDIA_TYPE]
            assert content["schema"] == {"$ref": "#/components/schemas/Problem"}, where
            assert content.get("examples"), where
            for example in content["examples"].values():
                assert example["value"]["status"] == int(status), where
            seen.add(status)
    assert {"401", "403", "404", "409", "422"} <= seen


def test_the_problem_examples_are_problems() -> None:
    problem = validator({"$ref": "#/components/schemas/Problem"})
    responses = [
        response
        for _, _, operation in operations()
        for status, response in operation["responses"].items()
        if status.startswith(("4", "5"))
    ]
    for response in responses:
        for example in response["content"][PROBLEM_MEDIA_TYPE]["examples"].values():
            problem.validate(example["value"])
    validation = next(
        r["content"][PROBLEM_MEDIA_TYPE]["examples"]["validation_failed"]["value"]
        for r in responses
        if "validation_failed" in r["content"][PROBLEM_MEDIA_TYPE]["examples"]
    )
    assert validation["errors"][0]["field"].startswith("body.")
    conflict = next(
        example["value"]
        for r in responses
        for example in r["content"][PROBLEM_MEDIA_TYPE]["examples"].values()
        if example["value"]["status"] == 409
    )
    assert conflict["code"] != "conflict"  # a real code a service raises


@pytest.mark.parametrize(
    ("method", "path", "media_type", "content"),
    [
        pytest.param(*body, id=f"{body[0]} {body[1]}")
        for body in request_bodies()
        if (body[0], body[1]) not in EXAMPLES_ELSEWHERE
    ],
)
def test_every_request_body_has_an_example_that_passes_validation(
    method: str, path: str, media_type: str, content: dict[str, Any]
) -> None:
    example = first_example(content)
    assert example is not None, f"{method} {path} has no request example"
    # As a client validates it against the schema...
    validator(content["schema"]).validate(example)
    # ...and as the server reads it.
    body_field = route(method, path).body_field
    assert body_field is not None
    if media_type == "application/json":
        _, errors = body_field.validate(example, {}, loc=("body",))
        assert not errors, errors


def test_the_root_leads_to_the_docs() -> None:
    with TestClient(APP) as client:
        response = client.get("/", follow_redirects=False)
        assert response.status_code in (302, 307)
        assert response.headers["location"] == "/docs"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_everything_from_this_server(page: str) -> None:
    with TestClient(APP) as client:
        html = client.get(page)
        assert html.status_code == 200
        assert "text/html" in html.headers["content-type"]
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html.text, re.IGNORECASE), (
            "no CDN or other outside address"
        )
        assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert any(asset.endswith(".js") for asset in assets)
        for asset in assets:
            fetched = client.get(asset)
            assert fetched.status_code == 200, asset
            assert len(fetched.content) > 100, asset
        assert client.get("/openapi.json").status_code == 200


def test_the_signup_example_signs_up(client: TestClient) -> None:
    """A newcomer's first call, pasted from the docs, works as shown."""
    content = SCHEMA["paths"]["/api/v1/signup"]["post"]["requestBody"]["content"]
    response = client.post("/api/v1/signup", json=first_example(content["application/json"]))
    assert response.status_code == 201, response.text


def response_examples() -> list[tuple[str, str, str, Any]]:
    return [
        (method, path, status, example["value"])
        for method, path, operation in operations()
        for status, response in operation["responses"].items()
        if status.startswith("2")
        for example in response.get("content", {})
        .get("application/json", {})
        .get("examples", {})
        .values()
    ]


@pytest.mark.parametrize(
    ("method", "path", "status", "example"),
    [pytest.param(*found, id=f"{found[0]} {found[1]} {found[2]}") for found in response_examples()],
)
def test_every_response_example_is_what_the_operation_answers(
    method: str, path: str, status: str, example: Any
) -> None:
    content = SCHEMA["paths"][path][method]["responses"][status]["content"]["application/json"]
    validator(content["schema"]).validate(example)
    response_model = route(method, path).response_model
    TypeAdapter(response_model).validate_python(example)


def test_every_operation_with_a_body_shows_what_it_answers() -> None:
    shown = {(method, path) for method, path, _, _ in response_examples()}
    missing = [
        (method, path)
        for method, path, operation in operations()
        if "requestBody" in operation
        and (method, path) not in RESPONSE_EXAMPLES_ELSEWHERE
        and any(
            status.startswith("2") and "application/json" in response.get("content", {})
            for status, response in operation["responses"].items()
        )
        and (method, path) not in shown
    ]
    assert missing == []
