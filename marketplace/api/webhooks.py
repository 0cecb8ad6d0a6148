from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from marketplace.accounts.deps import OrganizationAdmin, VerifiedOrganizationAdmin
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.sessions import SessionDep
from marketplace.webhooks import service as webhooks
from marketplace.webhooks.deps import OwnDelivery, OwnWebhook, OwnWebhookLog
from marketplace.webhooks.models import (
    AttemptPublic,
    DeliveryDetail,
    DeliveryPublic,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

SIGNING = (
    "Each event is POSTed as JSON, signed as the Standard Webhooks specification says: "
    "`webhook-id` (stable per event and webhook: drop repeats by it), `webhook-timestamp` (Unix "
    "seconds) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of "
    "`{webhook-id}.{webhook-timestamp}.{body}`, keyed with the base64-decoded part of the "
    "`whsec_` secret. Its reference libraries verify it, e.g. "
    "`standardwebhooks.Webhook(secret).verify(body, headers)`."
)


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=problem_responses(401, 403, 422),
    summary="Subscribe an HTTPS endpoint to your organization's events (organization admins)",
    description="Events that happen from now on are delivered. The signing secret is shown "
    "only in this response. " + SIGNING,
    openapi_extra=response_example(201, "webhook_created"),
)
def create_webhook(
    body: Annotated[
        WebhookCreate,
        Body(
            openapi_examples={
                "some types": {
                    "value": {
                        "url": "https://bank.example.com/hooks/marketplace",
                        "event_types": ["pledge.registered", "pledge.cancelled"],
                        "description": "Loan monitoring",
                    }
                },
                "every type": {"value": {"url": "https://bank.example.com/hooks/all"}},
            }
        ),
    ],
    admin: VerifiedOrganizationAdmin,
    session: SessionDep,
) -> WebhookCreated:
    subscription, secret = webhooks.create_subscription(session=session, creator=admin, data=body)
    return WebhookCreated(
        **WebhookPublic.model_validate(subscription, from_attributes=True).model_dump(),
        secret=secret,
    )


@router.get(
    "/webhooks",
    response_model=Page[WebhookPublic],
    responses=problem_responses(401, 403, 422),
    summary="Your organization's webhooks, newest first (organization admins)",
)
def list_webhooks(
    admin: OrganizationAdmin, session: SessionDep, page: PageParamsDep
) -> Page[WebhookPublic]:
    found = webhooks.list_subscriptions(
        session=session, organization_id=admin.organization_id, params=page
    )
    return page_of(found, page, lambda s: WebhookPublic.model_validate(s, from_attributes=True))


@router.get(
    "/webhooks/{webhook_id}",
    response_model=WebhookPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="One of your organization's webhooks",
)
def get_webhook(webhook: OwnWebhook) -> WebhookPublic:
    return WebhookPublic.model_validate(webhook, from_attributes=True)


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Pause or resume a webhook, or change its event types",
    description="While paused, new events are not delivered to it and outstanding deliveries "
    "wait; on resume they go on, and events from then on are delivered.",
    openapi_extra=response_example(200, "webhook"),
)
def update_webhook(
    body: Annotated[
        WebhookUpdate, Body(openapi_examples={"pause": {"value": {"is_active": False}}})
    ],
    webhook: OwnWebhook,
    session: SessionDep,
) -> WebhookPublic:
    updated = webhooks.update_subscription(session=session, subscription=webhook, data=body)
    return WebhookPublic.model_validate(updated, from_attributes=True)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete a webhook; nothing more is sent to it",
    description="It leaves the list and cannot be changed, but its delivery log is kept: "
    "`GET /webhooks/{webhook_id}/deliveries` and `GET /deliveries/{delivery_id}` still answer.",
)
def delete_webhook(webhook: OwnWebhook, session: SessionDep) -> None:
    webhooks.delete_subscription(session=session, subscription=webhook)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryPublic],
    responses=problem_responses(401, 403, 404, 422),
    summary="The delivery log of a webhook, newest first",
    description="A deleted webhook's log is kept and stays readable here.",
)
def list_deliveries(
    webhook: OwnWebhookLog,
    session: SessionDep,
    page: PageParamsDep,
    status: Annotated[DeliveryStatus | None, Query(description="Only this status.")] = None,
) -> Page[DeliveryPublic]:
    found = webhooks.list_deliveries(
        session=session, subscription=webhook, status=status, params=page
    )
    return page_of(found, page, lambda d: DeliveryPublic.model_validate(d, from_attributes=True))


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses=problem_responses(401, 403, 404, 422),
    summary="One delivery with every attempt made (status code, duration, error, response)",
)
def get_delivery(delivery: OwnDelivery, session: SessionDep) -> DeliveryDetail:
    attempts = webhooks.attempts_of(session=session, delivery=delivery)
    return DeliveryDetail(
        **DeliveryPublic.model_validate(delivery, from_attributes=True).model_dump(),
        attempts=[AttemptPublic.model_validate(a, from_attributes=True) for a in attempts],
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Send a delivery again now, under the same Webhook-Id",
    description="Whatever its status. The worker makes the attempt; follow it in the delivery "
    "log. 409 while the webhook is paused or the delivery is being sent, and for a deleted "
    "webhook.",
)
def redeliver(delivery: OwnDelivery, session: SessionDep) -> DeliveryPublic:
    scheduled = webhooks.redeliver(session=session, delivery=delivery)
    return DeliveryPublic.model_validate(scheduled, from_attributes=True)
