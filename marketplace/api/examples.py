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

INVALIDATION_REQUEST = {
    **ENCUMBRANCE,
    "id": 2,
    "kind": "invalidation_request",
    "counterparty": "Rival Battery Co.",
    "starts_on": "2026-05-20",
    "ends_on": None,
    "reference": "4W112233",
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


REJECTED_ORGANIZATION = ORGANIZATION | {
    "verification": "rejected",
    "rejection_reason": "The credit code does not match the business license submitted.",
}

CONFIRMED_PLEDGE = PLEDGE | {"pledgor_confirmed_at": "2026-12-07T10:02:00Z"}
REGISTERED_PLEDGE = CONFIRMED_PLEDGE | {
    "status": "registered",
    "registration_number": "Y2026980012345",
    "registered_date": "2026-12-07",
}
CHANGED_PLEDGE = REGISTERED_PLEDGE | {
    "status": "changed",
    "secured_amount": "6000000.00",
    "debt_end_date": "2028-06-30",
}
REFUSED_PLEDGE = CONFIRMED_PLEDGE | {
    "status": "refused",
    "refusal_reasons": [{"code": "annual_fee_in_arrears"}],
}
CANCELLED_PLEDGE = REGISTERED_PLEDGE | {
    "status": "cancelled",
    "cancelled_at": "2027-06-30T08:00:00Z",
    "cancellation_reason": "debt_repaid",
}

PUBLISHED_LISTING = LISTING | {
    "status": "published",
    "announcement_number": "KF2026000123",
    "announcement_date": "2026-06-12",
    "announcement_source": "office",
    "published_at": "2026-06-12T08:00:00Z",
    "offers": [OFFER],
}
WITHDRAWAL_REQUESTED_LISTING = PUBLISHED_LISTING | {
    "withdrawal_requested_at": "2026-06-20T08:00:00Z",
    "withdrawal_reason": "The patent is to be licensed exclusively to a strategic partner.",
}
WITHDRAWN_LISTING = WITHDRAWAL_REQUESTED_LISTING | {
    "status": "withdrawn",
    "withdrawal_announcement_number": "KFCX2026000045",
    "withdrawal_announcement_date": "2026-07-01",
    "withdrawn_at": "2026-07-01T08:00:00Z",
}

LICENSE = {
    "id": 21,
    "license_number": "OL-2026-000021",
    "status": "active",
    "offer_id": 31,
    "listing_id": 12,
    "licensor_id": 3,
    "licensee_id": 7,
    "exclusivity": "non_exclusive",
    "sublicensing_allowed": False,
    "terms": {"royalty_type": "running", "royalty_rate": "3.5000", "term_years": 5},
    "terms_sha256": "9f2c4e1b7a0d3c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
    "effective_date": "2026-07-02",
    "expires_on": "2031-07-01",
    "recordation_deadline": "2026-10-02",
    "created_at": "2026-07-02T08:00:00Z",
    "terminated_at": None,
    "termination_reason": None,
    "payment_due_date": None,
    "record_number": None,
    "record_date": None,
    "recorded_by_org_id": None,
    "recorded_at": None,
    "export_controls": None,
    "export_decided_at": None,
    "export_decision_note": None,
    "pledge_ids": [],
    "disputed": False,
    "open_dispute_id": None,
}
TERMINATED_LICENSE = LICENSE | {
    "status": "terminated",
    "terminated_at": "2026-12-07T09:30:00Z",
    "termination_reason": "The product line using the patent was discontinued.",
}
EXPORT_APPROVED_LICENSE = LICENSE | {
    "export_controls": ["H01M"],
    "export_decided_at": "2026-07-05T08:00:00Z",
    "export_decision_note": "The technology is not on the restricted export catalogue.",
}
EXPORT_REFUSED_LICENSE = EXPORT_APPROVED_LICENSE | {
    "status": "export_refused",
    "export_decision_note": "The technology is on the restricted export catalogue.",
}

EXPORT_CONTROL = {
    "id": 1,
    "ipc_prefix": "H01M",
    "description": "Battery technology: export review for foreign licensees.",
    "created_at": CREATED_AT,
}

DISPUTE = {
    "id": 2,
    "license_id": 21,
    "opened_by_org_id": 7,
    "opened_by_user_id": 11,
    "reason": "royalty_report",
    "statement": "The licensor counts returns as sales in the second quarter.",
    "status": "open",
    "mediator_user_id": None,
    "resolution_outcome": None,
    "resolution_text": None,
    "closed_by_user_id": None,
    "opened_at": CREATED_AT,
    "mediation_started_at": None,
    "closed_at": None,
    "updated_at": CREATED_AT,
}
RESOLVED_DISPUTE = DISPUTE | {
    "status": "resolved",
    "mediator_user_id": 1,
    "resolution_outcome": "settled",
    "resolution_text": "Returns are deducted; the licensee files a corrected report.",
    "closed_by_user_id": 1,
    "mediation_started_at": "2026-12-08T09:00:00Z",
    "closed_at": "2026-12-20T09:00:00Z",
    "updated_at": "2026-12-20T09:00:00Z",
}
DISPUTE_STATEMENT = {
    "id": 5,
    "dispute_id": 2,
    "author_org_id": 3,
    "author_user_id": 5,
    "author_role": "licensor",
    "text": "Returns were refunded in the next quarter and are reported there.",
    "created_at": CREATED_AT,
}

NEED = {
    "id": 1,
    "organization_id": 7,
    "title": "Keep battery packs cool in summer",
    "description": "Our e-bike packs overheat above 40 °C; we look for a cooling design.",
    "ipc_codes": ["H01M 10"],
    "budget_max": "500000.00",
    "currency": "CNY",
    "region": "Zhejiang",
    "expected_annual_sales": "2000000.00",
    "expected_annual_units": None,
    "status": "open",
    "created_at": CREATED_AT,
    "closed_at": None,
}

IMPORT_JOB = {
    "id": 4,
    "organization_id": 3,
    "submitted_by_id": 5,
    "format": "csv",
    "filename": "patents.csv",
    "size_bytes": 98304,
    "status": "queued",
    "rows_done": 0,
    "total_rows": 0,
    "created_count": 0,
    "updated_count": 0,
    "unchanged_count": 0,
    "failed_count": 0,
    "error": None,
    "created_at": CREATED_AT,
    "started_at": None,
    "heartbeat_at": None,
    "finished_at": None,
    "errors": [],
}

ROYALTY_REPORT = {
    "id": 8,
    "license_id": 21,
    "licensor_id": 3,
    "licensee_id": 7,
    "period_start": "2026-07-02",
    "period_end": "2026-09-30",
    "license_year": 1,
    "net_sales": "1200000.00",
    "units": 4000,
    "profit": None,
    "currency": "CNY",
    "royalty_due": "42000.00",
    "corrects": None,
    "superseded_by": None,
    "obligation_id": 15,
    "note": None,
    "filed_at": "2026-10-08T08:00:00Z",
}

REJECTED_PAYMENT = {
    "id": 6,
    "obligation_id": 15,
    "licensor_id": 3,
    "licensee_id": 7,
    "amount": "42000.00",
    "currency": "CNY",
    "paid_on": "2026-10-20",
    "reference": "ICBC-20261020-0042",
    "status": "rejected",
    "recorded_at": "2026-10-20T08:00:00Z",
    "decided_at": "2026-10-22T08:00:00Z",
    "rejection_reason": "No such transfer arrived on our account.",
}

BULK_DECLARATION = {
    "published": 1,
    "drafted": 0,
    "refused": 1,
    "not_found": 0,
    "results": [
        {"patent_id": 8, "status": "published", "listing_id": 31, "reasons": [], "warnings": []},
        {
            "patent_id": 9,
            "status": "refused",
            "listing_id": None,
            "reasons": [
                {
                    "code": "announcement_number_in_use",
                    "detail": "Announcement number KF2026000124 is already recorded.",
                }
            ],
            "warnings": [],
        },
    ],
}

BULK_PUBLICATION = {
    "published": 2,
    "refused": 0,
    "not_found": 0,
    "results": [
        {"listing_id": 31, "status": "published", "reasons": [], "warnings": []},
        {"listing_id": 32, "status": "published", "reasons": [], "warnings": []},
    ],
}

CERTIFICATE_VERDICT = {
    "valid": True,
    "reason": None,
    "kid": "2026-07",
    "claims": {"license_number": "OL-2026-000021", "status": "active"},
    "license_status_now": "active",
    "status_changed": False,
}

ENCUMBRANCE_CHECK = {
    "checked_on": "2026-12-07",
    "results": [
        {
            "application_number": "202110123456.7",
            "known": True,
            "error": None,
            "owner_id": 3,
            "kind": "invention",
            "legal_status": "granted",
            "in_force": True,
            "fee_status": "paid",
            "fee_paid_until": "2027-03-14",
            "next_fee_due_date": "2027-03-15",
            "term_end_date": "2041-03-15",
            "remaining_term_days": 5212,
            "main_ipc": "H01M 10/613",
            "active_pledge": None,
            "open_license": None,
            "active_license_count": 0,
            "exclusive_license": False,
            "pledgeable": True,
            "reasons": [],
        }
    ],
}

PROFILE = {
    "organization_id": 7,
    "industry": "electric vehicle batteries",
    "ipc_interests": ["H01M 10", "B60L"],
    "region": "Zhejiang",
    "budget_max": "500000.00",
    "expected_annual_sales": "2000000.00",
    "currency": "CNY",
    "updated_at": CREATED_AT,
}

SAVED_SEARCH = {
    "id": 3,
    "name": "Battery cooling",
    "query": {"q": "battery cooling", "ipc": "H01M", "region": "Zhejiang"},
    "terms": ["battery", "cool"],
    "need_id": None,
    "required_terms": 2,
    "active": True,
    "created_by_id": 11,
    "created_at": CREATED_AT,
    "last_alerted_at": None,
}

RESPONSES: dict[str, Any] = {
    "signup": SIGNUP,
    "token": TOKEN,
    "api_client": API_CLIENT,
    "member": MEMBER,
    "patent": PATENT,
    "encumbrance": ENCUMBRANCE,
    "invalidation_request": INVALIDATION_REQUEST,
    "listing": LISTING,
    "offer": OFFER,
    "pledge": PLEDGE,
    "pledge_consent": PLEDGE_CONSENT,
    "webhook": WEBHOOK,
    "webhook_created": WEBHOOK_CREATED,
    "rejected_organization": REJECTED_ORGANIZATION,
    "confirmed_pledge": CONFIRMED_PLEDGE,
    "registered_pledge": REGISTERED_PLEDGE,
    "changed_pledge": CHANGED_PLEDGE,
    "refused_pledge": REFUSED_PLEDGE,
    "cancelled_pledge": CANCELLED_PLEDGE,
    "withdrawal_requested_listing": WITHDRAWAL_REQUESTED_LISTING,
    "withdrawn_listing": WITHDRAWN_LISTING,
    "terminated_license": TERMINATED_LICENSE,
    "export_approved_license": EXPORT_APPROVED_LICENSE,
    "export_refused_license": EXPORT_REFUSED_LICENSE,
    "export_control": EXPORT_CONTROL,
    "dispute": DISPUTE,
    "resolved_dispute": RESOLVED_DISPUTE,
    "dispute_statement": DISPUTE_STATEMENT,
    "need": NEED,
    "import_job": IMPORT_JOB,
    "royalty_report": ROYALTY_REPORT,
    "rejected_payment": REJECTED_PAYMENT,
    "bulk_declaration": BULK_DECLARATION,
    "bulk_publication": BULK_PUBLICATION,
    "certificate_verdict": CERTIFICATE_VERDICT,
    "encumbrance_check": ENCUMBRANCE_CHECK,
    "profile": PROFILE,
    "saved_search": SAVED_SEARCH,
    "paused_saved_search": SAVED_SEARCH | {"active": False},
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
