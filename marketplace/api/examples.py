"""Response examples for the OpenAPI document: what a call answers, for the operations that take
a request body. Each is checked against its response model in the tests, so that it stays true.

FastAPI drops every null from the document it generates, examples included, and a response
shows its nullable fields as null; so a route names its example (``response_example``) and
``marketplace.openapi`` puts the value, nulls and all, into the finished document."""

from typing import Any

CREATED_AT = "2026-12-07T09:30:00Z"

ORGANIZATION = {
    "id": 3,
    "name": "Zhejiang University",
    "kind": "university",
    "country": "CN",
    "region": "Zhejiang",
    "credit_code": "91350100M000100Y43",
    "verification": "pending",
    "verified_at": None,
    "created_at": CREATED_AT,
}

USER = {
    "id": 5,
    "email": "tech-transfer@zju.example.cn",
    "full_name": "Li Wei",
    "organization_id": 3,
    "role": "admin",
    "is_active": True,
    "created_at": CREATED_AT,
}

SIGNUP = {"organization": ORGANIZATION, "user": USER}

TOKEN = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1In0.c2lnbmF0dXJl",
    "token_type": "bearer",
    "expires_in": 900,
    "refresh_token": "rt_7Jc2yQ9x...",
    "scope": "licenses licenses:accept listings patents",
}

API_CLIENT = {
    "id": 2,
    "client_id": "cl_3kd8s0",
    "name": "loan-origination",
    "organization_id": 4,
    "created_at": CREATED_AT,
    "last_used_at": None,
    "revoked_at": None,
    "client_secret": "cs_Yx2...shown-once",
}

MEMBER = {**USER, "id": 6, "email": "wang.fang@zju.example.cn", "full_name": "Wang Fang"} | {
    "role": "member"
}

PATENT = {
    "id": 9,
    "owner_id": 3,
    "application_number": "202110123456.7",
    "kind": "invention",
    "title": "Thermal management of lithium battery packs",
    "abstract": "Cooling plates between cells keep a pack within 5 K of its set point.",
    "filing_date": "2021-03-15",
    "grant_date": "2023-06-20",
    "legal_status": "granted",
    "fee_paid_until": "2027-03-14",
    "publication_number": None,
    "department": "College of Energy Engineering",
    "publicly_funded": True,
    "evaluation_report_ref": None,
    "evaluation_report_conclusion": None,
    "fee_reduction_percent": None,
    "ipc_codes": ["H01M 10/613", "H01M 10/6556"],
    "main_ipc": "H01M 10/613",
    "inventors": ["Zhang San", "Li Si"],
    "co_owners": [],
    "term_end_date": "2041-03-15",
    "remaining_term_days": 5212,
    "fee_status": "paid",
    "next_fee_due_date": "2027-03-15",
    "in_force": True,
    "open_license_listing_id": None,
    "active_pledge_id": None,
    "encumbrances": [],
    "created_at": CREATED_AT,
    "updated_at": CREATED_AT,
}

ENCUMBRANCE = {
    "id": 1,
    "patent_id": 9,
    "kind": "non_exclusive_license",
    "counterparty": "Hangzhou Battery Co., Ltd.",
    "starts_on": "2025-01-01",
    "ends_on": "2027-12-31",
    "reference": "HZB-2024-118",
    "in_force": True,
    "released_at": None,
    "created_at": CREATED_AT,
}

OFFER = {
    "id": 31,
    "listing_id": 12,
    "royalty_type": "running",
    "upfront_fee": None,
    "royalty_rate": "3.5000",
    "per_unit_fee": None,
    "minimum_annual": None,
    "currency": "CNY",
    "term_years": 5,
    "field_of_use": None,
    "territory": "Mainland China",
    "created_at": CREATED_AT,
}

LISTING = {
    "id": 12,
    "owner_id": 3,
    "owner": {
        "id": 3,
        "name": "Zhejiang University",
        "kind": "university",
        "country": "CN",
        "region": "Zhejiang",
    },
    "title": "Lithium battery thermal management",
    "description": "Cooling-plate design for EV battery packs; pilot line data available.",
    "status": "draft",
    "announcement_number": None,
    "announcement_date": None,
    "announcement_source": None,
    "published_at": None,
    "withdrawal_requested_at": None,
    "withdrawal_reason": None,
    "withdrawal_consents": [],
    "withdrawal_announcement_number": None,
    "withdrawal_announcement_date": None,
    "withdrawn_at": None,
    "lapsed_at": None,
    "lapse_reason": None,
    "annual_fee_reduction_percent": None,
    "fee_reductions": [],
    "warnings": [],
    "patents": [
        {
            "id": 9,
            "application_number": "202110123456.7",
            "kind": "invention",
            "title": "Thermal management of lithium battery packs",
            "abstract": "Cooling plates between cells keep a pack within 5 K of its set point.",
            "ipc_codes": ["H01M 10/613", "H01M 10/6556"],
            "filing_date": "2021-03-15",
            "grant_date": "2023-06-20",
            "legal_status": "granted",
            "term_end_date": "2041-03-15",
            "fee_status": "paid",
            "in_force": True,
        }
    ],
    "offers": [],
    "created_at": CREATED_AT,
    "updated_at": CREATED_AT,
}

PLEDGE = {
    "visibility": "full",
    "id": 4,
    "status": "applied",
    "pledgor_id": 3,
    "pledgor_name": "Zhejiang University",
    "pledgee_id": 4,
    "pledgee_name": "Bank of Hangzhou",
    "patents": [
        {
            "id": 9,
            "application_number": "202110123456.7",
            "title": "Thermal management of lithium battery packs",
            "main_ipc": "H01M 10/613",
            "grant_date": "2023-06-20",
        }
    ],
    "registration_number": None,
    "registered_date": None,
    "registration_number_platform_assigned": False,
    "cancelled_at": None,
    "debtor_name": "Zhejiang University",
    "secured_amount": "5000000.00",
    "currency": "CNY",
    "debt_start_date": "2026-07-01",
    "debt_end_date": "2027-06-30",
    "guarantee_scope": None,
    "valuation": None,
    "pledgor_confirmed_at": None,
    "co_owner_consents": [],
    "consents_to_open_licenses": False,
    "pledgee_proceeds_despite_invalidation": False,
    "pledgor_proceeds_despite_invalidation": False,
    "refusal_reasons": None,
    "cancellation_reason": None,
    "history": [],
    "consents": [],
    "created_at": CREATED_AT,
}

PLEDGE_CONSENT = {"id": 2, "pledge_id": 4, "listing_id": 7, "created_at": CREATED_AT}

WEBHOOK = {
    "id": 3,
    "organization_id": 4,
    "url": "https://bank.example.com/hooks/marketplace",
    "description": "Loan monitoring",
    "event_types": ["pledge.cancelled", "pledge.registered"],
    "is_active": True,
    "created_by_user_id": 8,
    "created_at": CREATED_AT,
    "updated_at": CREATED_AT,
}

WEBHOOK_CREATED = {**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


RESPONSES: dict[str, Any] = {
    "signup": SIGNUP,
    "token": TOKEN,
    "api_client": API_CLIENT,
    "member": MEMBER,
    "patent": PATENT,
    "encumbrance": ENCUMBRANCE,
    "listing": LISTING,
    "offer": OFFER,
    "pledge": PLEDGE,
    "pledge_consent": PLEDGE_CONSENT,
    "webhook": WEBHOOK,
    "webhook_created": WEBHOOK_CREATED,
}
# The key of an example whose value marketplace.openapi fills in from RESPONSES.
NAME_KEY = "x-example-name"


def response_example(status: int, name: str, summary: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` that shows ``RESPONSES[name]`` as the example of the ``status``
    response."""
    if name not in RESPONSES:
        raise KeyError(name)
    example: dict[str, Any] = {NAME_KEY: name}
    if summary is not None:
        example["summary"] = summary
    return {
        "responses": {
            str(status): {"content": {"application/json": {"examples": {"example": example}}}}
        }
    }
