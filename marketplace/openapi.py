"""The OpenAPI document as clients generate from it, and its documentation pages.

* Response examples keep their nulls (see ``marketplace.api.examples``).
* Error responses carry the ``Problem`` schema under ``application/problem+json``, the media type
  the API sends; FastAPI would put a response model's schema under ``application/json``.
* Swagger UI and ReDoc are served from the files that the ``fastapi-offline`` package ships, so
  ``/docs`` and ``/redoc`` work without any network beyond this server; ``/`` leads to ``/docs``.
"""

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from marketplace.api import examples, lawful_sequence
from marketplace.errors import PROBLEM_MEDIA_TYPE

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
STATIC_URL = "/static/docs"
STATIC_DIRECTORY = Path(fastapi_offline.__file__).parent / "static"


def problems_under_their_media_type(schema: dict[str, Any]) -> dict[str, Any]:
    """Moves each error response's schema from ``application/json`` to
    ``application/problem+json`` (in place; running it twice changes nothing)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if not status.startswith(("4", "5")) or PROBLEM_MEDIA_TYPE not in content:
                    continue
                plain = content.pop("application/json", None)
                if plain is not None and "schema" in plain:
                    content[PROBLEM_MEDIA_TYPE].setdefault("schema", plain["schema"])
    return schema


NAMED_RESPONSES = {**examples.RESPONSES, **lawful_sequence.RESPONSES}


def named_examples_filled_in(schema: dict[str, Any]) -> dict[str, Any]:
    """Each example that names one of ``marketplace.api.examples.RESPONSES`` gets its value
    (in place), nulls included: FastAPI drops nulls from what it generates."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                for content in response.get("content", {}).values():
                    for example in content.get("examples", {}).values():
                        name = example.pop(examples.NAME_KEY, None)
                        if name is not None:
                            example["value"] = NAMED_RESPONSES[name]
    return schema


def install(app: FastAPI) -> None:
    """Call on an app created with ``docs_url=None, redoc_url=None``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = named_examples_filled_in(
                problems_under_their_media_type(generate())
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIRECTORY), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(DOCS_URL, status_code=307)

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root_path + OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{root_path}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root_path}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root_path}{STATIC_URL}/favicon.png",
            # No badge fetched from the public validator service: nothing leaves this server.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root_path}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root_path}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
