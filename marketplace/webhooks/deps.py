"""The webhook or delivery with this id that the calling organization admin may manage (or, for
a deleted webhook, still read the delivery log of)."""

from typing import Annotated

from fastapi import Depends

from marketplace.accounts.deps import OrganizationAdmin
from marketplace.params import ObjectId
from marketplace.sessions import SessionDep
from marketplace.webhooks import service as webhooks
from marketplace.webhooks.models import WebhookDelivery, WebhookSubscription


def _own_webhook(
    webhook_id: ObjectId, admin: OrganizationAdmin, session: SessionDep
) -> WebhookSubscription:
    return webhooks.get_subscription(
        session=session, organization_id=admin.organization_id, subscription_id=webhook_id
    )


def _own_webhook_log(
    webhook_id: ObjectId, admin: OrganizationAdmin, session: SessionDep
) -> WebhookSubscription:
    """Deleted ones too: a deleted webhook's delivery log is kept for its organization."""
    return webhooks.get_subscription(
        session=session,
        organization_id=admin.organization_id,
        subscription_id=webhook_id,
        include_deleted=True,
    )


def _own_delivery(
    delivery_id: ObjectId, admin: OrganizationAdmin, session: SessionDep
) -> WebhookDelivery:
    return webhooks.get_delivery(
        session=session, organization_id=admin.organization_id, delivery_id=delivery_id
    )


OwnWebhook = Annotated[WebhookSubscription, Depends(_own_webhook)]
OwnWebhookLog = Annotated[WebhookSubscription, Depends(_own_webhook_log)]
OwnDelivery = Annotated[WebhookDelivery, Depends(_own_delivery)]
