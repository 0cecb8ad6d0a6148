from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from marketplace.accounts import service as accounts
from marketplace.accounts.deps import (
    CurrentCaller,
    MembersAdmin,
    OrganizationAdmin,
    PlatformAdmin,
    VerifiedOrganizationAdmin,
)
from marketplace.accounts.errors import OAuthError
from marketplace.accounts.models import (
    ApiClientCreate,
    ApiClientCreated,
    ApiClientPublic,
    MemberCreate,
    MeResponse,
    OrganizationDecision,
    OrganizationKind,
    OrganizationPublic,
    SignupRequest,
    SignupResponse,
    TokenResponse,
    UserPublic,
    Verification,
)
from marketplace.accounts.throttle import AttemptLimiter
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import ObjectId
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["accounts"])

_basic = HTTPBasic(auto_error=False)


def attempt_limiter(request: Request) -> AttemptLimiter:
    limiter: AttemptLimiter = request.app.state.attempt_limiter
    return limiter


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupResponse,
    responses=problem_responses(409, 422, 429),
    summary="Register an organization and its first (admin) user",
    description="A few signups a minute per client address: the answer tells whether an e-mail "
    "has an account (409 email_taken), so asking is rate-limited (429 too_many_registrations).",
    openapi_extra=response_example(
        201, "signup", "An organization and its admin, pending verification"
    ),
)
def signup(
    body: SignupRequest,
    request: Request,
    session: SessionDep,
    limiter: Annotated[AttemptLimiter, Depends(attempt_limiter)],
) -> SignupResponse:
    limiter.check_signup(address=request.client.host if request.client else "unknown")
    organization, user = accounts.signup(
        session=session, organization=body.organization, user=body.user
    )
    return SignupResponse(
        organization=OrganizationPublic.model_validate(organization),
        user=UserPublic.model_validate(user),
    )


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=problem_responses(400, 401, 422, 429),
    summary="OAuth2 token endpoint (password, refresh_token, client_credentials)",
    openapi_extra={
        **response_example(200, "token"),
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "examples": {
                        "password": {
                            "summary": "A user signs in",
                            "value": {
                                "grant_type": "password",
                                "username": "tech-transfer@zju.example.cn",
                                "password": "correct horse battery staple",
                            },
                        },
                        "client_credentials": {
                            "summary": "An API client (a bank's system)",
                            "value": {
                                "grant_type": "client_credentials",
                                "client_id": "cl_3kd8s0",
                                "client_secret": "the secret shown at its creation",
                                "scope": "pledges encumbrances",
                            },
                        },
                        "refresh_token": {
                            "summary": "A fresh access token",
                            "value": {"grant_type": "refresh_token", "refresh_token": "rt_..."},
                        },
                    }
                }
            }
        },
    },
)
def token(
    request: Request,
    session: SessionDep,
    limiter: Annotated[AttemptLimiter, Depends(attempt_limiter)],
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    response: Response,
    # Optional here so that a missing grant_type gets the RFC 6749 invalid_request, not a 422.
    grant_type: Annotated[str | None, Form(max_length=64)] = None,
    username: Annotated[str | None, Form(max_length=254)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    refresh_token: Annotated[str | None, Form(max_length=512)] = None,
    client_id: Annotated[str | None, Form(max_length=128)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    scope: Annotated[str | None, Form(max_length=500)] = None,
) -> TokenResponse:
    caller = request.client.host if request.client else "unknown"
    if not grant_type:
        raise OAuthError("grant_type is required.", code="invalid_request")
    if grant_type == "password":
        if not username or password is None:
            raise OAuthError("username and password are required.", code="invalid_request")
        limiter.check(address=caller, kind="user", account=username)
        issued = accounts.password_grant(
            session=session, email=username, password=password, scope=scope
        )
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise OAuthError("refresh_token is required.", code="invalid_request")
        issued = accounts.refresh_token_grant(
            session=session, refresh_token=refresh_token, scope=scope
        )
    elif grant_type == "client_credentials":
        if basic is not None:
            client_id, client_secret = basic.username, basic.password
        if not client_id or client_secret is None:
            raise OAuthError("client_id and client_secret are required.", code="invalid_request")
        limiter.check(address=caller, kind="client", account=client_id)
        issued = accounts.client_credentials_grant(
            session=session, client_id=client_id, client_secret=client_secret, scope=scope
        )
    else:
        raise OAuthError(
            "grant_type must be password, refresh_token or client_credentials.",
            code="unsupported_grant_type",
        )
    # RFC 6749 section 5.1: responses carrying tokens must not be stored by any cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        scope=" ".join(sorted(issued.scopes)),
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 422),
    summary="Revoke the presented access token (and the login of a refresh token, if given)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "examples": {"with refresh token": {"value": {"refresh_token": "rt_..."}}}
                }
            }
        }
    },
)
def logout(
    caller: CurrentCaller,
    session: SessionDep,
    refresh_token: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    accounts.logout(
        session=session,
        jti=caller.jti,
        expires_at=caller.token_expires_at,
        user=caller.user,
        refresh_token=refresh_token,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeResponse, responses=problem_responses(401))
def me(caller: CurrentCaller) -> MeResponse:
    return MeResponse(
        user=UserPublic.model_validate(caller.user) if caller.user else None,
        api_client=(
            ApiClientPublic.model_validate(caller.api_client) if caller.api_client else None
        ),
        organization=OrganizationPublic.model_validate(caller.organization),
        scopes=sorted(caller.scopes),
    )


@router.get(
    "/organizations",
    response_model=Page[OrganizationPublic],
    responses=problem_responses(401, 403, 422),
    summary="List organizations (platform admins), e.g. those pending verification",
)
def list_organizations(
    _admin: PlatformAdmin,
    session: SessionDep,
    page: PageParamsDep,
    verification: Verification | None = None,
    kind: OrganizationKind | None = None,
) -> Page[OrganizationPublic]:
    found = accounts.list_organizations(
        session=session, params=page, verification=verification, kind=kind
    )
    return page_of(found, page, OrganizationPublic.model_validate)


@router.get(
    "/organizations/{organization_id}",
    response_model=OrganizationPublic,
    responses=problem_responses(401, 404, 422),
    summary="An organization: verified ones are public to signed-in callers",
)
def get_organization(
    organization_id: ObjectId, caller: CurrentCaller, session: SessionDep
) -> OrganizationPublic:
    organization = accounts.get_visible_organization(
        session=session,
        organization_id=organization_id,
        caller=caller,
    )
    return OrganizationPublic.model_validate(organization)


@router.post(
    "/organizations/{organization_id}/verify",
    response_model=OrganizationPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Verify a pending organization (platform admins)",
)
def verify_organization(
    organization_id: ObjectId, _admin: PlatformAdmin, session: SessionDep
) -> OrganizationPublic:
    organization = accounts.get_organization(session=session, organization_id=organization_id)
    decided = accounts.decide_verification(session=session, organization=organization, approve=True)
    return OrganizationPublic.model_validate(decided)


@router.post(
    "/organizations/{organization_id}/reject",
    response_model=OrganizationPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Reject a pending organization, with the reason (platform admins)",
    openapi_extra=response_example(200, "rejected_organization"),
)
def reject_organization(
    organization_id: ObjectId,
    body: OrganizationDecision,
    _admin: PlatformAdmin,
    session: SessionDep,
) -> OrganizationPublic:
    organization = accounts.get_organization(session=session, organization_id=organization_id)
    decided = accounts.decide_verification(
        session=session, organization=organization, approve=False, reason=body.reason
    )
    return OrganizationPublic.model_validate(decided)


@router.post(
    "/api-clients",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiClientCreated,
    responses=problem_responses(401, 403, 422),
    summary="Create an API client for machine access; the secret is shown only here",
    openapi_extra=response_example(201, "api_client"),
)
def create_api_client(
    body: ApiClientCreate, admin: VerifiedOrganizationAdmin, session: SessionDep
) -> ApiClientCreated:
    client, secret = accounts.create_api_client(session=session, creator=admin, name=body.name)
    return ApiClientCreated(
        **ApiClientPublic.model_validate(client).model_dump(), client_secret=secret
    )


@router.get(
    "/api-clients",
    response_model=Page[ApiClientPublic],
    responses=problem_responses(401, 403, 422),
)
def list_api_clients(
    admin: OrganizationAdmin, session: SessionDep, page: PageParamsDep
) -> Page[ApiClientPublic]:
    found = accounts.list_api_clients(
        session=session, organization_id=admin.organization_id, params=page
    )
    return page_of(found, page, ApiClientPublic.model_validate)


@router.delete(
    "/api-clients/{api_client_id}",
    response_model=ApiClientPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Revoke an API client; its tokens stop working at once",
)
def revoke_api_client(
    api_client_id: ObjectId, admin: OrganizationAdmin, session: SessionDep
) -> ApiClientPublic:
    client = accounts.get_api_client(
        session=session, organization_id=admin.organization_id, api_client_id=api_client_id
    )
    return ApiClientPublic.model_validate(
        accounts.revoke_api_client(session=session, client=client)
    )


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=problem_responses(401, 403, 409, 422, 429),
    summary="Add a user to your organization (organization admins)",
    description="Rate-limited per organization, as the answer tells whether an e-mail has an "
    "account.",
    openapi_extra=response_example(201, "member"),
)
def add_member(
    body: MemberCreate,
    admin: MembersAdmin,
    session: SessionDep,
    limiter: Annotated[AttemptLimiter, Depends(attempt_limiter)],
) -> UserPublic:
    limiter.check_member_added(organization_id=admin.organization_id)
    return UserPublic.model_validate(accounts.add_member(session=session, admin=admin, data=body))


@router.get(
    "/users",
    response_model=Page[UserPublic],
    responses=problem_responses(401, 403, 422),
    summary="The users of your organization (organization admins)",
)
def list_members(
    admin: OrganizationAdmin, session: SessionDep, page: PageParamsDep
) -> Page[UserPublic]:
    found = accounts.list_members(
        session=session, organization_id=admin.organization_id, params=page
    )
    return page_of(found, page, UserPublic.model_validate)


@router.delete(
    "/users/{user_id}",
    response_model=UserPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Deactivate a user of your organization; their tokens stop working at once",
)
def deactivate_member(
    user_id: ObjectId, admin: OrganizationAdmin, session: SessionDep
) -> UserPublic:
    return UserPublic.model_validate(
        accounts.deactivate_member(session=session, admin=admin, user_id=user_id)
    )
