"""The lawful sequence of an open license, one example per step, for the API docs of the
operations that make it: the office announces the declaration (publish), a licensee accepts
(written notice; money is due up front, so the license waits for it), the licensee pays, the
licensor confirms the payment (the license is in force from that day), and a party records the
license with the office. The examples are real responses of one run of that sequence, and a test
validates each against its model."""

from typing import Any

from marketplace.api.examples import LICENSE, NAME_KEY

PUBLISH_REQUEST = {"announcement_number": "KF2026000123", "announcement_date": "2026-06-12"}
RECORD_PAYMENT_REQUEST = {"amount": "50000.00", "paid_on": "2026-07-01", "reference": "TT-1"}
RECORDATION_REQUEST = {"record_number": "2026330000123", "record_date": "2026-07-20"}

PUBLISH_RESPONSE: dict[str, Any] = {
    "title": "Lithium battery thermal management",
    "description": None,
    "id": 1,
    "owner_id": 1,
    "owner": {
        "id": 1,
        "name": "Zhejiang Institute of Energy Storage",
        "kind": "university",
        "country": "CN",
        "region": "Zhejiang",
    },
    "status": "published",
    "announcement_number": "KF2026000123",
    "announcement_date": "2026-06-12",
    "announcement_source": "office",
    "published_at": "2026-06-15T09:30:00Z",
    "withdrawal_requested_at": None,
    "withdrawal_reason": None,
    "withdrawal_consents": [],
    "withdrawal_announcement_number": None,
    "withdrawal_announcement_date": None,
    "withdrawn_at": None,
    "lapsed_at": None,
    "lapse_reason": None,
    "annual_fee_reduction_percent": "15.00",
    "fee_reductions": [
        {
            "patent_id": 1,
            "application_number": "202011000005.6",
            "percent": "15.00",
            "basis": "open_license",
            "reason": "open-license reduction of 15.00% (the patent has no reduction of its own)",
        }
    ],
    "warnings": [],
    "patents": [
        {
            "id": 1,
            "application_number": "202011000005.6",
            "kind": "invention",
            "title": "Lithium battery thermal management",
            "abstract": "A method for improving lithium battery thermal management.",
            "ipc_codes": ["H01M 10/0525", "G06F 16/33"],
            "filing_date": "2020-03-01",
            "grant_date": "2022-05-10",
            "legal_status": "granted",
            "term_end_date": "2040-02-29",
            "fee_status": "paid",
            "in_force": True,
        }
    ],
    "offers": [
        {
            "royalty_type": "hybrid",
            "upfront_fee": "50000.00",
            "royalty_rate": "3.5000",
            "per_unit_fee": None,
            "minimum_annual": "20000.00",
            "currency": "CNY",
            "term_years": 3,
            "field_of_use": None,
            "territory": "mainland China",
            "id": 1,
            "listing_id": 1,
            "created_at": "2026-06-15T09:30:00Z",
        }
    ],
    "created_at": "2026-06-15T09:30:00Z",
    "updated_at": "2026-06-15T09:30:00Z",
    "suspension": None,
}

# The generic license example with this run's parties, terms and dates: a license accepted but
# not yet in force, neither terminated, recorded, reviewed for export nor disputed.
ACCEPT_RESPONSE: dict[str, Any] = {
    **LICENSE,
    "id": 1,
    "license_number": "LIC202600000001",
    "status": "pending_payment",
    "offer_id": 1,
    "listing_id": 1,
    "licensor_id": 1,
    "licensee_id": 2,
    "terms": {
        "schema_version": 2,
        "declaration": {
            "listing_id": 1,
            "announcement_number": "KF2026000123",
            "announcement_date": "2026-06-12",
            "title": "Lithium battery thermal management",
        },
        "licensor": {
            "id": 1,
            "name": "Zhejiang Institute of Energy Storage",
            "country": "CN",
            "credit_code": "91330100UX0AEH7Y1J",
        },
        "licensee": {
            "id": 2,
            "name": "Hangzhou Battery Works",
            "country": "CN",
            "credit_code": "91330100GC5MFQ39YM",
        },
        "patents": [
            {
                "application_number": "202011000005.6",
                "title": "Lithium battery thermal management",
                "kind": "invention",
                "term_end_date": "2040-02-29",
            }
        ],
        "offer": {
            "offer_id": 1,
            "royalty_type": "hybrid",
            "upfront_fee": "50000.00",
            "royalty_rate_percent": "3.5000",
            "per_unit_fee": None,
            "minimum_annual": "20000.00",
            "currency": "CNY",
            "term_years": 3,
            "field_of_use": None,
            "territory": "mainland China",
        },
        "exclusivity": "non_exclusive",
        "sublicensing_allowed": False,
        "effective_date": "2026-06-15",
        "expires_on": "2029-06-14",
        "payment": None,
    },
    "terms_sha256": "81409b4be28cddff702fa510a06a74e3b5463bc5387d3c1a2013c9b98c1e80f6",
    "effective_date": "2026-06-15",
    "expires_on": "2029-06-14",
    "recordation_deadline": "2026-09-15",
    "created_at": "2026-06-15T09:30:00Z",
    "payment_due_date": "2026-07-15",
}

RECORD_PAYMENT_RESPONSE: dict[str, Any] = {
    "id": 1,
    "obligation_id": 1,
    "licensor_id": 1,
    "licensee_id": 2,
    "amount": "50000.00",
    "currency": "CNY",
    "paid_on": "2026-07-01",
    "reference": "TT-1",
    "status": "recorded",
    "recorded_at": "2026-07-01T09:30:00Z",
    "decided_at": None,
    "rejection_reason": None,
}

CONFIRM_PAYMENT_RESPONSE: dict[str, Any] = {
    **RECORD_PAYMENT_RESPONSE,
    "status": "confirmed",
    "decided_at": "2026-07-01T09:30:00Z",
}

# The license in force from the day its payment was confirmed, then recorded.
RECORDATION_RESPONSE: dict[str, Any] = {
    **ACCEPT_RESPONSE,
    "status": "active",
    "terms": {
        **ACCEPT_RESPONSE["terms"],
        "effective_date": "2026-07-01",
        "expires_on": "2029-06-30",
        "payment": {
            "payment_id": 1,
            "obligation_id": 1,
            "paid_on": "2026-07-01",
            "confirmed_on": "2026-07-01",
            "amount": "50000.00",
            "currency": "CNY",
        },
    },
    "terms_sha256": "6b5bc49178a4946c9e511a732df2e2823cf82ce8a594727dd0d358c034c3be48",
    "effective_date": "2026-07-01",
    "expires_on": "2029-06-30",
    "recordation_deadline": "2026-10-01",
    "record_number": "2026330000123",
    "record_date": "2026-07-20",
    "recorded_by_org_id": 2,
    "recorded_at": "2026-07-20T09:30:00Z",
}


# By name, for the finished document (``marketplace.openapi``), which keeps their nulls.
RESPONSES: dict[str, dict[str, Any]] = {
    "lawful_sequence.publish": PUBLISH_RESPONSE,
    "lawful_sequence.accept": ACCEPT_RESPONSE,
    "lawful_sequence.record_payment": RECORD_PAYMENT_RESPONSE,
    "lawful_sequence.confirm_payment": CONFIRM_PAYMENT_RESPONSE,
    "lawful_sequence.recordation": RECORDATION_RESPONSE,
}


def openapi(
    *, step: str, response: dict[str, Any], status: int, request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``openapi_extra`` of one operation: its step of the sequence as named examples of its
    request body (when it has one) and of its success response."""
    # FastAPI drops nulls from the examples it writes: the response is named here and filled
    # into the finished document.
    [name] = [name for name, value in RESPONSES.items() if value is response]
    example = {"lawful_sequence": {"summary": step, NAME_KEY: name}}
    extra: dict[str, Any] = {
        "responses": {str(status): {"content": {"application/json": {"examples": example}}}}
    }
    if request is not None:
        extra["requestBody"] = {
            "content": {
                "application/json": {
                    "examples": {"lawful_sequence": {"summary": step, "value": request}}
                }
            }
        }
    return extra
