"""Every event type the platform records: who is told, what the subject names, and each payload
field. The API docs of `GET /api/v1/events` and docs/events.md are rendered from it, and the
tests hold it to what the code records (every type catalogued, every payload key described)."""

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from marketplace.events.models import EventType


@dataclass(frozen=True, slots=True)
class EventDoc:
    """One event type: to whom, about what, with which payload fields (name → description)."""

    recipients: str
    summary: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class EventGroup:
    title: str
    subject: str
    # Fields every payload of the group carries, described once.
    common: Mapping[str, str]
    types: Mapping[EventType, EventDoc] = field(default_factory=dict)


T = EventType

# The fields that name a subject, each described once: every payload that names the subject uses
# them, so a description cannot drift from one event to the next.
_DECLARATION_ID = {"listing_id": "The declaration."}
_DECLARATION_NAMED = {**_DECLARATION_ID, "title": "Its title."}
_LICENSE_ID = {"license_id": "The license."}
_LICENSE_NAMED = {**_LICENSE_ID, "license_number": "Its number."}
_WITHDRAWAL_REASON = {"reason": "The patentee's reason for withdrawing."}
_EXPORT_DECISION = {"status": "The license's status now.", "note": "The reviewer's note."}
_RECORDATION_DEADLINE = {"recordation_deadline": "The deadline."}

_PLEDGE = {
    "pledge_id": "The pledge.",
    "status": "Its status after the change (`registered`, `changed`, `cancelled`).",
    "registration_number": "The office's registration number (null for numbers never recorded).",
    "application_numbers": "The pledged patents' application numbers.",
}
_PLEDGED_PATENT = {
    "pledge_id": "The pledge on the patent.",
    "application_numbers": "The pledged patents concerned.",
}
_ART_444 = {
    "pledge_id": "The pledge registered on the declared patent.",
    "registration_number": "Its office registration number.",
    "registered_date": "Its office registration date.",
    "pledgee_id": "The pledgee organization.",
    "pledgee_name": "Its name.",
    "listing_id": "The declaration (listing) in force on the patent.",
    "application_numbers": "The declared patents the pledge covers.",
}
_DECLARATION = {
    **_DECLARATION_NAMED,
    "listing_id": "The declaration (listing).",
    "owner_id": "The patentee organization.",
    "application_numbers": "The declared patents.",
    "announcement_number": "The office's announcement number of the declaration.",
    "announcement_date": "The office's announcement date.",
    "announcement_source": "`office`, or `platform_assigned` for numbers the platform minted "
    "before it stopped doing so.",
}
_WITHDRAWAL_REQUEST = {
    **_WITHDRAWAL_REASON,
    "requested_at": "When the withdrawal was requested.",
    "co_owner_consents": "Each co-owner's written consent: `name`, `consented_on`, `document_ref`.",
}
_LICENSE = {**_LICENSE_NAMED, "license_number": "Its number (`LIC…`)."}
_DISPUTE = {
    "dispute_id": "The dispute.",
    **_LICENSE_NAMED,
    "license_id": "The license in dispute.",
    "reason": "What the dispute is about.",
    "status": "The dispute's status after the change.",
}
_PAYMENT = {
    "payment_id": "The payment.",
    "obligation_id": "The obligation it pays.",
    "amount": "The amount paid, a decimal string.",
    "currency": "Its currency.",
}
_PARTIES = "Licensor and licensee"
_PLEDGE_PARTIES = "Pledgee and pledgor"
_DECLARATION_CONCERNED = (
    "The patentee, the holders of licenses under the declaration and the pledgees of its patents"
)

GROUPS: tuple[EventGroup, ...] = (
    EventGroup(
        title="Open-license declarations",
        subject="listing:{id}",
        common=_DECLARATION,
        types={
            T.declaration_published: EventDoc(
                "The patentee",
                "The office's announcement was recorded: the declaration is in force.",
                {
                    "fee_reductions": "Per patent the annual-fee reduction that applies, the most "
                    "favourable one: `percent`, `basis` (`open_license` or "
                    "`patent_fee_reduction`) and `reason`."
                },
            ),
            T.declaration_withdrawal_requested: EventDoc(
                _DECLARATION_CONCERNED,
                "The patentee requested the withdrawal. The declaration stands, and its offers "
                "can be accepted, until the office announces the withdrawal.",
                _WITHDRAWAL_REQUEST,
            ),
            T.declaration_withdrawal_cancelled: EventDoc(
                _DECLARATION_CONCERNED,
                "The patentee cancelled its withdrawal request before the office announced it: "
                "the declaration simply stays in force.",
                {
                    "reason": "The reason the cancelled request gave.",
                    "requested_at": "When the cancelled request was made.",
                    "cancelled_at": "When it was cancelled.",
                },
            ),
            T.declaration_withdrawn: EventDoc(
                _DECLARATION_CONCERNED,
                "The office's withdrawal announcement was recorded: the declaration ended. "
                "Licenses already granted stand.",
                {
                    **_WITHDRAWAL_REASON,
                    "withdrawal_announcement_number": "The office's withdrawal announcement "
                    "number.",
                    "withdrawal_announcement_date": "Its date.",
                },
            ),
            T.declaration_lapsed: EventDoc(
                _DECLARATION_CONCERNED,
                "A covered patent left force (its term ended, its annual fee went unpaid, it "
                "was invalidated): the declaration ended.",
                {"lapse_reason": "Why."},
            ),
        },
    ),
    EventGroup(
        title="Declarations and pledges (Civil Code art. 444)",
        subject="listing:{id}",
        common={},
        types={
            T.pledge_recorded_on_declared_patent: EventDoc(
                "The licensor and the pledgee",
                "A pledge was registered on a patent whose declaration is in force.",
                {
                    **_ART_444,
                    "pledgee_consented": "Whether the pledge carries the pledgee's consent to "
                    "the declaration.",
                    "suspended": "Whether acceptance of the declaration's offers is now "
                    "suspended (no consent).",
                },
            ),
            T.declaration_suspended: EventDoc(
                "The licensor",
                "Acceptance of the declaration's offers is suspended (409 "
                "`declaration_suspended_by_pledge`) until the pledgee consents or the pledge "
                "ends. Licenses granted before stand.",
                _ART_444,
            ),
            T.declaration_resumed: EventDoc(
                "The licensor",
                "No pledge without consent is left on the declaration: its offers can be "
                "accepted again.",
                {
                    "pledge_id": "The pledge whose consent or end lifted the suspension.",
                    "pledgee_id": "Its pledgee.",
                    "pledgee_name": "The pledgee's name.",
                    **_DECLARATION_ID,
                    "cause": "`pledgee_consented` or `pledge_ended`.",
                },
            ),
        },
    ),
    EventGroup(
        title="Pledges",
        subject="pledge:{id}",
        common={},
        types={
            T.pledge_registered: EventDoc(
                _PLEDGE_PARTIES,
                "The office's registration of the pledge was recorded: it is in effect.",
                _PLEDGE,
            ),
            T.pledge_changed: EventDoc(
                _PLEDGE_PARTIES,
                "A registered pledge's terms changed.",
                {**_PLEDGE, "changes": "Per changed field, `from` and `to`."},
            ),
            T.pledge_cancelled: EventDoc(
                _PLEDGE_PARTIES,
                "The pledge was cancelled; its patents are free.",
                {**_PLEDGE, "reason": "Why (debt paid, pledge realised, waived, void)."},
            ),
            T.pledged_patent_status_changed: EventDoc(
                "The pledgee",
                "A pledged patent's legal status changed.",
                {
                    **_PLEDGED_PATENT,
                    "legal_status_before": "Its legal status before.",
                    "legal_status": "Its legal status now.",
                },
            ),
            T.pledged_patent_fee_changed: EventDoc(
                "The pledgee",
                "A pledged patent's annual-fee standing moved (`paid`, `grace`, `arrears`, "
                "`not_applicable`).",
                {
                    **_PLEDGED_PATENT,
                    "fee_status_before": "The standing before.",
                    "fee_status": "The standing now.",
                    "fee_paid_until": "The date the fees are paid until, or null.",
                },
            ),
            T.pledged_patent_listed: EventDoc(
                "The pledgee",
                "A pledged patent's open-license declaration was published (with the "
                "pledgee's consent).",
                {
                    **_PLEDGED_PATENT,
                    **_DECLARATION_ID,
                    "announcement_number": "The office's announcement number.",
                },
            ),
            T.pledged_patent_licensed: EventDoc(
                "The pledgee",
                "A license on a pledged patent took effect: licensing income to watch.",
                {
                    **_PLEDGED_PATENT,
                    **_LICENSE_NAMED,
                    "licensee_id": "The licensee organization.",
                    "offer": "The accepted offer's terms.",
                },
            ),
        },
    ),
    EventGroup(
        title="Licenses",
        subject="license:{id}",
        common=_LICENSE,
        types={
            T.license_accepted: EventDoc(
                "The licensor",
                "The licensee's written notice of acceptance (Patent Law art. 51).",
                {
                    "status": "`active`, `pending_payment` or `pending_export_review`.",
                    "offer_id": "The accepted offer.",
                    "listing_id": "Its declaration.",
                    "licensee": "The licensee: `id`, `name`, `country`, `credit_code`.",
                    "terms": "The frozen terms accepted.",
                    "terms_sha256": "Their hash.",
                    "payment_due_date": "When the upfront payment is due, or null.",
                    "upfront_fee": "The amount due up front, or null when nothing is.",
                },
            ),
            T.license_in_force: EventDoc(
                _PARTIES,
                "The license took effect.",
                {
                    "effective_date": "The day it took effect.",
                    "expires_on": "The end of its term.",
                    "recordation_deadline": "The last day to record it with the office.",
                    "terms_sha256": "The hash of its terms.",
                    "payment": "The upfront payment it rests on (`payment_id`, `paid_on`, "
                    "`confirmed_on`, `amount`, `currency`), or null.",
                },
            ),
            T.license_lapsed_unpaid: EventDoc(
                _PARTIES,
                "The upfront payment was not made (and confirmed) in time: the license never "
                "took effect, and the licensee may accept the offer again.",
                {
                    "offer_id": "The offer.",
                    "payment_due_date": "The missed due date.",
                },
            ),
            T.license_terminated: EventDoc(
                _PARTIES,
                "The licensee ended the license.",
                {"reason": "Why.", "terminated_at": "When."},
            ),
            T.license_expired: EventDoc(
                _PARTIES, "The license's term ended.", {"expires_on": "The term's end."}
            ),
            T.recordation_deadline_near: EventDoc(
                _PARTIES,
                "Once: the license is not recorded with the office and its recordation "
                "deadline is within 14 days (configurable).",
                {
                    **_RECORDATION_DEADLINE,
                    "days_left": "Days until it.",
                },
            ),
            T.recordation_deadline_passed: EventDoc(
                _PARTIES,
                "Once: the deadline passed without the license being recorded.",
                {
                    **_RECORDATION_DEADLINE,
                    "days_left": "Days until it (negative).",
                },
            ),
            T.license_export_review: EventDoc(
                _PARTIES,
                "The license to a foreign licensee waits for export review.",
                {"export_controls": "What the review must consider."},
            ),
            T.license_export_approved: EventDoc(
                _PARTIES,
                "Export review approved the license.",
                _EXPORT_DECISION,
            ),
            T.license_export_refused: EventDoc(
                _PARTIES,
                "Export review refused the license.",
                _EXPORT_DECISION,
            ),
        },
    ),
    EventGroup(
        title="Payments, obligations and royalty reports",
        subject="payment:{id}, obligation:{id} or royalty_report:{id}",
        common={},
        types={
            T.payment_recorded: EventDoc(
                "The licensor",
                "The licensee recorded a payment; confirm or reject it.",
                {
                    **_PAYMENT,
                    **_LICENSE_ID,
                    "paid_on": "The day it was paid.",
                    "reference": "The licensee's payment reference.",
                },
            ),
            T.payment_confirmed: EventDoc(
                "The licensee",
                "The licensor confirmed receipt.",
                {
                    **_PAYMENT,
                    **_LICENSE_ID,
                    "obligation_status": "The obligation's status now.",
                },
            ),
            T.payment_rejected: EventDoc(
                "The licensee",
                "The licensor has not received it: the amount is open again.",
                {**_PAYMENT, "reason": "The licensor's reason."},
            ),
            T.obligation_overdue: EventDoc(
                _PARTIES,
                "Once: an obligation passed its due date unpaid.",
                {
                    "obligation_id": "The obligation.",
                    "license_id": "Its license.",
                    "kind": "`upfront`, `royalty`, `minimum_shortfall` or `correction`.",
                    "amount": "The amount due.",
                    "currency": "Its currency.",
                    "due_date": "The due date.",
                },
            ),
            T.royalty_report_filed: EventDoc(
                "The licensor",
                "The licensee filed a royalty report.",
                {
                    "report_id": "The report.",
                    "license_id": "Its license.",
                    "license_number": "The license's number.",
                    "period_start": "The period's first day.",
                    "period_end": "Its last day.",
                    "royalty_due": "The royalty computed, a decimal string.",
                    "currency": "Its currency.",
                    "corrects": "The report it corrects, or null.",
                },
            ),
        },
    ),
    EventGroup(
        title="Disputes",
        subject="dispute:{id}",
        common=_DISPUTE,
        types={
            T.dispute_opened: EventDoc(
                _PARTIES, "A party opened a dispute.", {"opened_by_org_id": "Who opened it."}
            ),
            T.dispute_mediation_started: EventDoc(
                _PARTIES,
                "Mediation started.",
                {"mediator_user_id": "The mediator."},
            ),
            T.dispute_resolved: EventDoc(_PARTIES, "Resolved.", {"outcome": "The outcome."}),
            T.dispute_withdrawn: EventDoc(_PARTIES, "Withdrawn by the party that opened it.", {}),
            T.dispute_statement_added: EventDoc(
                _PARTIES,
                "A statement was added.",
                {
                    "statement_id": "The statement.",
                    "author_role": "Whose: `licensor`, `licensee` or `mediator`.",
                },
            ),
        },
    ),
    EventGroup(
        title="Saved searches",
        subject="listing:{id}",
        common={},
        types={
            T.saved_search_matched: EventDoc(
                "The organization whose saved searches match",
                "A newly published declaration matches saved searches (one event per "
                "organization).",
                {
                    "saved_search_id": "The first matching saved search.",
                    "name": "Its name.",
                    "matched_terms": "Its words that the listing has.",
                    **_DECLARATION_NAMED,
                    "saved_searches": "Every matching saved search: `id`, `name`, "
                    "`matched_terms`, `coverage` (the share of its words' weight the listing "
                    "covers, 0-1; 1 without words), `matched_class` (the IPC subclass by which "
                    "a listing in the other language than its words matched it, as the search "
                    "brings such a listing in; null when its words matched).",
                },
            ),
        },
    ),
)

CATALOGUE: dict[EventType, tuple[EventGroup, EventDoc]] = {
    kind: (group, doc) for group in GROUPS for kind, doc in group.types.items()
}


def payload_fields(kind: EventType) -> dict[str, str]:
    """Every field of the payload of ``kind``, with its description."""
    group, doc = CATALOGUE[kind]
    return {**group.common, **doc.fields}


def undocumented(kind: EventType, payload: Mapping[str, object]) -> list[str]:
    """What a payload carries that the catalogue does not describe, or lacks that it does:
    empty when the two agree."""
    documented = payload_fields(kind)
    extra = [f"+{key}" for key in payload if key not in documented]
    missing = [f"-{key}" for key in documented if key not in payload]
    return extra + missing


def markdown(*, heading: str = "###") -> str:
    """The catalogue as Markdown: one section per group, one entry per type."""
    parts: list[str] = []
    for group in GROUPS:
        parts.append(f"{heading} {group.title}\n\nSubject `{group.subject}`.")
        if group.common:
            parts.append(
                "Every payload of this group has:\n\n"
                + "\n".join(f"- `{name}`: {text}" for name, text in group.common.items())
            )
        for kind, doc in group.types.items():
            lines = [f"**`{kind}`** — to: {doc.recipients}. {doc.summary}"]
            if doc.fields:
                lines.append("")
                lines += [f"- `{name}`: {text}" for name, text in doc.fields.items()]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


PAGE_INTRO = """# Events

[Back to the README](../README.md) · [Webhooks](webhooks.md)

<!-- Rendered from marketplace/events/catalogue.py by `python -m marketplace.events.catalogue`;
a test checks this page matches it. -->

An organization reads its events at `GET $API/events` (oldest first; pass `next_cursor` as
`since` to continue) or has them POSTed to its [webhooks](webhooks.md). Each event is
`{"id", "type", "subject", "created_at", "payload"}`, written in the transaction of the change
it describes. Below: every event type, who receives it, and each field of its payload.
Dates are ISO 8601 strings, amounts decimal strings.

"""


def page() -> str:
    """docs/events.md."""
    return PAGE_INTRO + markdown(heading="##")


if __name__ == "__main__":
    sys.stdout.write(page())
