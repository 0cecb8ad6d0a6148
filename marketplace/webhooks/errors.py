from marketplace.errors import Conflict, NotFound, Unprocessable


class WebhookNotFound(NotFound):
    default_code = "webhook_not_found"
    title = "Webhook not found"


class DeliveryNotFound(NotFound):
    default_code = "delivery_not_found"
    title = "Delivery not found"


class InvalidWebhookUrl(Unprocessable):
    default_code = "invalid_webhook_url"
    title = "Webhook URL not allowed"


class WebhookInactive(Conflict):
    default_code = "webhook_inactive"
    title = "Webhook is paused"


class DeliveryInFlight(Conflict):
    default_code = "delivery_in_flight"
    title = "Delivery is being sent"


class WebhookDeleted(Conflict):
    default_code = "webhook_deleted"
    title = "Webhook is deleted"
