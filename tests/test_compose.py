"""docker-compose.yml runs the whole service with commands, options and settings that exist.

CI also runs `docker compose config -q` where the compose plugin is installed; these checks need
neither Docker nor an engine."""

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic_settings import BaseSettings
from typer._click import Command as TyperClickCommand
from typer.core import TyperGroup
from typer.testing import CliRunner

from marketplace import config
from marketplace.cli import app

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = ("migrate", "api", "worker", "sweep")
CLI = typer.main.get_command(app)
INVOCATION = re.compile(r"\bmarketplace((?:\s+[a-z0-9][\w.-]*|\s+--?[\w-]+)*)")

# typer ships its own copy of click: its command classes are these.
Command = TyperClickCommand


def _shell(service: dict[str, Any]) -> str:
    """The service's command as one shell text (Compose's `$$` is a literal `$`)."""
    command = service["command"]
    if isinstance(command, str):
        return command.replace("$$", "$")
    if command[:2] == ["sh", "-c"]:
        return str(command[2]).replace("$$", "$")
    return shlex.join(command)


def _invocations(service: dict[str, Any]) -> list[list[str]]:
    return [match.group(1).split() for match in INVOCATION.finditer(_shell(service))]


def _resolve(words: list[str]) -> tuple[list[str], Command, list[str]]:
    """The command path the words name, the command, and the arguments after it."""
    command: Command = CLI
    path: list[str] = []
    for index, word in enumerate(words):
        if isinstance(command, TyperGroup) and word in command.commands:
            command = command.commands[word]
            path.append(word)
        else:
            return path, command, words[index:]
    return path, command, []


def test_the_whole_service_is_there() -> None:
    assert {"db", *APP_SERVICES} <= set(SERVICES)
    commands = {name: _shell(SERVICES[name]) for name in APP_SERVICES}
    assert "marketplace migrate" in commands["migrate"]
    assert "marketplace serve" in commands["api"]
    assert "marketplace webhooks worker" in commands["worker"]
    assert "marketplace sweep" in commands["sweep"]
    assert SERVICES["db"]["image"].startswith("postgres:")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_command_and_option_exists(name: str) -> None:
    invocations = _invocations(SERVICES[name])
    assert invocations, name
    for words in invocations:
        path, command, rest = _resolve(words)
        assert path, (name, words)
        assert not isinstance(command, TyperGroup), (name, words)
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (name, path, result.output)
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for option in (word for word in rest if word.startswith("-")):
            assert option in known, (name, path, option)


@pytest.mark.parametrize("name", [name for name in SERVICES if SERVICES[name].get("command")])
def test_shell_commands_parse(name: str) -> None:
    command = SERVICES[name]["command"]
    if isinstance(command, list) and command[:2] == ["sh", "-c"]:
        subprocess.run(["sh", "-n", "-c", _shell(SERVICES[name])], check=True)  # noqa: S603, S607


def _setting_names() -> set[str]:
    names = set()
    for value in vars(config).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value is not BaseSettings
        ):
            prefix = value.model_config.get("env_prefix", "")
            names |= {(prefix + field).upper() for field in value.model_fields}
    return names


@pytest.mark.parametrize("name", APP_SERVICES)
def test_environment_names_real_settings(name: str) -> None:
    environment = SERVICES[name]["environment"]
    ours = {key for key in environment if key.startswith("MARKETPLACE_")}
    assert {"MARKETPLACE_DATABASE_URL", "MARKETPLACE_SECRET_KEY"} <= ours
    assert ours <= _setting_names(), ours - _setting_names()
    assert environment["MARKETPLACE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:" in environment["MARKETPLACE_DATABASE_URL"]
    # Production refuses to start without a secret; compose refuses to start without one too.
    assert environment["MARKETPLACE_SECRET_KEY"].startswith("${MARKETPLACE_SECRET_KEY:?")


def test_migrations_run_once_after_the_database_and_before_the_rest() -> None:
    assert "healthcheck" in SERVICES["db"]
    assert SERVICES["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("api", "worker", "sweep"):
        depends = SERVICES[name]["depends_on"]
        assert depends == {"migrate": {"condition": "service_completed_successfully"}}, name
    # Only the migrate service migrates: the API would otherwise race it.
    assert "--no-migrate" in SERVICES["api"]["command"]


def test_every_dependency_is_a_service_with_what_its_condition_needs() -> None:
    for name, service in SERVICES.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in SERVICES, (name, target)
            if rule["condition"] == "service_healthy":
                assert "test" in SERVICES[target].get("healthcheck", {}), (name, target)


def test_only_the_api_keeps_the_image_http_healthcheck() -> None:
    """The image's HEALTHCHECK asks the API on port 8000: the other services turn it off."""
    for name in ("migrate", "worker", "sweep"):
        assert SERVICES[name]["healthcheck"] == {"disable": True}, name
    assert "healthcheck" not in SERVICES["api"]
    assert "8000:8000" in SERVICES["api"]["ports"]


def test_the_dockerfile_builds_what_compose_runs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert all(SERVICES[name]["build"] == "." for name in APP_SERVICES)
    # The `marketplace` command on PATH, alembic.ini and the migrations in the working directory.
    assert 'PATH="/opt/venv/bin:$PATH"' in dockerfile
    assert "WORKDIR /app" in dockerfile
    assert "COPY alembic.ini ./" in dockerfile
    assert "COPY migrations ./migrations" in dockerfile
    # The key volume is mounted where the image says the former key directory is.
    assert "MARKETPLACE_SIGNING_KEYS_DIR=/app/keys" in dockerfile
    assert "signing-keys:/app/keys" in SERVICES["migrate"]["volumes"]
    assert "EXPOSE 8000" in dockerfile


def test_the_sweep_runs_daily_and_stops_on_sigterm() -> None:
    sweep = SERVICES["sweep"]
    assert sweep["init"] is True  # the shell loop is not PID 1, so SIGTERM stops it
    script = _shell(sweep)
    assert "while true" in script
    assert "86400" in script
