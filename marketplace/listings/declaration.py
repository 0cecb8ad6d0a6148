"""The content of an open-license declaration, prepared for the patentee to file with the office.

The office, not the platform, announces a declaration (Patent Law art. 50; Implementing
Regulations art. 85): what we can do is lay out what the written declaration states (the patents,
the royalty payment method and standard, the term), what the office will ask about (co-owners'
consent, evaluation reports) and the annual-fee reduction that will apply once it is announced."""

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel
from pydantic import Field as PydanticField

from marketplace import clock
from marketplace.listings.models import (
    AnnouncementSource,
    FeeReduction,
    Listing,
    ListingStatus,
    ListingWarning,
    Offer,
    OrganizationSummary,
    PublicationBlocker,
    RoyaltyType,
)
from marketplace.listings.publication import (
    NEEDS_EVALUATION_REPORT,
    fee_reductions,
    guidance_warnings,
)
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import CoOwner, EvaluationConclusion, Patent

PAYMENT_METHODS = {
    RoyaltyType.lump_sum: "lump sum",
    RoyaltyType.running: "running royalty (percent of net sales)",
    RoyaltyType.per_unit: "fee per unit",
    RoyaltyType.hybrid: "entry fee plus running royalty (percent of net sales)",
}


class EvaluationReport(BaseModel):
    reference: str
    conclusion: EvaluationConclusion | None


class DeclaredPatent(BaseModel):
    patent_id: int
    application_number: str
    publication_number: str | None
    title: str
    kind: PatentKind
    filing_date: date
    grant_date: date | None
    term_end_date: date
    co_owners: list[CoOwner] = PydanticField(
        description="Each with whether it consents to open licensing."
    )
    evaluation_report_required: bool = PydanticField(
        description="Utility models and designs: a report supporting validity is required."
    )
    evaluation_report: EvaluationReport | None


class DeclaredOffer(BaseModel):
    offer_id: int
    payment_method: RoyaltyType
    payment_method_text: str = PydanticField(examples=["entry fee plus running royalty"])
    payment_standard: str = PydanticField(
        examples=["entry fee CNY 50,000.00; 3.5000% of net sales; minimum CNY 20,000.00 a year"]
    )
    upfront_fee: Decimal | None
    royalty_rate: Decimal | None
    per_unit_fee: Decimal | None
    minimum_annual: Decimal | None
    currency: str
    term_years: int
    field_of_use: str | None
    territory: str


class CoOwnerConsentSummary(BaseModel):
    all_consented: bool
    missing: list[str] = PydanticField(
        description="Co-owners (by application number and name) without recorded consent."
    )


class Announcement(BaseModel):
    number: str
    date: date
    source: AnnouncementSource


class Declaration(BaseModel):
    """What the written declaration to the office states, and what stands in its way."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "listing_id": 7,
                    "status": "draft",
                    "patentee": {
                        "id": 3,
                        "name": "Zhejiang Institute of Technology",
                        "kind": "university",
                        "country": "CN",
                        "region": "Zhejiang",
                    },
                    "title": "Lithium battery thermal management",
                    "patents": [
                        {
                            "patent_id": 11,
                            "application_number": "202020123456.X",
                            "publication_number": "CN212345678U",
                            "title": "Lithium battery thermal management device",
                            "kind": "utility_model",
                            "filing_date": "2020-03-01",
                            "grant_date": "2020-09-18",
                            "term_end_date": "2030-02-28",
                            "co_owners": [
                                {"name": "Provincial Research Fund", "open_license_consent": True}
                            ],
                            "evaluation_report_required": True,
                            "evaluation_report": {
                                "reference": "PJ2020123456",
                                "conclusion": "supports_validity",
                            },
                        }
                    ],
                    "offers": [
                        {
                            "offer_id": 21,
                            "payment_method": "hybrid",
                            "payment_method_text": PAYMENT_METHODS[RoyaltyType.hybrid],
                            "payment_standard": "entry fee CNY 50,000.00; 3.5000% of net sales; "
                            "minimum CNY 20,000.00 a year",
                            "upfront_fee": "50000.00",
                            "royalty_rate": "3.5000",
                            "per_unit_fee": None,
                            "minimum_annual": "20000.00",
                            "currency": "CNY",
                            "term_years": 3,
                            "field_of_use": None,
                            "territory": "mainland China",
                        }
                    ],
                    "co_owner_consent": {"all_consented": True, "missing": []},
                    "fee_reductions": [
                        {
                            "patent_id": 11,
                            "application_number": "202020123456.X",
                            "percent": "15.00",
                            "basis": "open_license",
                            "reason": "open-license reduction of 15.00% (the patent has no "
                            "reduction of its own)",
                        }
                    ],
                    "announcement": None,
                    "blockers": [],
                    "warnings": [],
                    "prepared_at": "2026-06-15T08:00:00Z",
                }
            ]
        }
    }

    listing_id: int
    status: ListingStatus
    patentee: OrganizationSummary
    title: str
    patents: list[DeclaredPatent]
    offers: list[DeclaredOffer] = PydanticField(
        description="Each a royalty payment method and standard with its license term."
    )
    co_owner_consent: CoOwnerConsentSummary
    fee_reductions: list[FeeReduction] = PydanticField(
        description="The annual-fee reduction each patent would have once announced (as "
        "recorded, once it is)."
    )
    announcement: Announcement | None = PydanticField(
        description="The office's announcement, once recorded."
    )
    blockers: list[PublicationBlocker] = PydanticField(
        description="Draft only: why the declaration could not be made now (as the precheck)."
    )
    warnings: list[ListingWarning]
    prepared_at: datetime


def _money(currency: str, amount: Decimal) -> str:
    return f"{currency} {amount:,.2f}"


def payment_standard(offer: Offer) -> str:
    parts: list[str] = []
    if offer.upfront_fee is not None:
        label = "lump sum" if offer.royalty_type == RoyaltyType.lump_sum else "entry fee"
        parts.append(f"{label} {_money(offer.currency, offer.upfront_fee)}")
    if offer.royalty_rate is not None:
        parts.append(f"{offer.royalty_rate}% of net sales")
    if offer.per_unit_fee is not None:
        parts.append(f"{_money(offer.currency, offer.per_unit_fee)} per unit")
    if offer.minimum_annual is not None:
        parts.append(f"minimum {_money(offer.currency, offer.minimum_annual)} a year")
    return "; ".join(parts)


def _declared_patent(patent: Patent) -> DeclaredPatent:
    assert patent.id is not None
    kind = PatentKind(patent.kind)
    return DeclaredPatent(
        patent_id=patent.id,
        application_number=patent.application_number,
        publication_number=patent.publication_number,
        title=patent.title,
        kind=kind,
        filing_date=patent.filing_date,
        grant_date=patent.grant_date,
        term_end_date=patents.term_end_date(kind, patent.filing_date),
        co_owners=[CoOwner.model_validate(item) for item in patent.co_owners],
        evaluation_report_required=kind in NEEDS_EVALUATION_REPORT,
        evaluation_report=(
            EvaluationReport(
                reference=patent.evaluation_report_ref,
                conclusion=patent.evaluation_report_conclusion,
            )
            if patent.evaluation_report_ref
            else None
        ),
    )


def _declared_offer(offer: Offer) -> DeclaredOffer:
    assert offer.id is not None
    royalty_type = RoyaltyType(offer.royalty_type)
    return DeclaredOffer(
        offer_id=offer.id,
        payment_method=royalty_type,
        payment_method_text=PAYMENT_METHODS[royalty_type],
        payment_standard=payment_standard(offer),
        upfront_fee=offer.upfront_fee,
        royalty_rate=offer.royalty_rate,
        per_unit_fee=offer.per_unit_fee,
        minimum_annual=offer.minimum_annual,
        currency=offer.currency,
        term_years=offer.term_years,
        field_of_use=offer.field_of_use,
        territory=offer.territory,
    )


def render(listing: Listing, *, blockers: list[PublicationBlocker]) -> Declaration:
    """The declaration's content. ``blockers`` are the publication blockers of a draft (the
    caller computes them, the pledge register's included); an announced declaration has none.
    Announced declarations show the fee reductions recorded at publication."""
    assert listing.id is not None
    missing = [
        f"{patent.application_number}: {co_owner['name']}"
        for patent in listing.patents
        for co_owner in patent.co_owners
        if not co_owner.get("open_license_consent", False)
    ]
    draft = listing.status == ListingStatus.draft
    reductions = (
        fee_reductions(listing)
        if draft
        else [FeeReduction.model_validate(item) for item in listing.fee_reductions]
    )
    announcement = (
        Announcement(
            number=listing.announcement_number,
            date=listing.announcement_date,
            source=AnnouncementSource(listing.announcement_source),
        )
        if listing.announcement_number and listing.announcement_date and listing.announcement_source
        else None
    )
    return Declaration(
        listing_id=listing.id,
        status=listing.status,
        patentee=OrganizationSummary.model_validate(listing.owner, from_attributes=True),
        title=listing.title,
        patents=[_declared_patent(patent) for patent in listing.patents],
        offers=[_declared_offer(offer) for offer in listing.offers],
        co_owner_consent=CoOwnerConsentSummary(all_consented=not missing, missing=missing),
        fee_reductions=reductions,
        announcement=announcement,
        blockers=blockers if draft else [],
        warnings=(
            guidance_warnings(listing)
            if draft
            else [ListingWarning.model_validate(item) for item in listing.warnings]
        ),
        prepared_at=clock.now(),
    )
