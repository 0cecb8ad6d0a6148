"""Every example of the docs runs as printed: examples/walkthrough.sh holds them all and runs
against a freshly started demo server, and every shell block of the docs that calls the API is
an excerpt of that script."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "walkthrough.sh"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```(?:sh|bash)\n(.*?)```", re.DOTALL)


def _script_without_checks() -> str:
    """The script as the docs print it: without the lines that only check answers."""
    lines = SCRIPT.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.startswith("check "))


def _api_blocks(path: Path) -> list[str]:
    return [
        block.strip()
        for block in SHELL_BLOCK.findall(path.read_text(encoding="utf-8"))
        if "$API" in block
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_api_example_of_the_docs_is_in_the_walkthrough(doc: Path) -> None:
    script = _script_without_checks()
    missing = [block for block in _api_blocks(doc) if block not in script]
    assert not missing, (
        f"{doc.name}: these examples are not in examples/walkthrough.sh as printed, so CI does "
        "not run them:\n\n" + "\n\n".join(missing)
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    """`marketplace serve --demo` on a new SQLite file and a free port, until /healthz answers."""
    port = _free_port()
    env = {
        **os.environ,
        "MARKETPLACE_DATABASE_URL": f"sqlite:///{tmp_path}/walkthrough.db",
        "MARKETPLACE_SECRET_KEY_FILE": str(tmp_path / "secret"),
        "MARKETPLACE_SIGNING_KEYS_DIR": str(tmp_path / "keys"),
        "MARKETPLACE_ENVIRONMENT": "development",
    }
    env.pop("MARKETPLACE_REDIS_URL", None)
    log = (tmp_path / "server.log").open("w")
    command = [sys.executable, "-c", "from marketplace.cli import app; app()", "serve"]
    server = subprocess.Popen(  # noqa: S603
        [*command, "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the demo server did not start in 180 s"
            time.sleep(0.5)
        yield f"{base}/api/v1"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("curl") is None, reason="needs bash and curl"
)
@pytest.mark.skipif(
    bool(os.environ.get("MARKETPLACE_TEST_DATABASE_URL")),
    reason="runs its own server on SQLite; once per CI run is enough",
)
def test_walkthrough_runs_against_a_fresh_demo(demo_server: str) -> None:
    result = subprocess.run(  # noqa: S603
        ["bash", str(SCRIPT)],  # noqa: S607
        env={**os.environ, "API": demo_server},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "every step answered as documented" in result.stderr
