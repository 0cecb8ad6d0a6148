"""The ``marketplace`` command: serve, migrate, create-admin, demo, sweep, keys."""

from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from marketplace import clock
from marketplace.accounts import service as accounts
from marketplace.config import Environment, Settings, get_settings
from marketplace.errors import MarketplaceError
from marketplace.sessions import unit_of_work

app = typer.Typer(
    help="Open-licensing patent marketplace.", no_args_is_help=True, add_completion=False
)
console = Console()
errors = Console(stderr=True)


def _alembic_config() -> Config:
    """alembic.ini beside the package in a source checkout or the image, else in the cwd."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        ini = root / "alembic.ini"
        if ini.is_file():
            config = Config(str(ini))
            config.set_main_option("script_location", str(root / "migrations"))
            return config
    raise typer.BadParameter("alembic.ini not found: run from the project directory.")


def _migrate(revision: str = "head") -> None:
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
    from marketplace.demo import DEMO_PASSWORD, load_demo

    if get_settings().environment is Environment.production:
        raise _fail("the demo data has published passwords; it is not loaded in production.")
    with unit_of_work() as session:
        summary = load_demo(session)
    if not summary.created:
        console.print("Demo data is already loaded.")
        return
    table = Table(title=f"Demo accounts (password: {DEMO_PASSWORD})")
    for column in ("role", "email", "organization"):
        table.add_column(column)
    for row in summary.accounts:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"{summary.patents} patents, {summary.listings} published listings, "
        f"{summary.licenses} licenses, {summary.pledges} registered pledge."
    )
    if summary.api_client:
        client_id, secret = summary.api_client
        console.print(f"Bank API client: client_id={client_id} client_secret={secret}")


@app.command()
def demo() -> None:
    """Load a small realistic demo (universities, patents, listings, SMEs, a bank)."""
    _migrate()
    _load_demo()


@app.command()
def sweep() -> None:
    """Apply what the calendar changes: open licenses lapse when their patents leave force (term
    end, unpaid fee), licenses expire at the end of their term, licenses left unpaid lapse,
    parties hear of recordation deadlines, and pledgees hear of pledged patents whose annual fee
    fell due or went unpaid. Revoked tokens and logins that can no longer be presented are
    forgotten.

    Run it daily (cron, a Kubernetes CronJob)."""
    from marketplace.workflows.sweep import run_daily_sweep

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


def _server_options(settings: Settings, host: str, port: int, workers: int) -> dict[str, Any]:
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
    first broken entry."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from marketplace.audit import service as audit
    from marketplace.db import get_read_engine

    with (
        Session(get_read_engine()) as session,
        Progress(
            TextColumn("Verifying the audit chain"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        head_id, _ = audit.head(session=session)
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
    read at all."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from marketplace.patents.import_models import ImportFormat
    from marketplace.patents.import_reader import detect_format
    from marketplace.patents.import_writer import ImportOutcome
    from marketplace.workflows import imports

    with file.open("rb") as handle:
        head = handle.read(1024)
    try:
        chosen = (
            ImportFormat(file_format)
            if file_format
            else detect_format(filename=file.name, content_type=None, head=head)
        )
    except ValueError:
        raise typer.BadParameter("--format must be csv or jsonl") from None
    with file.open("rb") as handle:
        estimate = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    if chosen is ImportFormat.csv:
        estimate = max(estimate - 1, 0)
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
        task = bar.add_task(f"Importing {file.name}", total=estimate or None)

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
        table = Table(title="Row errors" + (" (first 20)" if len(row_errors) > 20 else ""))
        for column in ("line", "application number", "code", "detail"):
            table.add_column(column)
        for error in row_errors[:20]:
            table.add_row(str(error.line), error.application_number or "", error.code, error.detail)
        console.print(table)
        raise typer.Exit(code=1)


@import_app.command("resume")
def resume_imports() -> None:
    """Run queued import jobs and resume those a dead process left running.

    Safe to repeat: each job continues after its last written chunk."""
    from marketplace.workflows import imports

    resumed = imports.resume_import_jobs(sessions=unit_of_work)
    console.print(f"{len(resumed)} import job(s) run" + (f": {resumed}." if resumed else "."))
