"""The `marketplace` command as a user meets it: help that wraps, whole error codes, refusals
before any work starts, and start-up that loads only what the command uses."""

import csv
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from sqlmodel import Session
from typer._click import Command as TyperClickCommand
from typer.core import TyperGroup

from marketplace.cli import app
from tests.test_cli import _import_csv, _import_owner, cli_database, runner

# typer ships its own copy of click: its command classes are these.
Command = TyperClickCommand

__all__ = ["cli_database"]  # the fixture, shared with tests/test_cli.py


def _commands(
    command: Command, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Command]]:
    found = [(path, command)]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def _paragraphs(help_text: str | None) -> list[str]:
    """A docstring's paragraphs as a reader sees them: lines joined, code spans unquoted."""
    text = inspect.cleandoc(help_text or "").replace("`", "")
    return [" ".join(paragraph.split()) for paragraph in text.split("\n\n") if paragraph.strip()]


def _lines(output: str) -> list[str]:
    return [" ".join(line.strip(" │╭╮╰╯─").split()) for line in output.splitlines()]


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "marketplace" for p, _ in COMMANDS]
)
def test_help_paragraphs_are_not_broken_where_the_docstring_breaks(
    path: tuple[str, ...], command: Command
) -> None:
    """On a wide terminal every paragraph of a command's help, and the first of each of its
    subcommands', is one line: the docstring's line breaks do not reach the screen."""
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "2000"})
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    expected = _paragraphs(command.help)
    if isinstance(command, TyperGroup):
        expected += [_paragraphs(sub.help)[0] for sub in command.commands.values() if sub.help]
    for paragraph in expected:
        assert any(paragraph in line for line in lines), (paragraph, result.output)


def test_help_wraps_to_a_narrow_terminal() -> None:
    result = runner.invoke(app, ["keys", "--help"], env={"COLUMNS": "60"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 60


def test_import_refuses_an_unknown_organization_before_the_progress_bar(
    cli_database: sa.Engine, tmp_path: Path
) -> None:
    from tests import factories

    assert runner.invoke(app, ["migrate"]).exit_code == 0
    path = _import_csv(tmp_path, factories.application_number())

    result = runner.invoke(app, ["import", "patents", str(path), "--org", "999999"])

    assert result.exit_code == 2
    assert "Organization 999999 does not exist" in result.output
    assert "Importing" not in result.output


def test_import_refuses_a_bad_header_before_the_progress_bar(
    cli_database: sa.Engine, tmp_path: Path
) -> None:
    owner = _import_owner(cli_database)
    path = tmp_path / "patents.csv"
    path.write_text("number,name\n1,2\n", encoding="utf-8")

    result = runner.invoke(app, ["import", "patents", str(path), "--org", str(owner)])

    assert result.exit_code == 2
    assert "Unknown CSV column" in result.output
    assert "Importing" not in result.output


def test_import_refuses_an_unknown_format_before_reading(
    cli_database: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "patents.txt"
    path.write_text("x\n", encoding="utf-8")

    result = runner.invoke(app, ["import", "patents", str(path), "--org", "1", "--format", "xls"])

    assert result.exit_code == 2
    assert "must be csv or jsonl" in result.output
    assert "Importing" not in result.output


def test_row_error_table_shows_whole_codes_and_points_to_the_report(
    cli_database: sa.Engine, tmp_path: Path
) -> None:
    from marketplace.accounts.models import OrganizationKind
    from tests import factories

    owner = _import_owner(cli_database)
    with Session(cli_database) as session:
        other = factories.organization(session, kind=OrganizationKind.university)
        taken = factories.patent(session, owner=other)
        session.commit()
        number = taken.application_number
    path = _import_csv(tmp_path, number)

    narrow = runner.invoke(
        app, ["import", "patents", str(path), "--org", str(owner)], env={"COLUMNS": "80"}
    )

    assert narrow.exit_code == 1, narrow.output
    assert "patent_already_registered" in narrow.output
    assert "--errors FILE" in narrow.output

    report = tmp_path / "errors.csv"
    with_report = runner.invoke(
        app, ["import", "patents", str(path), "--org", str(owner), "--errors", str(report)]
    )
    assert with_report.exit_code == 1
    assert "--errors FILE" not in with_report.output
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [row["code"] for row in rows] == ["patent_already_registered"]


# Start-up: what each command imports ---------------------------------------------------------

WEB = {"fastapi", "uvicorn", "alembic"}
SEARCH = {"jieba", "snowballstemmer"}
LOADED = """
import json, sys
from marketplace.cli import app
sys.argv[0] = "marketplace"
code = 0
try:
    app()
except SystemExit as exit:
    code = exit.code
names = {name.split(".")[0] for name in sys.modules} | set(sys.modules)
print(json.dumps({"code": code, "modules": sorted(names)}))
"""


def _loaded_modules(*args: str) -> set[str]:
    finished = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", LOADED, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    report = json.loads(finished.stdout.splitlines()[-1])
    assert report["code"] in (0, None), finished.stdout + finished.stderr
    return set(report["modules"])


def test_help_reads_no_settings_and_loads_no_database_or_web_code() -> None:
    loaded = _loaded_modules("--help")
    heavy = WEB | SEARCH | {"sqlalchemy", "sqlmodel", "pydantic", "argon2", "pycountry"}
    assert not loaded & heavy
    assert "marketplace.config" not in loaded


def test_sweep_and_audit_verify_load_no_web_or_search_code(cli_database: sa.Engine) -> None:
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    for command in (["sweep"], ["audit", "verify"]):
        loaded = _loaded_modules(*command)
        assert "marketplace.workflows.sweep" in loaded or command != ["sweep"]
        assert not loaded & (WEB | SEARCH | {"argon2", "jose", "httpx"}), command
