from marketplace.errors import Conflict, Forbidden, MarketplaceError, NotFound, Unprocessable


class LicenseNotFound(NotFound):
    default_code = "license_not_found"
    title = "License not found"


class SelfLicense(Forbidden):
    default_code = "self_license"
    title = "A licensor cannot license its own patent"


class LicenseAlreadyActive(Conflict):
    default_code = "license_already_active"
    title = "An active license for this offer exists"


class LicenseNotActive(Conflict):
    default_code = "license_not_active"
    title = "License is not active"


class LicenseNotInForce(Conflict):
    default_code = "license_not_in_force"
    title = "The license has not taken effect"


class LicenseLapsedUnpaid(Conflict):
    default_code = "license_lapsed_unpaid"
    title = "The license lapsed: its upfront payment did not come in time"


class OnlyLicenseeTerminates(Forbidden):
    default_code = "only_licensee_can_terminate"
    title = "Only the licensee may terminate an open license"


class IdempotencyKeyReused(Unprocessable):
    default_code = "idempotency_key_reused"
    title = "Idempotency key used for a different request"


class IdempotencyKeyInFlight(Conflict):
    default_code = "idempotency_key_in_flight"
    title = "A request with this idempotency key is in progress"


class PatentNotInForce(Conflict):
    default_code = "patent_not_in_force"
    title = "A covered patent is not in force"


class PatentSuspended(Conflict):
    default_code = "patent_suspended"
    title = "A covered patent is suspended"


class LicenseAlreadyRecorded(Conflict):
    default_code = "license_already_recorded"
    title = "License is already recorded"


class RecordNumberInUse(Conflict):
    default_code = "record_number_in_use"
    title = "Another license carries this recordation number"


class InvalidRecordNumber(Unprocessable):
    default_code = "invalid_record_number"
    title = "Invalid recordation number"


class RecordDateOutOfRange(Unprocessable):
    default_code = "record_date_out_of_range"
    title = "Recordation date outside the license's life"


class SigningKeysMissing(MarketplaceError):
    status_code = 503
    default_code = "signing_keys_unavailable"
    title = "Certificate signing is not configured"


# Royalty reports, obligations and payments ----------------------------------------------------


class RoyaltyReportNotFound(NotFound):
    default_code = "royalty_report_not_found"
    title = "Royalty report not found"


class ObligationNotFound(NotFound):
    default_code = "obligation_not_found"
    title = "Obligation not found"


class PaymentNotFound(NotFound):
    default_code = "payment_not_found"
    title = "Payment not found"


class OnlyLicenseeReports(Forbidden):
    default_code = "only_licensee_reports"
    title = "Only the licensee files royalty reports"


class OnlyLicenseePays(Forbidden):
    default_code = "only_licensee_pays"
    title = "Only the licensee records payments"


class OnlyLicensorConfirms(Forbidden):
    default_code = "only_licensor_confirms"
    title = "Only the licensor confirms or rejects payments"


class LicenseNotRoyaltyBearing(Conflict):
    default_code = "license_not_royalty_bearing"
    title = "This license owes no periodic royalty"


class ReportPeriodOverlaps(Conflict):
    default_code = "report_period_overlaps"
    title = "A report for an overlapping period exists"


class ReportAlreadyCorrected(Conflict):
    default_code = "report_already_corrected"
    title = "The report has been corrected already; correct the latest correction"


class CurrencyMismatch(Unprocessable):
    default_code = "currency_mismatch"
    title = "The currency differs from the license's"


class UnitsRequired(Unprocessable):
    default_code = "units_required"
    title = "The license charges per unit: units are required"


class ProfitRequired(Unprocessable):
    default_code = "profit_required"
    title = "The license takes a share of profit: profit is required"


class PeriodOutsideTerm(Unprocessable):
    default_code = "period_outside_term"
    title = "The period lies outside the license term"


class PeriodNotEnded(Unprocessable):
    default_code = "period_not_ended"
    title = "The period has not ended yet"


class PeriodCrossesLicenseYear(Unprocessable):
    default_code = "period_crosses_license_year"
    title = "A reporting period must lie within one license year"


class CorrectionPeriodMismatch(Unprocessable):
    default_code = "correction_period_mismatch"
    title = "A correction covers exactly the period of the report it corrects"


class AmountTooLarge(Unprocessable):
    default_code = "amount_too_large"
    title = "The computed amount is too large to record"


class ObligationNotPayable(Conflict):
    default_code = "obligation_not_payable"
    title = "The obligation is not open for payment"


class Overpayment(Unprocessable):
    default_code = "overpayment"
    title = "The payment exceeds what is outstanding"


class PaymentDateInFuture(Unprocessable):
    default_code = "payment_date_in_future"
    title = "A payment cannot be dated in the future"


class PaymentBeforeLicense(Unprocessable):
    default_code = "payment_before_license"
    title = "A payment cannot be dated before the license took effect"


class PaymentNotRecorded(Conflict):
    default_code = "payment_not_recorded"
    title = "The payment has been confirmed or rejected already"


class InvalidDateRange(Unprocessable):
    default_code = "invalid_date_range"
    title = "Invalid date range"


# Technology-export review --------------------------------------------------------------------


class ExportControlExists(Conflict):
    default_code = "export_control_exists"
    title = "The category is flagged already"


class ExportControlNotFound(NotFound):
    default_code = "export_control_not_found"
    title = "Export control not found"


class LicenseNotPendingReview(Conflict):
    default_code = "license_not_pending_export_review"
    title = "The license is not waiting for export review"


class DisputeNotFound(NotFound):
    default_code = "dispute_not_found"
    title = "Dispute not found"


class DisputeAlreadyOpen(Conflict):
    default_code = "dispute_already_open"
    title = "A dispute about this license is already open"


class DisputeNotOpen(Conflict):
    default_code = "dispute_not_open"
    title = "Dispute is not open"


class DisputeClosed(Conflict):
    default_code = "dispute_closed"
    title = "Dispute is closed"


class OnlyOpenerWithdraws(Forbidden):
    default_code = "only_opener_can_withdraw"
    title = "Only the party that opened the dispute may withdraw it"


class NotDisputeParticipant(Forbidden):
    default_code = "not_dispute_participant"
    title = "Only the parties and the mediator may add statements"


class MediatorMustBeUser(Forbidden):
    default_code = "mediator_must_be_user"
    title = "A mediator is a person: use a user's token"
