"""Settings, read from the environment (prefix ``MARKETPLACE_``) and an optional ``.env`` file."""

import secrets
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


# anyio's default number of worker threads, which FastAPI uses for sync routes and dependencies.
WORKER_THREADS = 40


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MARKETPLACE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = Environment.development
    database_url: str = "sqlite:///./marketplace.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=7, ge=0)
    # Requests inside the app at once (the rest wait in the event loop): at most the connection
    # pool, and below the 40 worker threads that run sync routes (see marketplace.middleware).
    # A request's Python holds the interpreter lock, so a process serves no more at once by
    # letting more in: they only take turns at the lock. Four leave room to overlap database
    # waits; with fifteen, the pages served per second on two cores fell by a third
    # (docs/benchmarks.md, "Requests in flight").
    max_concurrent_requests: int = Field(default=4, ge=1, le=WORKER_THREADS - 1)
    # Sign-ins (password and client-credential grants) inside the app at once, in a pool of
    # their own: each waits for an Argon2 hash, and a flood of them must not take the slots of
    # every other request. Beyond it they queue; the attempt limits below shed the excess.
    max_concurrent_sign_ins: int = Field(default=2, ge=1, le=16)
    # Views and search appearances are counted in memory and written in batches this often by
    # each server process (marketplace.matching.demand_counters); 0 turns the writer off.
    demand_flush_seconds: float = Field(default=2.0, ge=0, le=3600)
    # Unset outside production: generated once and kept in `secret_key_file`, so tokens survive a
    # restart without anybody shipping a default secret.
    secret_key: str | None = Field(default=None, min_length=32)
    secret_key_file: Path = Path(".marketplace-secret")

    jwt_issuer: str = "marketplace"
    jwt_audience: str = "marketplace-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=3_600)

    # Argon2id cost; the defaults follow RFC 9106's second recommended option.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    password_min_length: int = Field(default=10, ge=8)

    # Password and client-secret guessing is throttled per (client address, account).
    # Sign-in attempts per minute: from one address at one account (the first), at one account
    # from anywhere, from one address at any account, and overall.
    token_attempts_per_minute: int = Field(default=10, ge=1)
    sign_in_attempts_per_account_per_minute: int = Field(default=30, ge=1)
    sign_in_attempts_per_address_per_minute: int = Field(default=60, ge=1)
    sign_in_attempts_per_minute: int = Field(default=1200, ge=1)
    # Signups from one address and users added by one organization, per minute: their answers
    # tell whether an e-mail has an account.
    registrations_per_address_per_minute: int = Field(default=5, ge=1)
    members_added_per_organization_per_minute: int = Field(default=20, ge=1)
    # Where those counts live: "database" (shared by every process and host) or "memory" (this
    # process only). With a Redis URL they live in Redis, the database their fallback.
    attempt_windows: Literal["database", "memory"] = "database"
    redis_url: str | None = None

    # Royalty guidance (DOMAIN.md, unverified): exceeding it publishes with a warning.
    guidance_max_lump_sum_cny: Decimal = Decimal("20000000")
    guidance_max_running_rate_percent: Decimal = Decimal("20")
    guidance_max_profit_share_percent: Decimal = Decimal("40")
    # Late-payment (grace) period after the annual fee falls due (Implementing Regulations art. 98).
    annual_fee_grace_months: int = Field(default=6, ge=0, le=12)
    recordation_deadline_months: int = Field(default=3, ge=1)
    # The parties hear of an unrecorded license this many days before its recordation deadline.
    recordation_reminder_days: int = Field(default=14, ge=1, le=90)
    # Days a license whose method asks for money up front waits for that payment (to be made and
    # confirmed by the licensor) before it lapses unpaid.
    license_payment_days: int = Field(default=30, ge=1, le=365)
    open_license_fee_reduction_percent: Decimal = Decimal("15")
    # A search ranks and counts at most this many matches (totals and facets beyond it are
    # lower bounds), so that a frequent word costs what a rare one does. 600 rather than 2,000:
    # on the real records of benchmarks/eval_relevance.py (8,600 listings) same-language
    # precision@10 moved by at most 0.006 while the listings of the other language reached the
    # first pages (across languages 0.14-0.21 -> 0.43-0.60), and a search at a million
    # listings costs half the CPU.
    search_candidate_limit: int = Field(default=600, ge=10, le=100_000)
    # A browse (filters, no words) reuses its facet counts and total for this long in each
    # process (marketplace.matching.facet_cache); 0 counts them on every page.
    browse_facets_seconds: float = Field(default=10.0, ge=0, le=3600)
    # A first page of a search with words (its ranking, facets and total) is reused for this
    # long in each process (marketplace.matching.facet_cache), forgotten when the catalogue
    # changes there; 0 ranks every search afresh.
    search_results_seconds: float = Field(default=10.0, ge=0, le=3600)
    # Saved searches (and the alerts they raise) one organization may keep.
    saved_searches_per_organization: int = Field(default=50, ge=1, le=10_000)

    # License certificates (ES256). The keys live in the database (table signing_key), their
    # private halves encrypted under MARKETPLACE_KEY_ENCRYPTION_KEY (by default a key derived
    # from the service secret), so that every host signs with the same key. Generated on first
    # use outside production; in production created with `marketplace keys rotate`. Keys of the
    # former directory design (one `<kid>.pem` per key and an `active` file) are moved into the
    # database on first use or with `marketplace keys import`.
    signing_keys_dir: Path = Path(".marketplace-keys")
    key_encryption_key: str | None = None
    # How long a process trusts its copy of the key set before reading it again.
    signing_keys_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    certificate_issuer: str = "marketplace"
    jwks_max_age_seconds: int = Field(default=300, ge=0, le=86_400)
    # The office's recordation number as entered, after removing spaces and upper-casing
    # (DOMAIN.md defines no format; configurable).
    recordation_number_pattern: str = r"^[A-Z0-9][A-Z0-9./-]{5,31}$"
    # The office's announcement number of an open-license declaration or its withdrawal, as
    # entered after removing spaces and upper-casing (DOMAIN.md defines no format; configurable).
    announcement_number_pattern: str = r"^[A-Z0-9][A-Z0-9./-]{5,31}$"
    # The office's pledge registration number as entered, normalized the same way (its certificates
    # read like `Y2026980012345`; configurable). `ZL` begins Chinese patent numbers, not
    # registrations: refused, so that a patent number is never recorded as one.
    pledge_registration_number_pattern: str = r"^(?!ZL)[A-Z0-9][A-Z0-9./-]{5,31}$"

    # Webhooks (marketplace.webhooks). Plain http to 127.0.0.1/localhost is for a local receiver
    # in development and tests; production always ignores it and requires https to public hosts.
    webhook_allow_local_http: bool = True
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=8, ge=1, le=30)
    webhook_backoff_base_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff_factor: float = Field(default=2.0, ge=1)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    # Each delay is scaled by a random factor in [1 - jitter, 1 + jitter].
    webhook_backoff_jitter: float = Field(default=0.2, ge=0, lt=1)
    # A claimed delivery not finished within the lease (a worker died) is sent again by another.
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    webhook_poll_interval_seconds: float = Field(default=2.0, gt=0)
    webhook_batch_size: int = Field(default=100, ge=1, le=1000)

    # Bulk patent import (CSV / JSON Lines).
    import_max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Addresses of the reverse proxies whose X-Forwarded-For / -Proto headers are believed
    # (comma-separated IPs or networks, `*` for any). None by default: a client on the same
    # host must not be able to choose the address the sign-in limiter sees.
    trusted_proxies: str = Field(default="", max_length=2000)
    # Every other request body, capped while it is read, before it is parsed.
    max_request_body_bytes: int = Field(default=512 * 1024, ge=1024)
    # Without a valid bearer token no body larger than this is read (signup and sign-in fit).
    anonymous_max_request_body_bytes: int = Field(default=16 * 1024, ge=1024)
    import_max_line_bytes: int = Field(default=1024 * 1024, ge=1024)
    import_chunk_size: int = Field(default=1000, ge=1, le=10_000)
    # A running job whose last progress is older than this is taken to be dead and is resumed.
    import_stale_after_seconds: int = Field(default=600, ge=10)

    @model_validator(mode="after")
    def _requests_fit_the_pool(self) -> "Settings":
        connections = self.database_pool_size + self.database_max_overflow
        in_flight = self.max_concurrent_requests + self.max_concurrent_sign_ins
        if in_flight > connections:
            raise ValueError(
                f"max_concurrent_requests + max_concurrent_sign_ins ({in_flight}) exceeds the "
                f"database pool ({connections} connections)"
            )
        if in_flight >= WORKER_THREADS:
            raise ValueError(
                f"max_concurrent_requests + max_concurrent_sign_ins ({in_flight}) leaves no "
                f"worker thread free ({WORKER_THREADS})"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_explicit_secret(self) -> "Settings":
        if self.environment is Environment.production and not self.secret_key:
            raise ValueError("MARKETPLACE_SECRET_KEY must be set in production")
        return self

    @model_validator(mode="after")
    def _webhook_lease_outlasts_a_request(self) -> "Settings":
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def signing_secret(self) -> str:
        """The configured secret, or the one generated on first run and kept on disk."""
        if self.secret_key:
            return self.secret_key
        path = self.secret_key_file
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        generated = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(generated, encoding="utf-8")
        return generated


@lru_cache
def get_settings() -> Settings:
    return Settings()


class RoyaltySettings(BaseSettings):
    """Reporting and payment terms for licenses whose frozen terms do not state their own
    (environment prefix ``MARKETPLACE_ROYALTY_``)."""

    model_config = SettingsConfigDict(
        env_prefix="MARKETPLACE_ROYALTY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # Running royalties are reported per period of this many months from the effective date.
    reporting_period_months: int = Field(default=3, ge=1, le=12)
    # A report, and the royalty it computes, is due this many days after its period ends.
    report_deadline_days: int = Field(default=30, ge=0, le=365)
    # Upfront fees, minimum-royalty shortfalls and later corrections: days to pay.
    payment_days: int = Field(default=30, ge=0, le=365)

    @model_validator(mode="after")
    def _periods_fit_the_year(self) -> "RoyaltySettings":
        if 12 % self.reporting_period_months:
            raise ValueError("reporting_period_months must divide 12 (1, 2, 3, 4, 6 or 12)")
        return self


@lru_cache
def get_royalty_settings() -> RoyaltySettings:
    return RoyaltySettings()


class MatchSettings(BaseSettings):
    """Weights and bounds of matching needs to listings (environment prefix
    ``MARKETPLACE_MATCH_``). A factor's contribution is its weight times its value in [0, 1]."""

    model_config = SettingsConfigDict(
        env_prefix="MARKETPLACE_MATCH_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    weight_text: float = Field(default=0.35, ge=0, le=10)
    weight_ipc: float = Field(default=0.25, ge=0, le=10)
    weight_budget: float = Field(default=0.15, ge=0, le=10)
    weight_region: float = Field(default=0.05, ge=0, le=10)
    weight_term: float = Field(default=0.1, ge=0, le=10)
    weight_uptake: float = Field(default=0.1, ge=0, le=10)
    # Candidates: at most this many text matches, and this many per IPC interest.
    text_candidates: int = Field(default=500, ge=10, le=10_000)
    ipc_candidates: int = Field(default=200, ge=10, le=10_000)
    # Remaining term reaches 1 at this many years; uptake is n / (n + this) active licenses.
    term_cap_years: int = Field(default=10, ge=1, le=30)
    uptake_half: int = Field(default=3, ge=1, le=100)
    # A listing's demand looks at this many most recent open needs.
    demand_needs: int = Field(default=500, ge=10, le=10_000)


@lru_cache
def get_match_settings() -> MatchSettings:
    return MatchSettings()
