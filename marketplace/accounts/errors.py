from marketplace.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)


class EmailTaken(Conflict):
    default_code = "email_taken"
    title = "Email already registered"


class CreditCodeTaken(Conflict):
    default_code = "credit_code_taken"
    title = "Organization already registered"


class InvalidAccount(Unprocessable):
    default_code = "invalid_account"
    title = "Invalid account details"


class WeakPassword(Unprocessable):
    default_code = "weak_password"
    title = "Password too weak"


class KindNotAllowed(Unprocessable):
    default_code = "kind_not_allowed"
    title = "Organization kind not allowed here"


class OrganizationNotFound(NotFound):
    default_code = "organization_not_found"
    title = "Organization not found"


class OrganizationNotPending(Conflict):
    default_code = "organization_not_pending"
    title = "Organization already decided"


class OrganizationNotVerified(Forbidden):
    default_code = "organization_not_verified"
    title = "Organization not verified"


class InsufficientScope(Forbidden):
    default_code = "insufficient_scope"
    title = "Token lacks the required scope"


class OrganizationRejected(Forbidden):
    default_code = "organization_rejected"
    title = "Organization rejected"


class NotOrganizationAdmin(Forbidden):
    default_code = "not_organization_admin"
    title = "Organization admin required"


class NotPlatformAdmin(Forbidden):
    default_code = "not_platform_admin"
    title = "Platform admin required"


class ApiClientNotFound(NotFound):
    default_code = "api_client_not_found"
    title = "API client not found"


class ApiClientRevoked(Conflict):
    default_code = "api_client_revoked"
    title = "API client revoked"


class InvalidAccessToken(Unauthorized):
    default_code = "invalid_token"
    title = "Invalid or expired token"


class OAuthError(BadRequest):
    """Token endpoint errors: problem+json that also carries RFC 6749 ``error`` fields."""

    title = "Token request refused"

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail, code=code, error=code, error_description=detail)


class InvalidGrant(OAuthError):
    def __init__(self, detail: str = "The credentials or refresh token are invalid.") -> None:
        super().__init__(detail, code="invalid_grant")


class RefreshTokenReused(OAuthError):
    # The family revocation must survive the refusal.
    keeps_changes = True

    def __init__(self) -> None:
        super().__init__(
            "This refresh token was already used; every token of its login has been revoked, "
            "its access tokens included.",
            code="invalid_grant",
        )


class InvalidClient(OAuthError):
    status_code = 401
    title = "Client authentication failed"

    def __init__(self) -> None:
        super().__init__("Unknown client or wrong secret.", code="invalid_client")

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="marketplace"'}


class UserNotFound(NotFound):
    default_code = "user_not_found"
    title = "User not found"


class CannotDeactivateSelf(Conflict):
    default_code = "cannot_deactivate_self"
    title = "An admin cannot deactivate their own account"
