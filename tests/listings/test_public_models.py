"""The public forms of listings and offers are plain pydantic classes (cheaper to build than
SQLModel ones, see ``marketplace.listings.models``), written apart from the table models' bases:
they must not drift from those bases, in the fields they show, their order, or their schema."""

from typing import Any

import pytest
from pydantic import BaseModel
from sqlmodel import SQLModel

from marketplace.listings.models import (
    ListingFields,
    ListingPublic,
    OfferPublic,
    OfferTerms,
    OrganizationSummary,
)
from marketplace.matching.models import ListingHit, ListingSearchPage
from marketplace.patents.models import PatentSummary


def _properties(model: type[BaseModel]) -> dict[str, Any]:
    return dict(model.model_json_schema()["properties"])


@pytest.mark.parametrize(
    ("public", "base"), [(OfferPublic, OfferTerms), (ListingPublic, ListingFields)]
)
def test_a_public_form_starts_with_its_table_base_fields_as_the_base_defines_them(
    public: type[BaseModel], base: type[SQLModel]
) -> None:
    shared = list(base.model_fields)
    assert list(public.model_fields)[: len(shared)] == shared
    public_properties, base_properties = _properties(public), _properties(base)
    for name in shared:
        assert public_properties[name] == base_properties[name], name
        assert public.model_fields[name].annotation == base.model_fields[name].annotation, name
        assert public.model_fields[name].is_required() == base.model_fields[name].is_required()


@pytest.mark.parametrize(
    "model",
    [ListingSearchPage, ListingHit, ListingPublic, OfferPublic, OrganizationSummary, PatentSummary],
)
def test_the_listing_pages_response_models_are_not_sqlmodel_classes(
    model: type[BaseModel],
) -> None:
    assert not issubclass(model, SQLModel)
