"""Patents: registration, the statutory term, annual-fee standing, encumbrances."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import LICENSOR_KINDS, Organization
from marketplace.config import get_settings
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents.errors import (
    EncumbranceNotFound,
    InvalidPatentUpdate,
    NotPatentOwnerKind,
    OpenLicenseInForce,
    PatentAlreadyRegistered,
    PatentNotFound,
)
from marketplace.patents.identifiers import (
    PatentKind,
    ipc_like_pattern,
    normalize_ipc_prefix,
    parse_application_number,
)
from marketplace.patents.models import (
    EncumbranceKind,
    FeeStatus,
    InvalidationRequestCreate,
    LegalStatus,
    Patent,
    PatentCreate,
    PatentEncumbrance,
    PatentEncumbranceCreate,
    PatentEncumbrancePublic,
    PatentIpc,
    PatentIssue,
    PatentPublic,
    PatentSummary,
    PatentUpdate,
    check_patent_dates,
)
from marketplace.patents.terms import DESIGN_15_YEARS_FROM as DESIGN_15_YEARS_FROM
from marketplace.patents.terms import add_months as add_months
from marketplace.patents.terms import add_years as add_years
from marketplace.patents.terms import next_fee_due_date
from marketplace.patents.terms import statutory_years as statutory_years
from marketplace.patents.terms import term_end_date as term_end_date

EXCLUSIVE_KINDS = frozenset({EncumbranceKind.exclusive_license, EncumbranceKind.sole_license})
SUSPENDING_KINDS = frozenset(
    {EncumbranceKind.court_preservation, EncumbranceKind.ownership_dispute}
)
INVALIDATION_KINDS = frozenset({EncumbranceKind.invalidation_request})


class EncumbranceFacts(Protocol):
    """What the rules read of an encumbrance: a table row or a column select alike."""

    @property
    def kind(self) -> EncumbranceKind: ...
    @property
    def starts_on(self) -> date: ...
    @property
    def ends_on(self) -> date | None: ...
    @property
    def released_at(self) -> datetime | None: ...


class TermFacts(Protocol):
    """What a patent's standing (term, fee position, in force) reads of it."""

    @property
    def kind(self) -> PatentKind: ...
    @property
    def filing_date(self) -> date: ...
    @property
    def legal_status(self) -> LegalStatus: ...
    @property
    def fee_paid_until(self) -> date | None: ...


class PatentFacts(TermFacts, Protocol):
    """What the legal-standing rules read of a patent: a ``Patent`` or the plain columns a
    batch check selects (loading a thousand table objects costs more than the whole check)."""

    @property
    def id(self) -> int | None: ...
    @property
    def application_number(self) -> str: ...
    @property
    def owner_id(self) -> int: ...
    @property
    def active_pledge_id(self) -> int | None: ...
    @property
    def encumbrances(self) -> Sequence[EncumbranceFacts]: ...


# The patent columns a summary shows, besides what it computes.
SUMMARY_COLUMNS = (
    "id",
    "application_number",
    "kind",
    "title",
    "abstract",
    "filing_date",
    "grant_date",
    "legal_status",
)
# And those it reads to compute the rest.
STANDING_COLUMNS = ("fee_paid_until",)


@dataclass(frozen=True, slots=True)
class PatentStanding:
    """A patent's term and fee position on one day, computed once and read by every rule."""

    term_end: date
    fee_status: FeeStatus
    in_force: bool


def fee_status(patent: TermFacts, *, today: date | None = None) -> FeeStatus:
    if patent.legal_status != LegalStatus.granted or patent.fee_paid_until is None:
        return FeeStatus.not_applicable
    today = today or clock.today()
    # Paid to the end of the term, nothing more ever falls due: not in arrears after it ends.
    covers_the_term = patent.fee_paid_until >= term_end_date(
        PatentKind(patent.kind), patent.filing_date
    )
    if today <= patent.fee_paid_until or covers_the_term:
        return FeeStatus.paid
    grace_end = add_months(patent.fee_paid_until, get_settings().annual_fee_grace_months)
    return FeeStatus.grace if today <= grace_end else FeeStatus.arrears


def standing(patent: TermFacts, *, today: date) -> PatentStanding:
    term_end = term_end_date(PatentKind(patent.kind), patent.filing_date)
    fee = fee_status(patent, today=today)
    return PatentStanding(
        term_end=term_end,
        fee_status=fee,
        in_force=(
            patent.legal_status == LegalStatus.granted
            and today <= term_end
            and fee is not FeeStatus.arrears
        ),
    )


def is_in_force(patent: PatentFacts, *, today: date | None = None) -> bool:
    return standing(patent, today=today or clock.today()).in_force


def encumbrance_in_force(encumbrance: EncumbranceFacts, *, today: date | None = None) -> bool:
    today = today or clock.today()
    return (
        encumbrance.released_at is None
        and encumbrance.starts_on <= today
        and (encumbrance.ends_on is None or today <= encumbrance.ends_on)
    )


def encumbrances_in_force(
    patent: PatentFacts, kinds: frozenset[EncumbranceKind], *, today: date | None = None
) -> list[EncumbranceFacts]:
    return [
        item
        for item in patent.encumbrances
        if item.kind in kinds and encumbrance_in_force(item, today=today)
    ]


def issue(patent: PatentFacts, code: str, detail: str) -> PatentIssue:
    return PatentIssue(
        code=code,
        detail=f"{patent.application_number}: {detail}",
        patent_id=patent.id,
        application_number=patent.application_number,
    )


def validity_issues(
    patent: PatentFacts, *, today: date, known: PatentStanding | None = None
) -> list[PatentIssue]:
    """Not granted, not in force, or the annual fee in its late-payment period. ``known`` is
    the patent's standing today when the caller has it already."""
    current = known or standing(patent, today=today)
    found: list[PatentIssue] = []
    if patent.legal_status == LegalStatus.pending:
        found.append(issue(patent, "patent_not_granted", "not granted yet"))
    elif not current.in_force:
        reason = (
            f"legal status is {patent.legal_status}"
            if patent.legal_status != LegalStatus.granted
            else f"term ended {current.term_end}"
            if today > current.term_end
            else "annual fee unpaid beyond the late-payment period"
        )
        found.append(issue(patent, "patent_not_in_force", f"not in force ({reason})"))
    if current.fee_status is FeeStatus.grace:
        found.append(
            issue(
                patent,
                "annual_fee_in_arrears",
                f"annual fee due since {patent.fee_paid_until} is unpaid (late-payment period)",
            )
        )
    return found


def restriction_issues(patent: PatentFacts, *, today: date) -> list[PatentIssue]:
    """An exclusive or sole license in force, or a court preservation or ownership dispute."""
    found: list[PatentIssue] = []
    exclusive = encumbrances_in_force(patent, EXCLUSIVE_KINDS, today=today)
    if exclusive:
        found.append(
            issue(patent, "exclusive_license_in_force", f"a {exclusive[0].kind} is in force")
        )
    return found + suspension_issues(patent, today=today)


def suspension_issues(patent: PatentFacts, *, today: date) -> list[PatentIssue]:
    """A court preservation or an ownership dispute in force."""
    suspended = encumbrances_in_force(patent, SUSPENDING_KINDS, today=today)
    if suspended:
        return [issue(patent, "patent_suspended", f"suspended by {suspended[0].kind}")]
    return []


def to_public(patent: Patent) -> PatentPublic:
    today = clock.today()
    kind = PatentKind(patent.kind)
    term_end = term_end_date(kind, patent.filing_date)
    status = fee_status(patent, today=today)
    return PatentPublic.model_validate(
        {
            **patent.model_dump(),
            "ipc_codes": patent.ipc_codes,
            "term_end_date": term_end,
            "remaining_term_days": max(0, (term_end - today).days),
            "fee_status": status,
            "next_fee_due_date": (
                next_fee_due_date(patent.fee_paid_until, term_end)
                if status is not FeeStatus.not_applicable and patent.fee_paid_until
                else None
            ),
            "in_force": is_in_force(patent, today=today),
            "encumbrances": [encumbrance_public(item) for item in patent.encumbrances],
        }
    )


def to_summary(patent: Patent) -> PatentSummary:
    return summary_of(patent.model_dump(), ipc_codes=patent.ipc_codes)


@dataclass(frozen=True, slots=True)
class _Terms:
    kind: PatentKind
    filing_date: date
    legal_status: LegalStatus
    fee_paid_until: date | None


def summary_of(columns: Mapping[str, Any], *, ipc_codes: Sequence[str]) -> PatentSummary:
    """What anyone sees of a patent, from its columns: a ``Patent``'s, or those a page of
    listings selects without building table objects."""
    return PatentSummary.model_validate(summary_fields(columns, ipc_codes=ipc_codes))


def summary_fields(columns: Mapping[str, Any], *, ipc_codes: Sequence[str]) -> dict[str, Any]:
    """The fields of ``summary_of`` as plain data, for a response validated as a whole."""
    current = standing(
        _Terms(
            kind=PatentKind(columns["kind"]),
            filing_date=columns["filing_date"],
            legal_status=LegalStatus(columns["legal_status"]),
            fee_paid_until=columns["fee_paid_until"],
        ),
        today=clock.today(),
    )
    return {
        **{name: columns[name] for name in SUMMARY_COLUMNS},
        "ipc_codes": ipc_codes,
        "term_end_date": current.term_end,
        "fee_status": current.fee_status,
        "in_force": current.in_force,
    }


def encumbrance_public(item: PatentEncumbrance) -> PatentEncumbrancePublic:
    return PatentEncumbrancePublic.model_validate(
        {**item.model_dump(), "in_force": encumbrance_in_force(item)}
    )


def _set_ipc_codes(patent: Patent, codes: list[str]) -> None:
    # patent_id is set by the relationship when the patent is flushed.
    patent.ipc_entries = [
        PatentIpc(code=code, position=index)  # type: ignore[call-arg]
        for index, code in enumerate(codes)
    ]
    patent.main_ipc = codes[0] if codes else None


def register_patent(*, session: Session, owner: Organization, data: PatentCreate) -> Patent:
    if owner.kind not in LICENSOR_KINDS:
        raise NotPatentOwnerKind(f"A {owner.kind} does not register patents.")
    existing = session.scalar(
        select(Patent.id).where(Patent.application_number == data.application_number)
    )
    if existing is not None:
        raise PatentAlreadyRegistered(
            f"Patent {data.application_number} is already registered on the platform."
        )
    assert owner.id is not None
    kind = parse_application_number(data.application_number).kind
    patent = Patent.model_validate(
        {
            **data.model_dump(exclude={"ipc_codes", "co_owners"}),
            "co_owners": [co_owner.model_dump() for co_owner in data.co_owners],
            "owner_id": owner.id,
            "kind": kind,
        }
    )
    _set_ipc_codes(patent, data.ipc_codes)
    session.add(patent)
    session.flush()
    return patent


def get_owned_patent(*, session: Session, owner_id: int, patent_id: int) -> Patent:
    """The patent if ``owner_id`` owns it; otherwise it does not exist for the caller."""
    patent = session.get(Patent, patent_id)
    if patent is None or patent.owner_id != owner_id:
        raise PatentNotFound(f"Patent {patent_id} does not exist.")
    return patent


def get_patents(*, session: Session, patent_ids: Sequence[int]) -> list[Patent]:
    """The patents with these ids that exist, in the order asked. Those the session holds
    already are taken from it, as a query would return them (it does not reload a loaded
    object): a bulk declaration asks for each of its patents again, one listing at a time."""
    by_id: dict[int | None, Patent] = {}
    missing: list[int] = []
    for patent_id in dict.fromkeys(patent_ids):
        held = session.identity_map.get(session.identity_key(Patent, patent_id))
        if isinstance(held, Patent) and held not in session.deleted:
            by_id[patent_id] = held
        else:
            missing.append(patent_id)
    if missing:
        for patent in session.scalars(select(Patent).where(col(Patent.id).in_(missing))).all():
            by_id[patent.id] = patent
    return [by_id[patent_id] for patent_id in patent_ids if patent_id in by_id]


def list_patents(
    *,
    session: Session,
    owner_id: int,
    params: PageParams,
    legal_status: LegalStatus | None = None,
    kind: PatentKind | None = None,
    ipc: str | None = None,
    q: str | None = None,
) -> tuple[Sequence[Patent], str | None]:
    statement = select(Patent).where(Patent.owner_id == owner_id)
    if legal_status is not None:
        statement = statement.where(Patent.legal_status == legal_status)
    if kind is not None:
        statement = statement.where(Patent.kind == kind)
    if ipc:
        statement = statement.where(patents_with_ipc(ipc))
    if q:
        pattern = f"%{escape_like(q)}%"
        statement = statement.where(
            sa.or_(
                col(Patent.title).ilike(pattern, escape="\\"),
                col(Patent.application_number).ilike(pattern, escape="\\"),
            )
        )
    return paginate_by_id(session, statement, id_column=Patent.id, params=params)


def patents_with_ipc(prefix: str) -> sa.ColumnElement[bool]:
    """A condition on ``Patent.id``: the patent has an IPC symbol under ``prefix``."""
    pattern = ipc_like_pattern(normalize_ipc_prefix(prefix))
    matching = select(PatentIpc.patent_id).where(col(PatentIpc.code).like(pattern))
    return col(Patent.id).in_(matching)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


LIST_UPDATE_FIELDS = ("ipc_codes", "inventors", "co_owners")
NOT_NULL_UPDATE_FIELDS = ("title", "legal_status", "publicly_funded", *LIST_UPDATE_FIELDS)


def update_patent(*, session: Session, patent: Patent, changes: PatentUpdate) -> Patent:
    values = changes.model_dump(exclude_unset=True)
    for field in NOT_NULL_UPDATE_FIELDS:
        if field in values and values[field] is None:
            clear = " (send [] to clear it)" if field in LIST_UPDATE_FIELDS else ""
            raise InvalidPatentUpdate(f"{field} cannot be null{clear}.")
    ipc_codes = values.pop("ipc_codes", None)
    co_owners = values.pop("co_owners", None)
    if "legal_status" in values and values["legal_status"] != patent.legal_status:
        patent.legal_status_changed_at = clock.now()
    if (
        values.get("evaluation_report_ref", patent.evaluation_report_ref)
        != patent.evaluation_report_ref
        and "evaluation_report_conclusion" not in values
    ):
        # A conclusion belongs to its report: another report's must be entered anew.
        values["evaluation_report_conclusion"] = None
    for field, value in values.items():
        setattr(patent, field, value)
    if co_owners is not None:
        patent.co_owners = co_owners
    if ipc_codes is not None:
        _set_ipc_codes(patent, ipc_codes)
    try:
        check_patent_dates(
            PatentKind(patent.kind),
            patent.filing_date,
            patent.grant_date,
            LegalStatus(patent.legal_status),
            patent.fee_paid_until,
        )
    except ValueError as exc:
        raise InvalidPatentUpdate(str(exc)) from exc
    patent.updated_at = clock.now()
    session.add(patent)
    session.flush()
    return patent


def add_encumbrance(
    *, session: Session, patent: Patent, data: PatentEncumbranceCreate
) -> PatentEncumbrance:
    assert patent.id is not None
    if data.kind in EXCLUSIVE_KINDS and patent.open_license_listing_id is not None:
        # Patent Law art. 51: no exclusive or sole license while an open license is in force.
        raise OpenLicenseInForce(
            f"Patent {patent.application_number} is under the open license of listing "
            f"{patent.open_license_listing_id}; withdraw it before granting a {data.kind}.",
            listing_id=patent.open_license_listing_id,
        )
    encumbrance = PatentEncumbrance.model_validate({**data.model_dump(), "patent_id": patent.id})
    session.add(encumbrance)
    session.flush()
    session.refresh(patent, attribute_names=["encumbrances"])
    return encumbrance


def record_invalidation_request(
    *, session: Session, patent: Patent, data: InvalidationRequestCreate
) -> PatentEncumbrance:
    """Anyone may ask the office to invalidate a patent: the owner or a platform admin records
    the request, which is a ground for refusing a pledge while it is pending."""
    return add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(
            kind=EncumbranceKind.invalidation_request,
            counterparty=data.requester,
            starts_on=data.filed_on,
            reference=data.reference,
        ),
    )


def get_invalidation_request(
    *, session: Session, patent: Patent, encumbrance_id: int
) -> PatentEncumbrance:
    encumbrance = get_encumbrance(session=session, patent=patent, encumbrance_id=encumbrance_id)
    if encumbrance.kind != EncumbranceKind.invalidation_request:
        raise EncumbranceNotFound(
            f"Encumbrance {encumbrance_id} is not an invalidation request on this patent."
        )
    return encumbrance


def get_patent(*, session: Session, patent_id: int) -> Patent:
    """Any patent, for a platform admin."""
    patent = session.get(Patent, patent_id)
    if patent is None:
        raise PatentNotFound(f"Patent {patent_id} does not exist.")
    return patent


def get_encumbrance(*, session: Session, patent: Patent, encumbrance_id: int) -> PatentEncumbrance:
    encumbrance = session.get(PatentEncumbrance, encumbrance_id)
    if encumbrance is None or encumbrance.patent_id != patent.id:
        raise EncumbranceNotFound(f"Encumbrance {encumbrance_id} does not exist on this patent.")
    return encumbrance


def release_encumbrance(*, session: Session, encumbrance: PatentEncumbrance) -> PatentEncumbrance:
    if encumbrance.released_at is None:
        encumbrance.released_at = clock.now()
        session.add(encumbrance)
        session.flush()
    return encumbrance
