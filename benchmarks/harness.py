"""What the benchmark scripts share: the real server on a loopback port, a database of their
own, valid identifiers for seeded data, and percentiles."""

import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from marketplace.accounts import security
from marketplace.accounts.credit_code import credit_code_check_character
from marketplace.accounts.models import User, UserRole
from marketplace.config import get_settings
from marketplace.patents.identifiers import application_check_character

ROOT = Path(__file__).resolve().parent.parent


API = "/api/v1"


PASSWORD = "bench-password-2026"  # noqa: S105 - a throwaway account in a throwaway database


# Fixed (48 characters), so that a server restarted against a kept database accepts the same
# tokens.
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnopqrst"  # noqa: S105


STARTUP_TIMEOUT_S = 60.0


SHUTDOWN_TIMEOUT_S = 15.0


PROVINCES = (
    ("Beijing", "110108"),
    ("Shanghai", "310104"),
    ("Zhejiang", "330106"),
    ("Jiangsu", "320102"),
    ("Guangdong", "440305"),
    ("Hubei", "420111"),
    ("Sichuan", "510107"),
    ("Shaanxi", "610113"),
    ("Shandong", "370212"),
    ("Anhui", "340111"),
)


SURNAMES = ("Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu")


GIVEN_NAMES = ("Wei", "Min", "Jing", "Lei", "Yan", "Tao", "Hui", "Qiang", "Xin", "Fang")


def credit_code(prefix: str, division: str, serial: int) -> str:
    body = f"{prefix}{division}{serial:09d}"
    return body + credit_code_check_character(body)


def admin_user(*, organization_id: int, email: str, full_name: str) -> User:
    """An administrator of the organization who signs in with ``PASSWORD``."""
    return User(
        email=email,
        full_name=full_name,
        organization_id=organization_id,
        role=UserRole.admin,
        password_hash=security.hash_secret(PASSWORD),
    )


def application_number(year: int, type_digit: int, serial: int) -> str:
    digits = f"{year:04d}{type_digit}{serial:07d}"
    return f"{digits}.{application_check_character(digits)}"


def server_admin(server_url: str, statement: str) -> None:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def migrate(database_url: str) -> None:
    # migrations/env.py reads the URL from the settings, as `marketplace migrate` does.
    os.environ["MARKETPLACE_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


# What a seeded enterprise user's token allows: everything acceptance and its reads need.
ENTERPRISE_SCOPES = frozenset({"licenses", "licenses:accept", "listings", "patents"})


def enterprise_tokens(database_url: str) -> list[str]:
    """A bearer token for each user of an enterprise, in user id order, minted as a server with
    ``SECRET_KEY`` would mint them (the secret is set for this process too)."""
    os.environ["MARKETPLACE_SECRET_KEY"] = SECRET_KEY
    get_settings.cache_clear()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            users = connection.execute(
                sa.text(
                    "SELECT u.id, u.organization_id FROM user_account u JOIN organization o "
                    "ON o.id = u.organization_id WHERE o.kind = 'enterprise' ORDER BY u.id"
                )
            ).all()
    finally:
        engine.dispose()
    return [
        security.create_access_token(
            subject=f"user:{user_id}", organization_id=organization_id, scopes=ENTERPRISE_SCOPES
        ).token
        for user_id, organization_id in users
    ]


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    url: str
    label: str
    # The file of a SQLite database; None on PostgreSQL.
    sqlite_path: Path | None = None

    @property
    def postgresql(self) -> bool:
        return self.sqlite_path is None


@contextmanager
def bench_database(
    database_url: str | None, workdir: Path, keep: bool, *, name: str
) -> Iterator[BenchDatabase]:
    """A database that belongs to this run alone, dropped afterwards unless ``keep``: a SQLite
    file ``<name>.db`` in ``workdir`` (or the new file a SQLite URL names), or on the PostgreSQL
    server of ``database_url`` a database ``<name>_<random>`` (the named database is only used to
    connect and is never touched)."""
    if database_url is None or database_url.startswith("sqlite"):
        if database_url is None:
            path = workdir / f"{name}.db"
        else:
            database = make_url(database_url).database
            if not database or database == ":memory:":
                raise SystemExit("error: a SQLite URL must name a file (or omit --database-url)")
            path = Path(database).resolve()
            if path.exists():
                raise SystemExit(f"error: {path} exists; the benchmark only uses a new file")
        try:
            yield BenchDatabase(url=f"sqlite:///{path}", label=f"SQLite {path}", sqlite_path=path)
        finally:
            if keep:
                print(f"kept SQLite database {path}")
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("error: --database-url must be a SQLite or PostgreSQL URL")
    database_name = f"{name}_{secrets.token_hex(6)}"
    server_admin(database_url, f'CREATE DATABASE "{database_name}"')
    bench_url = url.set(database=database_name)
    try:
        yield BenchDatabase(
            url=bench_url.render_as_string(hide_password=False),
            label=f"PostgreSQL {bench_url.render_as_string(hide_password=True)}",
        )
    finally:
        if keep:
            print(f"kept PostgreSQL database {database_name}")
        else:
            server_admin(database_url, f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def marketplace_command() -> str:
    for candidate in (Path(sys.executable).parent / "marketplace", ROOT / ".venv/bin/marketplace"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("marketplace")
    if found is None:
        raise SystemExit("error: the `marketplace` command is not installed (pip install -e .)")
    return found


@dataclass(slots=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def memory_kib(self) -> dict[str, int]:
        """VmHWM (peak resident set) and VmRSS of the server process, in KiB."""
        found: dict[str, int] = {}
        with suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    found[key] = int(value.split()[0])
        return found

    def peak_rss_kib(self) -> int | None:
        return self.memory_kib().get("VmHWM")

    def log_tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextmanager
def running_server(
    database_url: str,
    workdir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "MARKETPLACE_DATABASE_URL": database_url,
        "MARKETPLACE_SECRET_KEY": SECRET_KEY,
        "MARKETPLACE_TOKEN_ATTEMPTS_PER_MINUTE": "100000",
        **(extra_env or {}),
    }
    log_path = workdir / "server.log"
    command_line = [
        marketplace_command(),
        "serve",
        "--no-migrate",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log_path.open("wb") as log:
        # Its own session, so that Ctrl-C reaches only this script, which then stops the
        # server in the finally below. The cwd keeps a stray .env out of the server's settings.
        process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
            command_line,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        wait_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=SHUTDOWN_TIMEOUT_S)


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(base_url=server.base_url, timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise SystemExit(
                    f"error: the server exited with {server.process.returncode}:\n"
                    f"{server.log_tail()}"
                )
            with suppress(httpx.HTTPError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.2)
    raise SystemExit(f"error: no healthy server after {STARTUP_TIMEOUT_S:.0f} s")


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
