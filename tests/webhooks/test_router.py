"""The webhook endpoints: organization admins manage their own organization's webhooks only."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from marketplace.accounts.models import OrganizationKind, UserRole
from marketplace.config import Environment, get_settings
from marketplace.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from tests import factories
from tests.factories import NewParty, Party
from tests.problems import assert_problem
from tests.webhooks.conftest import delivery_for, subscribe

URL = "https://bank.example.com/hooks/marketplace"


@pytest.fixture
def bank(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.bank)


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_admin_subscribes_and_sees_the_secret_once(
    client: TestClient, session: Session, bank: Party
) -> None:
    response = client.post(
        "/api/v1/webhooks",
        headers=bank.headers,
        json={"url": URL, "event_types": ["pledge.cancelled", "pledge.registered"]},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert created["url"] == URL
    assert created["event_types"] == ["pledge.cancelled", "pledge.registered"]
    assert created["is_active"] is True
    assert created["organization_id"] == bank.id
    assert created["created_by_user_id"] == bank.user.id

    shown = client.get(f"/api/v1/webhooks/{created['id']}", headers=bank.headers).json()
    assert "secret" not in shown
    listed = client.get("/api/v1/webhooks", headers=bank.headers).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    stored = session.get_one(WebhookSubscription, created["id"])
    assert stored.secret == created["secret"]


def test_every_event_type_by_default(client: TestClient, bank: Party) -> None:
    response = client.post("/api/v1/webhooks", headers=bank.headers, json={"url": URL})
    assert response.status_code == 201
    assert response.json()["event_types"] == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://bank.example.com/hook", "invalid_webhook_url"),
        ("https://user:pw@bank.example.com/hook", "invalid_webhook_url"),
        ("http://bank.example.com/hook", "invalid_webhook_url"),
        ("http://10.0.0.5/hook", "invalid_webhook_url"),
        ("https:///no-host", "invalid_webhook_url"),
        ("https://bank.example.com/hook#frag", "invalid_webhook_url"),
        ("", "validation_failed"),
    ],
)
def test_bad_urls_are_refused_and_nothing_is_stored(
    client: TestClient, session: Session, bank: Party, url: str, code: str
) -> None:
    response = client.post("/api/v1/webhooks", headers=bank.headers, json={"url": url})
    assert_problem(response, 422, code)
    assert count(session, WebhookSubscription) == 0


def test_an_unknown_event_type_is_refused(
    client: TestClient, session: Session, bank: Party
) -> None:
    response = client.post(
        "/api/v1/webhooks", headers=bank.headers, json={"url": URL, "event_types": ["nope"]}
    )
    assert_problem(response, 422, "validation_failed")
    assert count(session, WebhookSubscription) == 0


def test_only_organization_admins_manage_webhooks(
    client: TestClient, session: Session, bank: Party
) -> None:
    subscription, _ = subscribe(session, bank.user, URL)
    delivery = delivery_for(session, subscription)
    member = factories.auth(
        session, factories.user(session, bank.organization, role=UserRole.member)
    )
    calls = [
        ("POST", "/api/v1/webhooks", {"url": URL}),
        ("GET", "/api/v1/webhooks", None),
        ("GET", f"/api/v1/webhooks/{subscription.id}", None),
        ("PATCH", f"/api/v1/webhooks/{subscription.id}", {"is_active": False}),
        ("DELETE", f"/api/v1/webhooks/{subscription.id}", None),
        ("GET", f"/api/v1/webhooks/{subscription.id}/deliveries", None),
        ("GET", f"/api/v1/deliveries/{delivery.id}", None),
        ("POST", f"/api/v1/deliveries/{delivery.id}/redeliver", None),
    ]
    for method, path, body in calls:
        assert_problem(client.request(method, path, json=body), 401, "not_authenticated")
        assert_problem(
            client.request(method, path, json=body, headers=member),
            403,
            "not_organization_admin",
        )
    assert count(session, WebhookSubscription) == 1
    session.refresh(subscription)
    assert subscription.is_active
    assert subscription.deleted_at is None


def test_another_organizations_webhooks_do_not_exist_for_you(
    client: TestClient, session: Session, bank: Party, new_party: NewParty
) -> None:
    subscription, _ = subscribe(session, bank.user, URL)
    delivery = delivery_for(session, subscription)
    stranger = new_party(kind=OrganizationKind.bank)
    calls = [
        ("GET", f"/api/v1/webhooks/{subscription.id}", None, "webhook_not_found"),
        ("PATCH", f"/api/v1/webhooks/{subscription.id}", {"is_active": False}, "webhook_not_found"),
        ("DELETE", f"/api/v1/webhooks/{subscription.id}", None, "webhook_not_found"),
        ("GET", f"/api/v1/webhooks/{subscription.id}/deliveries", None, "webhook_not_found"),
        ("GET", f"/api/v1/deliveries/{delivery.id}", None, "delivery_not_found"),
        ("POST", f"/api/v1/deliveries/{delivery.id}/redeliver", None, "delivery_not_found"),
    ]
    for method, path, body, code in calls:
        response = client.request(method, path, json=body, headers=stranger.headers)
        assert_problem(response, 404, code)
    assert client.get("/api/v1/webhooks", headers=stranger.headers).json()["items"] == []
    session.refresh(subscription)
    assert subscription.is_active
    assert subscription.deleted_at is None


def test_a_deleted_webhook_is_gone_but_its_delivery_log_is_kept(
    client: TestClient, session: Session, bank: Party, new_party: NewParty
) -> None:
    subscription, _ = subscribe(session, bank.user, URL)
    delivery = delivery_for(session, subscription)
    path = f"/api/v1/webhooks/{subscription.id}"

    assert client.delete(path, headers=bank.headers).status_code == 204

    assert_problem(client.get(path, headers=bank.headers), 404, "webhook_not_found")
    assert_problem(client.delete(path, headers=bank.headers), 404, "webhook_not_found")
    assert_problem(
        client.patch(path, headers=bank.headers, json={"is_active": True}),
        404,
        "webhook_not_found",
    )
    assert client.get("/api/v1/webhooks", headers=bank.headers).json()["items"] == []

    # The log stays readable by its organization...
    log = client.get(f"{path}/deliveries", headers=bank.headers)
    assert log.status_code == 200, log.text
    assert [item["id"] for item in log.json()["items"]] == [delivery.id]
    detail = client.get(f"/api/v1/deliveries/{delivery.id}", headers=bank.headers)
    assert detail.status_code == 200, detail.text
    assert detail.json()["subscription_id"] == subscription.id
    # ...but nothing more is sent.
    assert_problem(
        client.post(f"/api/v1/deliveries/{delivery.id}/redeliver", headers=bank.headers),
        409,
        "webhook_deleted",
    )
    session.refresh(delivery)
    assert delivery.status is DeliveryStatus.pending

    # Nobody else's: another organization's admin does not see it.
    stranger = new_party(kind=OrganizationKind.bank)
    assert_problem(
        client.get(f"{path}/deliveries", headers=stranger.headers), 404, "webhook_not_found"
    )
    assert_problem(
        client.get(f"/api/v1/deliveries/{delivery.id}", headers=stranger.headers),
        404,
        "delivery_not_found",
    )


def test_pausing_and_changing_event_types(
    client: TestClient, session: Session, bank: Party
) -> None:
    subscription, _ = subscribe(session, bank.user, URL)
    path = f"/api/v1/webhooks/{subscription.id}"
    paused = client.patch(
        path, headers=bank.headers, json={"is_active": False, "event_types": ["pledge.changed"]}
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["is_active"] is False
    assert paused.json()["event_types"] == ["pledge.changed"]
    assert_problem(
        client.patch(path, headers=bank.headers, json={"is_active": None}), 422, "validation_failed"
    )
    assert_problem(
        client.patch(path, headers=bank.headers, json={"event_types": ["nope"]}),
        422,
        "validation_failed",
    )
    session.refresh(subscription)
    assert subscription.event_types == ["pledge.changed"]


def test_the_delivery_log(client: TestClient, session: Session, bank: Party) -> None:
    subscription, _ = subscribe(session, bank.user, URL)
    first = delivery_for(session, subscription, "pledge:1")
    second = delivery_for(session, subscription, "pledge:2")
    second.status = DeliveryStatus.failed
    session.add(second)
    path = f"/api/v1/webhooks/{subscription.id}/deliveries"

    log = client.get(path, headers=bank.headers).json()
    assert [item["id"] for item in log["items"]] == [second.id, first.id]
    assert log["items"][0]["status"] == "failed"
    failed = client.get(path, headers=bank.headers, params={"status": "failed"}).json()
    assert [item["id"] for item in failed["items"]] == [second.id]
    page = client.get(path, headers=bank.headers, params={"limit": 1}).json()
    assert page["next_cursor"] is not None
    assert_problem(
        client.get(path, headers=bank.headers, params={"status": "lost"}), 422, "validation_failed"
    )

    detail = client.get(f"/api/v1/deliveries/{first.id}", headers=bank.headers).json()
    assert detail["event_id"] == first.event_id
    assert detail["attempts"] == []


def test_redelivery_schedules_an_attempt_now(
    client: TestClient, session: Session, bank: Party, fixed_clock: Any
) -> None:
    subscription, _ = subscribe(session, bank.user, URL)
    delivery = delivery_for(session, subscription)
    delivery.status = DeliveryStatus.failed
    delivery.attempt_count = 8
    delivery.next_attempt_at = None
    session.add(delivery)

    response = client.post(f"/api/v1/deliveries/{delivery.id}/redeliver", headers=bank.headers)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    session.refresh(delivery)
    assert delivery.status is DeliveryStatus.pending
    assert delivery.next_attempt_at == fixed_clock
    assert delivery.attempt_count == 8
    assert_problem(
        client.post("/api/v1/deliveries/0/redeliver", headers=bank.headers),
        422,
        "validation_failed",
    )


def test_no_redelivery_while_paused_or_in_flight(
    client: TestClient, session: Session, bank: Party, fixed_clock: Any
) -> None:
    subscription, _ = subscribe(session, bank.user, URL)
    delivery = delivery_for(session, subscription)
    delivery.status = DeliveryStatus.failed
    delivery.next_attempt_at = None
    delivery.claimed_until = fixed_clock + timedelta(seconds=30)
    session.add(delivery)
    path = f"/api/v1/deliveries/{delivery.id}/redeliver"

    assert_problem(client.post(path, headers=bank.headers), 409, "delivery_in_flight")
    subscription.is_active = False
    session.add(subscription)
    assert_problem(client.post(path, headers=bank.headers), 409, "webhook_inactive")

    session.refresh(delivery)
    assert delivery.status is DeliveryStatus.failed
    assert delivery.next_attempt_at is None
    assert count(session, WebhookDelivery) == 1


def test_production_wants_https_to_public_hosts(
    client: TestClient, session: Session, bank: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "environment", Environment.production)
    for url in ("http://127.0.0.1:8080/hook", "https://localhost/hook", "https://127.0.0.1/hook"):
        response = client.post("/api/v1/webhooks", headers=bank.headers, json={"url": url})
        assert_problem(response, 422, "invalid_webhook_url")
    assert count(session, WebhookSubscription) == 0
