"""Conversion statistics: how a licensor's patents (or the platform's) turn into listings and
licenses, grouped by year, region, IPC section or department. Every figure is one grouped
query, so the report costs the same at a hundred patents or a million."""

import io
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from marketplace import clock, spreadsheets
from marketplace.accounts.caller import Caller
from marketplace.accounts.models import LICENSOR_KINDS, Organization
from marketplace.db import ScaledDecimal
from marketplace.licensing.models.licenses import TOOK_EFFECT_STATUSES, License
from marketplace.licensing.models.obligations import (
    Obligation,
    ObligationStatus,
    Payment,
    PaymentStatus,
)
from marketplace.listings.models import Listing, ListingPatent, Offer, RoyaltyType
from marketplace.patents.models import Patent
from marketplace.stats.errors import InvalidPeriod, StatsNotAvailable
from marketplace.stats.models import (
    ConversionFigures,
    ConversionRow,
    ConversionStats,
    StatsGroup,
)

# The key of the scope-wide figures among the grouped ones.
_TOTAL = ("total",)

GroupKey = str | None | tuple[str]


def report_scope(*, caller: Caller, owner_id: int | None) -> int | None:
    """The licensor a report may cover for this caller; None: the whole platform."""
    if caller.is_platform_admin:
        return owner_id
    if caller.kind not in LICENSOR_KINDS:
        raise StatsNotAvailable()
    if owner_id not in (None, caller.organization_id):
        raise StatsNotAvailable("A licensor sees its own statistics only.")
    return caller.organization_id


# Statistics cover the open-licensing era: nothing was filed before the Patent Law, and a period
# ending beyond this would only overflow date arithmetic.
EARLIEST_DAY = date(1985, 1, 1)
LATEST_DAY = date(2199, 12, 31)


def conversion_stats(
    *,
    session: Session,
    owner_id: int | None,
    group_by: StatsGroup,
    period_start: date | None = None,
    period_end: date | None = None,
) -> ConversionStats:
    """``owner_id`` None covers the whole platform. The period bounds (inclusive) apply to
    events: publications, withdrawals and licenses taking effect; patents are counted as
    they stand."""
    for name, day in (("from", period_start), ("to", period_end)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise InvalidPeriod(
                f"{name} must lie between {EARLIEST_DAY} and {LATEST_DAY}; {day} does not."
            )
    if period_start and period_end and period_end < period_start:
        raise InvalidPeriod(f"The period ends ({period_end}) before it starts ({period_start}).")
    query = _Query(session, owner_id, group_by, period_start, period_end)
    figures: dict[GroupKey, dict[str, Any]] = defaultdict(_empty_figures)
    for grouped in (True, False):
        for key, count in query.patents(grouped):
            figures[key]["patents"] = count
        for key, count in query.licensed_patents(grouped):
            figures[key]["licensed_patents"] = count
        for key, count in query.listings(col(Listing.published_at), grouped):
            figures[key]["listings_published"] = count
        for key, count in query.listings(col(Listing.withdrawn_at), grouped):
            figures[key]["listings_withdrawn"] = count
        for key, royalty_type, count in query.licenses(grouped):
            figures[key]["licenses_by_royalty_type"][RoyaltyType(royalty_type)] = count
            figures[key]["licenses"] += count
        for key, amounts in query.royalty_income(grouped).items():
            figures[key]["royalty_income"] = amounts
        for key, amounts in query.outstanding(grouped).items():
            figures[key]["outstanding"] = amounts
    totals = figures.pop(_TOTAL, _empty_figures())
    rows = [
        ConversionRow(group=_label(key), **_with_ratio(values))
        for key, values in sorted(figures.items(), key=lambda item: _sort_key(item[0]))
    ]
    return ConversionStats(
        group_by=group_by,
        owner_id=owner_id,
        period_start=period_start,
        period_end=period_end,
        rows=rows,
        totals=ConversionFigures(**_with_ratio(totals)),
    )


CSV_COLUMNS = (
    "group",
    "patents",
    "licensed_patents",
    "licensed_patent_ratio",
    "listings_published",
    "listings_withdrawn",
    "licenses",
    *(f"licenses_{kind.value}" for kind in RoyaltyType),
)


def to_csv(stats: ConversionStats) -> str:
    """One line per group and a last line ``total``; numbers as plain digits, money in a column
    per currency that occurs (``royalty_income_CNY``, ``outstanding_CNY``)."""
    lines: list[tuple[str, ConversionFigures]] = [
        *((row.group or "", row) for row in stats.rows),
        ("total", stats.totals),
    ]
    currencies = sorted(
        {code for _, figures in lines for code in (*figures.royalty_income, *figures.outstanding)}
    )
    out = io.StringIO()
    writer = spreadsheets.writer(out, lineterminator="\n")
    writer.writerow(
        [
            *CSV_COLUMNS,
            *(f"royalty_income_{code}" for code in currencies),
            *(f"outstanding_{code}" for code in currencies),
        ]
    )
    for label, figures in lines:
        writer.writerow(
            [
                label,
                figures.patents,
                figures.licensed_patents,
                "" if figures.licensed_patent_ratio is None else figures.licensed_patent_ratio,
                figures.listings_published,
                figures.listings_withdrawn,
                figures.licenses,
                *(figures.licenses_by_royalty_type[kind] for kind in RoyaltyType),
                *(figures.royalty_income.get(code, Decimal(0)) for code in currencies),
                *(figures.outstanding.get(code, Decimal(0)) for code in currencies),
            ]
        )
    return out.getvalue()


def _empty_figures() -> dict[str, Any]:
    return {
        "patents": 0,
        "licensed_patents": 0,
        "listings_published": 0,
        "listings_withdrawn": 0,
        "licenses": 0,
        "licenses_by_royalty_type": dict.fromkeys(RoyaltyType, 0),
        "royalty_income": {},
        "outstanding": {},
    }


def _with_ratio(values: dict[str, Any]) -> dict[str, Any]:
    patents = values["patents"]
    ratio = round(values["licensed_patents"] / patents, 4) if patents else None
    return {**values, "licensed_patent_ratio": ratio}


def _label(key: GroupKey) -> str | None:
    return None if key is None else str(key)


def _sort_key(key: GroupKey) -> tuple[bool, str]:
    # Groups in their natural order, the unrecorded group (null) last.
    return (key is None, str(key))


class _Query:
    """The grouped statements of one report; ``grouped=False`` gives the scope-wide line."""

    def __init__(
        self,
        session: Session,
        owner_id: int | None,
        group_by: StatsGroup,
        period_start: date | None,
        period_end: date | None,
    ) -> None:
        self.session = session
        self.owner_id = owner_id
        self.group_by = group_by
        self.period_start = period_start
        self.period_end = period_end

    def patents(self, grouped: bool) -> list[tuple[Any, ...]]:
        statement = sa.select(sa.func.count(col(Patent.id))).select_from(Patent)
        statement = self._owned(statement, col(Patent.owner_id))
        return self._run(statement, col(Patent.owner_id), grouped, year_of=col(Patent.filing_date))

    def licensed_patents(self, grouped: bool) -> list[tuple[Any, ...]]:
        statement = (
            sa.select(sa.func.count(sa.distinct(col(Patent.id))))
            .select_from(Patent)
            .join(ListingPatent, col(ListingPatent.patent_id) == col(Patent.id))
            .join(License, col(License.listing_id) == col(ListingPatent.listing_id))
            # Licensed means a license took effect: not one waiting for its payment or review.
            .where(col(License.status).in_(TOOK_EFFECT_STATUSES))
        )
        statement = self._owned(statement, col(Patent.owner_id))
        statement = self._in_period(statement, col(License.effective_date))
        return self._run(statement, col(Patent.owner_id), grouped, year_of=col(Patent.filing_date))

    def listings(self, happened_at: Any, grouped: bool) -> list[tuple[Any, ...]]:
        statement = (
            sa.select(sa.func.count(sa.distinct(col(Listing.id))))
            .select_from(Listing)
            .where(happened_at.is_not(None))
        )
        if grouped and self.group_by in (StatsGroup.ipc_section, StatsGroup.department):
            statement = statement.join(
                ListingPatent, col(ListingPatent.listing_id) == col(Listing.id)
            ).join(Patent, col(Patent.id) == col(ListingPatent.patent_id))
        statement = self._owned(statement, col(Listing.owner_id))
        statement = self._in_period(statement, happened_at, timestamps=True)
        return self._run(
            statement, col(Listing.owner_id), grouped, year_of=self._local(happened_at)
        )

    def licenses(self, grouped: bool) -> list[tuple[GroupKey, str, int]]:
        statement = (
            sa.select(col(Offer.royalty_type), sa.func.count(sa.distinct(col(License.id))))
            .select_from(License)
            .join(Offer, col(Offer.id) == col(License.offer_id))
            .where(col(License.status).in_(TOOK_EFFECT_STATUSES))
        )
        if grouped and self.group_by in (StatsGroup.ipc_section, StatsGroup.department):
            statement = statement.join(
                ListingPatent, col(ListingPatent.listing_id) == col(License.listing_id)
            ).join(Patent, col(Patent.id) == col(ListingPatent.patent_id))
        statement = self._owned(statement, col(License.licensor_id))
        statement = self._in_period(statement, col(License.effective_date))
        statement = statement.group_by(col(Offer.royalty_type))
        rows = self._run(
            statement, col(License.licensor_id), grouped, year_of=col(License.effective_date)
        )
        return [(key, royalty_type, count) for key, royalty_type, count in rows]

    def royalty_income(self, grouped: bool) -> dict[GroupKey, dict[str, Decimal]]:
        """Confirmed payments, by the day they were paid."""
        statement = (
            sa.select(col(Payment.id), col(Payment.amount), col(Payment.currency))
            .select_from(Payment)
            .join(Obligation, col(Obligation.id) == col(Payment.obligation_id))
            .join(License, col(License.id) == col(Obligation.license_id))
            .where(col(Payment.status) == PaymentStatus.confirmed)
        )
        statement = self._owned(statement, col(Payment.licensor_id))
        statement = self._in_period(statement, col(Payment.paid_on))
        return self._amounts(
            statement, col(Payment.licensor_id), grouped, year_of=col(Payment.paid_on)
        )

    def outstanding(self, grouped: bool) -> dict[GroupKey, dict[str, Decimal]]:
        """What is owed and not yet covered by confirmed payments, by due date (overdue or
        not): each unpaid obligation's amount less its confirmed part payments."""
        confirmed = (
            sa.select(sa.func.coalesce(sa.func.sum(col(Payment.amount)), 0))
            .where(col(Payment.obligation_id) == col(Obligation.id))
            .where(col(Payment.status) == PaymentStatus.confirmed)
            .correlate(Obligation)
            .scalar_subquery()
        )
        statement = (
            sa.select(
                col(Obligation.id),
                col(Obligation.amount),
                col(Obligation.currency),
                sa.type_coerce(confirmed, ScaledDecimal(18, 2)).label("paid"),
            )
            .select_from(Obligation)
            .join(License, col(License.id) == col(Obligation.license_id))
            .where(col(Obligation.status) == ObligationStatus.due)
        )
        statement = self._owned(statement, col(Obligation.licensor_id))
        statement = self._in_period(statement, col(Obligation.due_date))
        return self._amounts(
            statement, col(Obligation.licensor_id), grouped, year_of=col(Obligation.due_date)
        )

    def _amounts(
        self, statement: Any, owner_column: Any, grouped: bool, *, year_of: Any
    ) -> dict[GroupKey, dict[str, Decimal]]:
        """Money per group and currency. Summed here rather than in SQL: an amount must count
        once per group even when two patents of its license fall into the same group, and the
        exact decimal columns are scaled integers on SQLite."""
        if grouped and self.group_by in (StatsGroup.ipc_section, StatsGroup.department):
            statement = statement.join(
                ListingPatent, col(ListingPatent.listing_id) == col(License.listing_id)
            ).join(Patent, col(Patent.id) == col(ListingPatent.patent_id))
        if not grouped:
            group: Any = sa.literal("total")
        elif self.group_by is StatsGroup.region:
            owner = aliased(Organization)
            statement = statement.join(owner, col(owner.id) == owner_column)
            group = col(owner.region)
        else:
            group = self._group_column(year_of=year_of)
        statement = statement.add_columns(group.label("group_key"))
        seen: set[tuple[int, Any]] = set()
        sums: dict[GroupKey, dict[str, Decimal]] = defaultdict(dict)
        for item_id, amount, currency, *rest in self.session.execute(statement):
            *paid, raw_key = rest
            if (item_id, raw_key) in seen:
                continue
            seen.add((item_id, raw_key))
            key: GroupKey = _TOTAL if not grouped else None if raw_key is None else str(raw_key)
            value = Decimal(amount) - (Decimal(paid[0]) if paid else Decimal(0))
            per_currency = sums[key]
            per_currency[currency] = per_currency.get(currency, Decimal(0)) + value
        return sums

    def _local(self, timestamp: Any) -> Any:
        """The timestamp as wall time on the marketplace's calendar (``clock``), whose year it
        counts in. From UTC wall time, which PostgreSQL gives by ``timezone('UTC', ...)`` (it
        would otherwise take the session's time zone) and SQLite stores; a fixed offset, as
        the calendar has no daylight saving."""
        offset = clock.MARKETPLACE_TIMEZONE.utcoffset(None)
        if self.session.get_bind().dialect.name == "postgresql":
            return sa.func.timezone("UTC", timestamp) + offset
        return sa.func.datetime(timestamp, f"{offset.total_seconds():+.0f} seconds")

    def _owned(self, statement: Any, owner_column: Any) -> Any:
        if self.owner_id is None:
            return statement
        return statement.where(owner_column == self.owner_id)

    def _in_period(self, statement: Any, column: Any, *, timestamps: bool = False) -> Any:
        start, end = self.period_start, self.period_end
        if timestamps:
            # Whole days of the period on the marketplace's calendar (``clock``), compared as
            # timestamps so that the column's index can serve the range.
            if start is not None:
                statement = statement.where(column >= clock.start_of(start))
            if end is not None:
                statement = statement.where(column < clock.start_of(end + timedelta(days=1)))
            return statement
        if start is not None:
            statement = statement.where(column >= start)
        if end is not None:
            statement = statement.where(column <= end)
        return statement

    def _run(
        self, statement: Any, owner_column: Any, grouped: bool, *, year_of: Any
    ) -> list[tuple[Any, ...]]:
        if not grouped:
            return [(_TOTAL, *row) for row in self.session.execute(statement)]
        if self.group_by is StatsGroup.region:
            owner = aliased(Organization)
            statement = statement.join(owner, col(owner.id) == owner_column)
            group = col(owner.region)
        else:
            group = self._group_column(year_of=year_of)
        statement = statement.add_columns(group.label("group_key")).group_by(group)
        rows: list[tuple[Any, ...]] = []
        for row in self.session.execute(statement):
            *figures, key = row
            rows.append((None if key is None else str(key), *figures))
        return rows

    def _group_column(self, *, year_of: Any) -> Any:
        if self.group_by is StatsGroup.year:
            return sa.cast(sa.extract("year", year_of), sa.Integer)
        if self.group_by is StatsGroup.ipc_section:
            return sa.func.substr(col(Patent.main_ipc), 1, 1)
        return col(Patent.department)
