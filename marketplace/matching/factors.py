"""The factors of a need's match, each a value in [0, 1]: IPC proximity, the total cost of an
offer over its term against a budget, and a listing's uptake (active licenses); and how a value
and its weight make a contribution to the score."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace.db import any_of
from marketplace.licensing import royalties
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.listings.models import RoyaltyType
from marketplace.matching.models import CostBreakdown, EstimatedCost, FactorPublic
from marketplace.patents.identifiers import ipc_levels

FACTOR_DIGITS = 4

_PROXIMITY_BY_SHARED_LEVELS = {0: 0.0, 1: 0.2, 2: 0.4, 3: 0.6, 4: 0.8, 5: 1.0}


@lru_cache(maxsize=65_536)
def ipc_proximity(hint: str, code: str) -> float:
    """1.0 for the same subgroup, or a code within a coarser hint (the SME asked for ``H01M``,
    and this is in ``H01M``); otherwise by the deepest level they share: main group 0.8,
    subclass 0.6, class 0.4, section 0.2, none 0."""
    a, b = ipc_levels(hint), ipc_levels(code)
    shared = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        shared += 1
    if shared == min(len(a), len(b)):
        return 1.0
    return _PROXIMITY_BY_SHARED_LEVELS[shared]


def best_ipc_proximity(hints: Iterable[str], codes: Iterable[str]) -> tuple[float, str | None]:
    """The closest pair: its proximity and an explanation."""
    best, why = 0.0, None
    code_list = list(codes)
    for hint in hints:
        for code in code_list:
            value = ipc_proximity(hint, code)
            if value > best:
                best, why = value, f"{code} against {hint}"
    return best, why


@dataclass(frozen=True, slots=True)
class CostEstimate:
    total: Decimal
    upfront_fee: Decimal
    annual_royalty: Decimal
    years: int
    currency: str
    minimum_annual: Decimal | None

    def public(self) -> EstimatedCost:
        return EstimatedCost(
            amount=self.total,
            currency=self.currency,
            breakdown=CostBreakdown(
                upfront_fee=self.upfront_fee,
                annual_royalty=self.annual_royalty,
                minimum_annual=self.minimum_annual,
                years=self.years,
                total=self.total,
            ),
        )


class PricedOffer(Protocol):
    """What a cost estimate reads of an offer: an ``Offer`` or a column row of one."""

    @property
    def id(self) -> int | None: ...
    @property
    def royalty_type(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def upfront_fee(self) -> Decimal | None: ...
    @property
    def royalty_rate(self) -> Decimal | None: ...
    @property
    def per_unit_fee(self) -> Decimal | None: ...
    @property
    def minimum_annual(self) -> Decimal | None: ...
    @property
    def term_years(self) -> int: ...


def estimate_total_cost(
    offer: PricedOffer, *, annual_sales: Decimal, annual_units: int | None
) -> CostEstimate:
    """What an offer costs over its whole term at the expected sales: the upfront fee, plus for
    each license year the year's royalty (running: rate x sales; per-unit: fee x units; hybrid:
    both) or the minimum annual royalty when higher. Exact, rounded once (as royalties are)."""
    terms = royalties.RoyaltyTerms(
        royalty_type=RoyaltyType(offer.royalty_type),
        currency=offer.currency,
        upfront_fee=offer.upfront_fee,
        rate_percent=offer.royalty_rate,
        per_unit_fee=offer.per_unit_fee,
        minimum_annual=offer.minimum_annual,
    )
    upfront = offer.upfront_fee or Decimal(0)
    annual = Decimal(0)
    yearly = Decimal(0)
    if terms.royalty_bearing:
        annual = royalties.exact_royalty(terms, net_sales=annual_sales, units=annual_units)
        yearly = max(annual, offer.minimum_annual or Decimal(0))
    total = upfront + yearly * offer.term_years
    try:
        rounded_total = royalties.round_amount(total, offer.currency)
        rounded_annual = royalties.round_amount(annual, offer.currency)
    except royalties.AmountTooLarge:
        rounded_total = rounded_annual = royalties.MAX_AMOUNT
    return CostEstimate(
        total=rounded_total,
        upfront_fee=upfront.quantize(royalties.CENT),
        annual_royalty=rounded_annual,
        years=offer.term_years,
        currency=offer.currency,
        minimum_annual=offer.minimum_annual,
    )


def budget_fit(cost: Decimal, budget: Decimal | None) -> float:
    """1 within the budget, then budget / cost (half at twice the budget); 1 without a budget."""
    if budget is None or cost <= budget:
        return 1.0
    return float(budget / cost)


def clamped(value: float) -> float:
    """A factor's value: within [0, 1], rounded."""
    # As min(max(value, 0.0), 1.0), in half the time: a need matching clamps 3,000 values.
    return round(0.0 if value < 0.0 else 1.0 if value > 1.0 else value, FACTOR_DIGITS)


def contribution(value: float, weight: float) -> float:
    """A factor's part of the score: its value times its weight."""
    return round(clamped(value) * weight, FACTOR_DIGITS)


def factor(value: float, weight: float, explanation: str) -> FactorPublic:
    """A factor as a match explains it."""
    return FactorPublic(
        value=clamped(value),
        weight=weight,
        contribution=contribution(value, weight),
        explanation=explanation,
    )


def active_licenses(session: Session, listing_ids: Sequence[int]) -> dict[int, int]:
    """The active licenses of each listing (the uptake); a listing without any is left out."""
    rows = session.execute(
        sa.select(col(License.listing_id), sa.func.count())
        .where(
            any_of(session, col(License.listing_id), listing_ids),
            col(License.status) == LicenseStatus.active,
        )
        .group_by(col(License.listing_id))
    ).all()
    return {int(listing_id): int(count) for listing_id, count in rows}
