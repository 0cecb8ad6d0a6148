"""Bulk declaration and bulk publication: many patents declared under one offer template, each
in a listing of its own, and drafts published at once with their office announcements."""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField

from marketplace.listings.models import (
    DeclarationAnnouncement,
    ListingWarning,
    OfferCreate,
)

MAX_BULK_DECLARATIONS = 500


class BulkAnnouncement(DeclarationAnnouncement):
    """The office's announcement of one patent's declaration in a bulk call."""

    model_config = ConfigDict(extra="forbid")

    patent_id: int = PydanticField(ge=1, le=2**31 - 1)


class BulkDeclarationCreate(BaseModel):
    """One offer template declared for many patents, each in a listing of its own."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "patent_ids": [8, 9],
                    "offer": {
                        "royalty_type": "hybrid",
                        "upfront_fee": "50000",
                        "royalty_rate": "3.5",
                        "term_years": 3,
                    },
                    "publish": True,
                    "announcements": [
                        {
                            "patent_id": 8,
                            "announcement_number": "KF2026000123",
                            "announcement_date": "2026-06-12",
                        },
                        {
                            "patent_id": 9,
                            "announcement_number": "KF2026000124",
                            "announcement_date": "2026-06-12",
                        },
                    ],
                }
            ]
        },
    }

    patent_ids: list[Annotated[int, PydanticField(ge=1, le=2**31 - 1)]] = PydanticField(
        min_length=1,
        max_length=MAX_BULK_DECLARATIONS,
        description=f"At most {MAX_BULK_DECLARATIONS}; a repeated id is declared once.",
    )
    offer: OfferCreate
    description: str | None = PydanticField(default=None, max_length=20_000)
    publish: bool = PydanticField(
        default=True,
        description="Publish each listing with its office announcement, or only draft it with "
        "its offer (to file the declaration first).",
    )
    announcements: list[BulkAnnouncement] = PydanticField(
        default_factory=list,
        max_length=MAX_BULK_DECLARATIONS,
        description="With `publish`: the office's announcement of each patent's declaration, "
        "one per patent; without it, none.",
    )

    @model_validator(mode="after")
    def _one_announcement_per_patent(self) -> "BulkDeclarationCreate":
        announced = [item.patent_id for item in self.announcements]
        if not self.publish:
            if announced:
                raise ValueError("announcements are given only with publish")
            return self
        if len(set(announced)) != len(announced):
            raise ValueError("a patent has more than one announcement")
        numbers = ["".join(item.announcement_number.split()).upper() for item in self.announcements]
        if len(set(numbers)) != len(numbers):
            raise ValueError("an announcement number is given for more than one patent")
        missing = [pid for pid in dict.fromkeys(self.patent_ids) if pid not in set(announced)]
        if missing:
            raise ValueError(
                "publishing needs the office's announcement of each patent; missing for "
                + ", ".join(map(str, missing))
            )
        extra = sorted(set(announced) - set(self.patent_ids))
        if extra:
            raise ValueError(
                "announcements for patents not declared: " + ", ".join(map(str, extra))
            )
        return self

    def announcement_of(self, patent_id: int) -> DeclarationAnnouncement | None:
        for item in self.announcements:
            if item.patent_id == patent_id:
                return DeclarationAnnouncement(
                    announcement_number=item.announcement_number,
                    announcement_date=item.announcement_date,
                )
        return None


class BulkDeclarationStatus(StrEnum):
    published = "published"
    drafted = "drafted"
    refused = "refused"
    not_found = "not_found"


class BulkReason(BaseModel):
    code: str = PydanticField(examples=["annual_fee_in_arrears"])
    detail: str


class BulkDeclarationResult(BaseModel):
    patent_id: int
    status: BulkDeclarationStatus
    listing_id: int | None = None
    reasons: list[BulkReason] = PydanticField(
        default_factory=list, description="Why it was refused, with the codes of publishing."
    )
    warnings: list[ListingWarning] = PydanticField(default_factory=list)


class BulkDeclarationOutcome(BaseModel):
    published: int
    drafted: int
    refused: int
    not_found: int
    results: list[BulkDeclarationResult] = PydanticField(description="In request order.")


class BulkPublicationItem(DeclarationAnnouncement):
    """A drafted listing and the office's announcement of its declaration."""

    model_config = ConfigDict(extra="forbid")

    listing_id: int = PydanticField(ge=1, le=2**31 - 1)


class BulkPublicationCreate(BaseModel):
    """Drafts whose declarations the office has announced, published at once."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "items": [
                        {
                            "listing_id": 31,
                            "announcement_number": "KF2026000123",
                            "announcement_date": "2026-06-12",
                        },
                        {
                            "listing_id": 32,
                            "announcement_number": "KF2026000124",
                            "announcement_date": "2026-06-12",
                        },
                    ]
                }
            ]
        },
    }

    items: list[BulkPublicationItem] = PydanticField(
        min_length=1,
        max_length=MAX_BULK_DECLARATIONS,
        description=f"At most {MAX_BULK_DECLARATIONS}; each listing and each number once.",
    )

    @model_validator(mode="after")
    def _each_once(self) -> "BulkPublicationCreate":
        listing_ids = [item.listing_id for item in self.items]
        if len(set(listing_ids)) != len(listing_ids):
            raise ValueError("a listing is given more than once")
        numbers = ["".join(item.announcement_number.split()).upper() for item in self.items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("an announcement number is given for more than one listing")
        return self


class BulkPublicationResult(BaseModel):
    listing_id: int
    status: BulkDeclarationStatus = PydanticField(
        description="`published`, `refused` or `not_found`."
    )
    reasons: list[BulkReason] = PydanticField(default_factory=list)
    warnings: list[ListingWarning] = PydanticField(default_factory=list)


class BulkPublicationOutcome(BaseModel):
    published: int
    refused: int
    not_found: int
    results: list[BulkPublicationResult] = PydanticField(description="In request order.")
