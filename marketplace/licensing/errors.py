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
