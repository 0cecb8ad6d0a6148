"""The ``marketplace`` command: serve, migrate, create-admin, demo, sweep."""

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from rich.console import Console
from rich.table import Table

from marketplace import clock
from marketplace.accounts import service as accounts
from marketplace.config import Environment, get_settings
from marketplace.db import unit_of_work
from marketplace.errors import MarketplaceError

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
    end, unpaid fee), licenses expire at the end of their term, and pledgees hear of pledged
    patents whose annual fee fell due or went unpaid.

    Run it daily (cron, a Kubernetes CronJob)."""
    from marketplace.licensing import service as licensing
    from marketplace.listings import service as listings
    from marketplace.pledges import service as pledges

    today = clock.today()
    with unit_of_work() as session:
        lapsed = listings.lapse_expired_declarations(session=session, today=today)
        expired = licensing.expire_licenses(session=session, today=today)
        told = pledges.watch_fee_standing(session=session, today=today)
    console.print(
        f"{len(lapsed)} listing(s) lapsed, {expired} license(s) expired, "
        f"{told} pledgee(s) told of a fee standing change."
    )


@app.command("reindex-search")
def reindex_search() -> None:
    """Rebuild the search index of published listings (after upgrading to the search
    migration, or to repair the index)."""
    from marketplace.matching import service as matching

    with unit_of_work() as session:
        count = matching.reindex_all(session=session)
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
    console.print(f"Serving on http://{host}:{port} (API docs at http://{host}:{port}/docs)")
    uvicorn.run(
        "marketplace.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
    )
