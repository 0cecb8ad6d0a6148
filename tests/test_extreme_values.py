"""Every date, number and string field of every request body, and every query and path
parameter, of the OpenAPI schema, sent with extreme values by a caller who may reach the
operation: the answer is a 4xx problem, never a server error.

The other fields of each body are valid (the schema's examples, or the simplest value it allows,
with ids of real objects), so that a value the validation lets through reaches the service."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind, User
from marketplace.licensing import disputes, obligations
from marketplace.licensing.models.disputes import DisputeReason
from marketplace.matching import needs, saved_searches
from marketplace.matching.models import NeedCreate, SavedSearchCreate
from marketplace.pledges.models import PledgeStatus
from tests import factories
from tests.extreme_values import (
    ODD_STRINGS,
    QUERY_EXTRAS,
    STRINGS,
    Schema,
    kind_of,
    values_for,
    with_value,
)
from tests.licensing.royalty_builders import license_for
from tests.pledges.conftest import make_pledge

# Past the ids' 32-bit bound, past 64 bits, not a number, a NUL.
PATH_IDS: list[Any] = [0, 2**31, 2**63, "nan", "\x00"]
# The sweep stays bounded by its number of requests (about 3,200: under a minute on an idle
# machine), not by a clock that a loaded machine would make flaky.
MAX_REQUESTS = 4000


@dataclass
class World:
    """The objects the sweep's requests point at, and who may touch each."""

    admin: User
    university: User
    enterprise: User
    bank: User
    ids: dict[str, int]
    overrides: dict[str, Any]


@pytest.fixture
def world(session: Session) -> World:
    admin = factories.platform_admin(session)
    university = factories.member(session, kind=OrganizationKind.university)
    enterprise = factories.member(session, kind=OrganizationKind.enterprise)
    bank = factories.member(session, kind=OrganizationKind.bank)
    university_org = session.get_one(Organization, university.organization_id)
    enterprise_org = session.get_one(Organization, enterprise.organization_id)
    bank_org = session.get_one(Organization, bank.organization_id)
    # A pending organization the admin may verify or reject without locking anyone else out.
    pending = factories.member(session, kind=OrganizationKind.enterprise, verified=False)

    patent = factories.patent(session, university_org)
    spare = factories.patent(session, university_org)
    draft = factories.draft_listing(session, university_org)
    license_ = license_for(session, university_org, enterprise_org, paid=False)
    assert license_.id is not None
    fee = obligations.upfront_obligation(session, license_.id)
    assert fee is not None
    dispute = disputes.open_dispute(
        session=session,
        license_=license_,
        organization_id=enterprise.organization_id,
        user_id=enterprise.id,
        reason=DisputeReason.other,
        statement="sweep",
    )
    pledge = make_pledge(
        session, pledgee=bank_org, pledgor=university_org, status=PledgeStatus.applied
    )
    need = needs.create_need(
        session=session,
        organization=enterprise_org,
        data=NeedCreate(title="Battery cooling", description="Thermal runaway in packs"),
    )
    saved = saved_searches.create_saved_search(
        session=session, organization=enterprise_org, data=SavedSearchCreate(name="sweep", q="电池")
    )
    ids = {
        "organization_id": pending.organization_id,
        "user_id": pending.id,
        "patent_id": patent.id,
        "listing_id": draft.id,
        "offer_id": draft.offers[0].id,
        "license_id": license_.id,
        "obligation_id": fee.id,
        "dispute_id": dispute.id,
        "pledge_id": pledge.id,
        "need_id": need.id,
        "saved_search_id": saved.id,
    }
    overrides: dict[str, Any] = {
        "pledgor_id": university.organization_id,
        "application_numbers": [spare.application_number],
        "patent_ids": [spare.id],
        "listing_id": draft.id,
        "url": "https://hooks.example.com/sweep",
        "email": "sweep@example.com",
        "full_name": "Sweep",
        "filing_date": "2020-03-01",
        "secured_amount": str(Decimal("1000000")),
        "debt_start_date": "2026-07-01",
        "debt_end_date": "2028-06-30",
        "period_start": "2026-06-15",
        "period_end": "2026-09-14",
    }
    return World(
        admin=admin,
        university=university,
        enterprise=enterprise,
        bank=bank,
        ids={name: value for name, value in ids.items() if value is not None},
        overrides=overrides,
    )


def caller(world: World, method: str, path: str) -> User:
    """Who may reach the operation's validation and service."""
    if path.startswith(("/api/v1/organizations", "/api/v1/export-", "/api/v1/audit-events")):
        return world.admin
    if "/export-review/" in path or path.endswith(("/mediation", "/resolve", "/registration")):
        return world.admin
    if path.startswith("/api/v1/pledges/{pledge_id}/confirm"):
        return world.university
    if path.startswith(("/api/v1/pledges", "/api/v1/encumbrances")):
        return world.bank
    if path.startswith("/api/v1/payments"):
        return world.university
    if path.startswith(
        (
            "/api/v1/disputes",
            "/api/v1/offers/{offer_id}/accept",
            "/api/v1/licenses",
            "/api/v1/obligations",
            "/api/v1/royalty-",
            "/api/v1/profile",
            "/api/v1/needs",
            "/api/v1/saved-searches",
        )
    ):
        return world.enterprise
    return world.university


@dataclass(frozen=True)
class Probe:
    """One request of the sweep."""

    method: str
    template: str
    path: str
    where: str
    value: Any
    query: dict[str, str]
    body: Any
    media_type: str | None


def _probes(document: dict[str, Any], world: World) -> Iterator[Probe]:
    schemas = Schema(document)
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            yield from _operation_probes(schemas, template, method.upper(), operation, world)


def _operation_probes(
    schemas: Schema, template: str, method: str, operation: dict[str, Any], world: World
) -> Iterator[Probe]:
    parameters = operation.get("parameters", [])
    path_ids = {
        p["name"]: str(world.ids.get(p["name"], 1)) for p in parameters if p["in"] == "path"
    }
    required_query = {
        p["name"]: str(schemas.example(p["schema"], {}))
        for p in parameters
        if p["in"] == "query" and p.get("required")
    }
    content = operation.get("requestBody", {}).get("content", {})
    media_type = next(iter(content), None)
    body_schema = content[media_type]["schema"] if media_type else None
    body = schemas.example(body_schema, world.overrides) if body_schema else None
    once: set[str] = set()

    def probe(where: str, value: Any, **changes: Any) -> Probe:
        values: dict[str, Any] = {
            "method": method,
            "template": template,
            "path": template.format(**path_ids),
            "where": where,
            "value": value,
            "query": required_query,
            "body": body,
            "media_type": media_type,
        }
        values.update(changes)
        return Probe(**values)

    def values(schema: dict[str, Any], url: bool = False) -> list[Any]:
        every, odd = values_for(schema)
        kind = kind_of(schema)
        if kind is None and url:
            every, odd, kind = STRINGS, ODD_STRINGS, "string"
        chosen = list(every)
        if kind is not None and kind not in once:
            once.add(kind)
            chosen += odd
        if url:
            # A URL longer than a few kilobytes never reaches an application.
            chosen = [v for v in chosen if len(_text(v)) <= 4000]
            if "url" not in once:
                once.add("url")
                chosen += QUERY_EXTRAS
        return chosen

    for parameter in parameters:
        schema = schemas.non_null(parameter["schema"])
        if parameter["in"] == "query":
            for value in values(schema, url=True):
                query = {**required_query, parameter["name"]: _text(value)}
                yield probe(f"query {parameter['name']}", value, query=query)
        elif parameter["in"] == "path":
            # Ids all share one bounded type: a few values show its bounds hold.
            for value in PATH_IDS if kind_of(schema) == "integer" else values(schema, True):
                text = _text(value).encode("utf-8", "surrogatepass")
                ids = {**path_ids, parameter["name"]: quote(text, safe="")}
                yield probe(f"path {parameter['name']}", value, path=template.format(**ids))
    if body_schema is None or media_type == "multipart/form-data":
        return
    for leaf in schemas.leaves(body_schema):
        for value in values(leaf.schema):
            changed = with_value(schemas, body, body_schema, leaf.path, value)
            where = "body " + ".".join(str(step) for step in leaf.path)
            yield probe(where, value, body=changed)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _encoded(values: dict[str, Any]) -> str:
    """Form or query encoding that keeps what a careless client sends: a lone surrogate goes out
    as the (invalid) UTF-8 bytes it would have."""
    return "&".join(
        f"{quote(name)}={quote(_text(value).encode('utf-8', 'surrogatepass'), safe='')}"
        for name, value in values.items()
    )


def _send(client: TestClient, probe: Probe, headers: dict[str, str]) -> Any:
    url = f"{probe.path}?{_encoded(probe.query)}" if probe.query else probe.path
    content = None
    if probe.media_type == "application/x-www-form-urlencoded":
        content = _encoded(probe.body or {}).encode()
        headers = {**headers, "Content-Type": probe.media_type}
    elif probe.body is not None:
        # NaN and Infinity as JavaScript writes them: not JSON, but what a careless client sends.
        content = json.dumps(probe.body, allow_nan=True).encode("utf-8", "surrogatepass")
        headers = {**headers, "Content-Type": "application/json"}
    return client.request(probe.method, url, content=content, headers=headers)


def _is_problem(response: Any) -> bool:
    # application/problem+json, or plain JSON until every route declares the problem type.
    if not response.headers.get("content-type", "").startswith(
        ("application/problem+json", "application/json")
    ):
        return False
    body = response.json()
    return all(key in body for key in ("type", "title", "status", "code"))


def test_extreme_values_never_cause_a_server_error(
    app: FastAPI, session: Session, world: World
) -> None:
    document = app.openapi()
    # Server errors come back as responses, so that one run lists them all.
    client = TestClient(app, raise_server_exceptions=False)
    tokens = {
        account.id: factories.auth(session, account)
        for account in (world.admin, world.university, world.enterprise, world.bank)
    }
    failures: list[str] = []
    sent = 0
    for probe in _probes(document, world):
        template_headers = tokens[caller(world, probe.method, probe.template).id]
        headers = {**template_headers, "Idempotency-Key": str(uuid.uuid4())}
        if probe.path.startswith("/api/v1/auth/logout"):
            # A logout with a valid token would end the session every later request uses.
            headers = {}
        response = _send(client, probe, headers)
        sent += 1
        what = f"{probe.method} {probe.path} {probe.where}={probe.value!r:.60}"
        if response.status_code >= 500:
            failures.append(f"{what}: {response.status_code} {response.text[:300]}")
        elif response.status_code >= 400 and not _is_problem(response):
            failures.append(
                f"{what}: {response.status_code} is not a problem: {response.text:.200}"
            )
    assert failures == [], f"{len(failures)} of {sent} requests failed:\n" + "\n".join(failures)
    assert 1500 < sent < MAX_REQUESTS
