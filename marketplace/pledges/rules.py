"""The registration rules of a pledge (2021 pledge registration measures): every reason a patent
cannot be pledged, and the refusal that lists them."""

from collections.abc import Collection, Iterable, Mapping
from datetime import date

from marketplace.patents import service as patents
from marketplace.patents.models import Patent, PatentIssue
from marketplace.pledges.errors import PledgeRefused

# Reason codes an admin may give when refusing; the checks below produce the same codes.
REFUSAL_CODES = frozenset(
    {
        "pledgor_not_owner",
        "patent_not_granted",
        "patent_not_in_force",
        "annual_fee_in_arrears",
        "patent_already_pledged",
        "debt_term_exceeds_patent_term",
        "patent_suspended",
        "invalidation_pending",
        "co_owner_consent_missing",
        "documents_incomplete",
        "other",
    }
)


def pledge_issues(
    patent: patents.PatentFacts,
    *,
    pledgor_id: int,
    debt_end_date: date | None,
    today: date,
    pledge_id: int | None = None,
    known: patents.PatentStanding | None = None,
    proceeds_despite_invalidation: bool = False,
) -> list[PatentIssue]:
    """Every reason ``patent`` cannot be pledged by ``pledgor_id`` now (empty when it can),
    co-owners' consent aside (``co_owner_issues``). ``pledge_id`` is the pledge being registered
    or amended, whose own claim does not count; ``known`` is the patent's standing today when
    the caller has it already; ``proceeds_despite_invalidation``: the parties confirmed that they
    proceed although an invalidation request is pending. An exclusive license in force is no
    ground for refusal (2021 pledge registration measures)."""
    current = known or patents.standing(patent, today=today)
    found: list[PatentIssue] = []
    if patent.owner_id != pledgor_id:
        found.append(patents.issue(patent, "pledgor_not_owner", "not owned by the pledgor"))
    found.extend(patents.validity_issues(patent, today=today, known=current))
    if patent.active_pledge_id not in (None, pledge_id):
        found.append(
            patents.issue(
                patent,
                "patent_already_pledged",
                f"already under registered pledge {patent.active_pledge_id}",
            )
        )
    term_end = current.term_end
    if debt_end_date is not None and debt_end_date > term_end:
        found.append(
            patents.issue(
                patent,
                "debt_term_exceeds_patent_term",
                f"the debt runs to {debt_end_date}, past the patent's term end {term_end}",
            )
        )
    found.extend(patents.suspension_issues(patent, today=today))
    pending = patents.encumbrances_in_force(patent, patents.INVALIDATION_KINDS, today=today)
    if pending and not proceeds_despite_invalidation:
        found.append(
            patents.issue(
                patent,
                "invalidation_pending",
                f"an invalidation request is pending since {pending[0].starts_on}; "
                "both parties must confirm that they proceed",
            )
        )
    return found


def co_owner_names(patent: Patent) -> list[str]:
    return [str(co_owner["name"]) for co_owner in patent.co_owners]


def co_owner_issues(patent: Patent, consented: Collection[str]) -> list[PatentIssue]:
    """Every co-owner of the patent must consent to its pledge."""
    missing = [name for name in co_owner_names(patent) if name not in consented]
    if not missing:
        return []
    return [
        patents.issue(
            patent,
            "co_owner_consent_missing",
            "no consent to the pledge from co-owner " + ", ".join(missing),
        )
    ]


def issues_of(
    covered: Iterable[Patent],
    *,
    pledgor_id: int,
    debt_end_date: date | None,
    today: date,
    co_owner_consents: Mapping[int, Collection[str]],
    proceeds_despite_invalidation: bool,
    pledge_id: int | None = None,
) -> list[PatentIssue]:
    """``pledge_issues`` and ``co_owner_issues`` of every patent a pledge covers, patent by
    patent. ``co_owner_consents``: by patent id, the co-owners who consented."""
    return [
        item
        for patent in covered
        for item in [
            *pledge_issues(
                patent,
                pledgor_id=pledgor_id,
                debt_end_date=debt_end_date,
                today=today,
                pledge_id=pledge_id,
                proceeds_despite_invalidation=proceeds_despite_invalidation,
            ),
            *co_owner_issues(patent, co_owner_consents.get(patent.id or 0, ())),
        ]
    ]


def refuse_if_any(issues: list[PatentIssue]) -> None:
    if issues:
        raise PledgeRefused(
            "; ".join(item.detail for item in issues),
            code=issues[0].code,
            reasons=[item.model_dump(exclude_none=True) for item in issues],
        )
