"""The recorder's session events are installed on purpose, never as a side effect of an import."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _installed_after(code: str) -> str:
    script = f"{code}\nfrom marketplace.audit import recorder\nprint(recorder.is_installed())"
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_the_models_and_the_database_installs_nothing() -> None:
    assert _installed_after("import marketplace.models, marketplace.db, marketplace.sessions") == (
        "False"
    )


def test_the_app_factory_installs_the_recorder() -> None:
    assert _installed_after("from marketplace.main import create_app; create_app()") == "True"


def test_a_unit_of_work_installs_the_recorder(tmp_path: Path) -> None:
    code = (
        "import os\n"
        f"os.environ['MARKETPLACE_DATABASE_URL'] = 'sqlite:///{tmp_path}/uow.db'\n"
        "from marketplace.sessions import unit_of_work\n"
        "with unit_of_work():\n    pass"
    )
    assert _installed_after(code) == "True"


def test_installing_twice_registers_each_listener_once() -> None:
    # Removing each listener once must leave none behind: a second registration would remain.
    code = (
        "import sqlalchemy as sa\nfrom sqlalchemy.orm import Session\n"
        "from marketplace.audit import recorder\n"
        "recorder.install(); recorder.install()\n"
        "for name, listener in recorder._LISTENERS:\n"
        "    sa.event.remove(Session, name, listener)\n"
        "print(any(sa.event.contains(Session, n, f) for n, f in recorder._LISTENERS))"
    )
    assert _installed_after(code).splitlines()[0] == "False"
