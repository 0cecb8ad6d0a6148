"""The ``marketplace`` command: serve, migrate, create-admin, demo, sweep, keys.

Start-up stays quick: this module imports only typer and rich. Each command imports what it
uses (the settings, the database, the domains, the web app, alembic) when it runs, so that
``--help`` reads no settings and ``sweep`` never loads the web framework; a test checks it."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from alembic.config import Config

    from marketplace.config import Settings
    from marketplace.patents.import_models import ImportFormat

# Markdown help: a docstring's paragraphs wrap to the terminal; single line breaks are spaces.
HELP_MARKUP: Literal["markdown"] = "markdown"

app = typer.Typer(
    help="Open-licensing patent marketplace.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=HELP_MARKUP,
)
console = Console()
errors = Console(stderr=True)


def _alembic_config() -> "Config":
    """alembic.ini beside the package in a source checkout or the image, else in the cwd."""
    from alembic.config import Config

    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        ini = root / "alembic.ini"
        if ini.is_file():
            config = Config(str(ini))
            config.set_main_option("script_location", str(root / "migrations"))
            return config
    raise typer.BadParameter("alembic.ini not found: run from the project directory.")


def _migrate(revision: str = "head") -> None:
    from alembic import command

    config = _alembic_config()
    config.attributes["configure_logging"] = False
    command.upgrade(config, revision)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply the database migrations (up to head by default)."""
    _migrate(revision)
    console.print(f"Database at [bold]{revision}[/bold].")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's email (login name).")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted if not given."
        ),
    ],
    full_name: Annotated[str, typer.Option(help="Display name.")] = "Platform admin",
) -> None:
    """Create a platform administrator (verifies organizations, moderates)."""
    from marketplace.accounts import service as accounts
    from marketplace.errors import MarketplaceError
    from marketplace.sessions import unit_of_work

    _migrate()
    try:
        with unit_of_work() as session:
            admin = accounts.create_platform_admin(
                session=session, email=email, password=password, full_name=full_name
            )
    except MarketplaceError as exc:
        raise _fail(exc.detail) from None
    console.print(f"Platform admin [bold]{admin.email}[/bold] created.")


def _load_demo() -> None:
    from marketplace.config import Environment, get_settings
    from marketplace.demo import DEMO_PASSWORD, load_demo
    from marketplace.sessions import unit_of_work

    if get_settings().environment is Environment.production:
        raise _fail("the demo data has published passwords; it is not loaded in production.")
    with unit_of_work() as session:
        summary = load_demo(session)
    table = Table(title=f"Demo accounts (password: {DEMO_PASSWORD})")
    for column in ("role", "email", "organization"):
        table.add_column(column, no_wrap=column == "email")
    for row in summary.accounts:
        table.add_row(*row)
    console.print(table)
    if summary.created:
        console.print(
            f"{summary.patents} patents, {summary.listings} published listings, "
            f"{summary.licenses} licenses, {summary.pledges} registered pledges."
        )
    else:
        console.print("Demo data was already loaded.")
    if summary.api_client:
        client_id, secret = summary.api_client
        shown = (
            secret or f"shown once; `marketplace reset-client-secret {client_id}` makes a new one"
        )
        console.print(
            f"Bank API client: client_id={client_id} client_secret={shown}", soft_wrap=True
        )


@app.command()
def demo() -> None:
    """Load a small realistic demo (universities, patents, listings, SMEs, a bank)."""
    _migrate()
    _load_demo()


@app.command("reset-client-secret")
def reset_client_secret(client_id: Annotated[str, typer.Argument(help="The client_id.")]) -> None:
    """Give an API client a new secret (the old one stops working); printed once, audited."""
    from marketplace.accounts import service as accounts
    from marketplace.errors import MarketplaceError
    from marketplace.sessions import unit_of_work

    _migrate()
    try:
        with unit_of_work() as session:
            _, secret = accounts.reset_api_client_secret(session=session, client_id=client_id)
    except MarketplaceError as exc:
        raise _fail(exc.detail) from None
    console.print(f"client_id={client_id} client_secret={secret}", soft_wrap=True)


@app.command()
def sweep() -> None:
    """Apply what the calendar changes: open licenses lapse when their patents leave force (term
    end, unpaid fee), licenses expire at the end of their term, licenses left unpaid lapse,
    parties hear of recordation deadlines, and pledgees hear of pledged patents whose annual fee
    fell due or went unpaid. Revoked tokens and logins that can no longer be presented are
    forgotten.

    Run it daily (cron, a Kubernetes CronJob)."""
    from marketplace import clock
    from marketplace.audit import service as audit
    from marketplace.sessions import unit_of_work
    from marketplace.workflows.sweep import run_daily_sweep

    with unit_of_work() as session:
        # Apart from the sweep's own transaction: the chain's lock is held until this commits.
        audit.chain_pending(session=session)
    with unit_of_work() as session:
        outcome = run_daily_sweep(session=session, today=clock.today())
    console.print(
        f"{outcome.lapsed_listings} listing(s) lapsed, {outcome.expired_licenses} license(s) "
        f"expired, {outcome.pledgees_told} pledgee(s) told of a fee standing change."
    )
    console.print(
        f"{outcome.lapsed_unpaid_licenses} license(s) lapsed unpaid, "
        f"{outcome.recordation_events} recordation deadline(s) announced."
    )
    console.print(
        f"{outcome.minimum_years_settled} minimum-royalty year(s) settled, "
        f"{outcome.obligations_overdue} obligation(s) overdue."
    )
    console.print(f"{outcome.revocations_purged} expired token revocation(s) forgotten.")


def _ensure_certificate_keys() -> None:
    """Outside production, make the first certificate key before the workers start (or move in
    the keys of the former key directory); in production, warn if there is none (certificates
    answer 503 until `keys rotate`)."""
    from marketplace import signing, signing_keys
    from marketplace.config import Environment, get_settings

    settings = get_settings()
    try:
        signing_keys.load(create=settings.environment is not Environment.production)
    except signing.SigningKeysUnavailable as exc:
        errors.print(f"[yellow]warning:[/yellow] license certificates are disabled: {exc}.")


@app.command("reindex-search")
def reindex_search() -> None:
    """Rebuild the search index of published listings (after upgrading to the search
    migration, or to repair the index)."""
    from marketplace.matching import search_index
    from marketplace.sessions import unit_of_work

    with unit_of_work() as session:
        count = search_index.reindex_all(session=session)
    console.print(f"{count} published listing(s) indexed.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    demo_data: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Load the demo data first.")
    ] = False,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first.")
    ] = True,
) -> None:
    """Apply migrations, then serve the API with uvicorn (docs at /docs)."""
    import uvicorn

    from marketplace.config import get_settings

    settings = get_settings()
    if migrate_first:
        _migrate()
    if demo_data:
        _load_demo()
    # Create the signing secret before workers start, so that they all share one.
    settings.signing_secret()
    _ensure_certificate_keys()
    console.print(f"Serving on http://{host}:{port} (API docs at http://{host}:{port}/docs)")
    uvicorn.run("marketplace.main:create_app", **_server_options(settings, host, port, workers))


def _server_options(settings: "Settings", host: str, port: int, workers: int) -> dict[str, Any]:
    """uvicorn's options: proxy headers are believed only from the configured proxies."""
    proxies = ",".join(part.strip() for part in settings.trusted_proxies.split(",") if part.strip())
    return {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }


keys_app = typer.Typer(
    help="The keys that sign license certificates (published at /.well-known/jwks.json).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key the active one. Older keys stay published, so the certificates
    they signed still verify; every host picks the new key up within
    MARKETPLACE_SIGNING_KEYS_CACHE_SECONDS."""
    from marketplace import signing_keys

    _migrate()
    kid = signing_keys.rotate()
    console.print(f"Active signing key is now [bold]{kid}[/bold] (stored in the database).")


@keys_app.command("import")
def keys_import(
    directory: Annotated[
        Path | None,
        typer.Argument(help="A key directory of the former design (default: the configured one)."),
    ] = None,
) -> None:
    """Move the keys of a key directory into the database, keeping their ids, so that the
    certificates they signed still verify on every host. Running it again adds nothing."""
    from marketplace import signing_keys
    from marketplace.config import get_settings

    _migrate()
    source = directory or get_settings().signing_keys_dir
    added = signing_keys.import_directory(source)
    console.print(f"{len(added)} key(s) moved from {source} into the database.")
    for kid in added:
        console.print(f"  {kid}")


@keys_app.command("list")
def keys_list() -> None:
    """The signing keys: which one signs, and when each was made."""
    from marketplace import signing, signing_keys

    _migrate()
    try:
        key_set = signing_keys.load(create=False)
    except signing.SigningKeysUnavailable as exc:
        raise _fail(str(exc)) from None
    table = Table(title="Signing keys (in the database)")
    for column in ("kid", "algorithm", "created", "state"):
        table.add_column(column, no_wrap=column == "kid")
    for record in signing_keys.records():
        state = "active" if record.kid == key_set.active_kid else "retired (still published)"
        table.add_row(record.kid, record.algorithm, record.created_at.isoformat(), state)
    console.print(table)


audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    batch_size: Annotated[int, typer.Option(min=1, help="Entries read per query.")] = 1000,
) -> None:
    """Check the whole audit chain: every entry's hash, every link, no gaps. Exits 1 at the
    first broken entry. Entries committed but left unchained (by a process that died between
    its commit and their chaining) are chained first."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from sqlmodel import Session

    from marketplace.audit import service as audit
    from marketplace.db import get_read_engine
    from marketplace.sessions import unit_of_work

    with unit_of_work() as session:
        chained = audit.chain_pending(session=session)
    if chained:
        console.print(f"Chained {chained} pending entries.")
    with Session(get_read_engine()) as session:
        # The first read (a missing table, an unreachable database) fails before the bar shows.
        head_id, _ = audit.head(session=session)
        with Progress(
            TextColumn("Verifying the audit chain"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("verify", total=head_id)
            result = audit.verify_chain(
                session=session,
                batch_size=batch_size,
                progress=lambda checked: progress.update(task, completed=checked),
            )
    if not result.ok:
        assert result.reason is not None
        reason = result.reason.value.replace("_", " ")
        raise _fail(
            f"audit chain broken at entry {result.broken_at}: {reason} "
            f"({result.checked} entries before it verified)."
        )
    console.print(
        f"Audit chain intact: {result.checked} entries, head {result.head_id} {result.head_hash}."
    )


webhooks_app = typer.Typer(help="Webhook delivery.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("worker")
def webhooks_worker(
    once: Annotated[
        bool, typer.Option("--once", help="One pass (fan-out, then send what is due), then exit.")
    ] = False,
) -> None:
    """Deliver events to webhooks: poll, sign, send, retry with backoff. Stops cleanly on
    SIGTERM or Ctrl-C (the pass in progress is finished). Run several against PostgreSQL to
    share the load; they never take the same delivery at once."""
    import signal
    import threading

    from marketplace.webhooks.worker import Worker

    worker = Worker()
    try:
        if once:
            result = worker.run_once()
            console.print(
                f"{result.created} delivery(ies) created, {result.attempted} attempt(s), "
                f"{result.succeeded} succeeded."
            )
            return
        stop = threading.Event()

        def request_stop(_signum: int, _frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        console.print("Webhook worker running; SIGTERM or Ctrl-C stops it.")
        worker.run(stop)
        console.print("Webhook worker stopped.")
    finally:
        worker.close()


import_app = typer.Typer(help="Bulk imports (CSV or JSON Lines).", no_args_is_help=True)
app.add_typer(import_app, name="import")

REPORT_COLUMNS = ("line", "application_number", "code", "detail", "fields")


def _write_error_report(path: Path, row_errors: list[Any]) -> None:
    from marketplace import spreadsheets

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = spreadsheets.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for error in row_errors:
            writer.writerow(
                (
                    error.line,
                    error.application_number or "",
                    error.code,
                    error.detail,
                    "; ".join(f"{item.field}: {item.message}" for item in error.errors),
                )
            )


@import_app.command("patents")
def import_patents(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or JSON Lines.")
    ],
    org: Annotated[int, typer.Option("--org", help="Id of the owning organization.")],
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="csv or jsonl; inferred from the file name or content."),
    ] = None,
    errors_path: Annotated[
        Path | None,
        typer.Option("--errors", help="Write every row error to this CSV file."),
    ] = None,
) -> None:
    """Import patents for an organization from CSV or JSON Lines.

    Idempotent by application number; a bad row is reported (line, application number, reason)
    and never stops the others. Exits with 1 when any row failed, 2 when the file could not be
    read at all or the organization cannot own patents. Those are checked before any row is
    written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from marketplace.errors import MarketplaceError
    from marketplace.patents.import_writer import ImportOutcome
    from marketplace.sessions import unit_of_work
    from marketplace.workflows import imports

    chosen = _import_format(file, file_format)
    try:
        imports.check_import(sessions=unit_of_work, owner_id=org, path=file, file_format=chosen)
    except MarketplaceError as exc:
        errors.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=2) from None
    row_errors: list[Any] = []
    with (
        file.open("rb") as stream,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=errors,
        ) as bar,
    ):
        task = bar.add_task(f"Importing {file.name}", total=_count_records(file, chosen) or None)

        def keep_errors(_session: Any, outcome: ImportOutcome) -> None:
            row_errors.extend(outcome.errors)

        try:
            outcome = imports.import_patents(
                sessions=unit_of_work,
                owner_id=org,
                stream=stream,
                file_format=chosen,
                on_chunk=keep_errors,
                progress=lambda rows: bar.advance(task, rows),
            )
        except MarketplaceError as exc:
            errors.print(f"[red]error:[/red] {exc.detail}")
            raise typer.Exit(code=2) from None
    console.print(
        f"{outcome.total_rows} row(s): {outcome.created} created, {outcome.updated} updated, "
        f"{outcome.unchanged} unchanged, {outcome.failed} failed."
    )
    if errors_path is not None:
        _write_error_report(errors_path, row_errors)
        console.print(f"Row errors written to {errors_path}.")
    if row_errors:
        console.print(_row_error_table(row_errors, shown=ROW_ERRORS_SHOWN))
        if errors_path is None:
            console.print("Every row error, with its fields: run again with --errors FILE.")
        raise typer.Exit(code=1)


ROW_ERRORS_SHOWN = 20


def _import_format(file: Path, given: str | None) -> "ImportFormat":
    """The --format given, else the one the file's name or first bytes show."""
    from marketplace.patents.import_models import ImportFormat
    from marketplace.patents.import_reader import detect_format

    if given is not None:
        try:
            return ImportFormat(given)
        except ValueError:
            raise typer.BadParameter("must be csv or jsonl", param_hint="'--format'") from None
    with file.open("rb") as handle:
        head = handle.read(1024)
    return detect_format(filename=file.name, content_type=None, head=head)


def _count_records(file: Path, file_format: "ImportFormat") -> int:
    """About how many records the file holds (its lines, less a CSV header): the bar's total."""
    from marketplace.patents.import_models import ImportFormat

    with file.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0) if file_format is ImportFormat.csv else lines


def _row_error_table(row_errors: list[Any], *, shown: int) -> Table:
    """The first row errors; codes are never cut (the detail column wraps instead)."""
    title = "Row errors" + (
        f" (first {shown} of {len(row_errors)})" if len(row_errors) > shown else ""
    )
    table = Table(title=title)
    table.add_column("line", no_wrap=True, justify="right")
    table.add_column("application number", no_wrap=True)
    longest_code = max(len(error.code) for error in row_errors[:shown])
    table.add_column("code", no_wrap=True, min_width=longest_code)
    table.add_column("detail", ratio=1, overflow="fold")
    for error in row_errors[:shown]:
        table.add_row(str(error.line), error.application_number or "", error.code, error.detail)
    return table


@import_app.command("resume")
def resume_imports() -> None:
    """Run queued import jobs and resume those a dead process left running.

    Safe to repeat: each job continues after its last written chunk."""
    from marketplace.sessions import unit_of_work
    from marketplace.workflows import imports

    resumed = imports.resume_import_jobs(sessions=unit_of_work)
    console.print(f"{len(resumed)} import job(s) run" + (f": {resumed}." if resumed else "."))
