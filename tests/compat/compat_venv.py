"""Runs the scripts of tests/compat/clients/ with the Python of ``.venv-compat``, where
openstacksdk, keystoneauth1 and keystonemiddleware are installed (``make .venv-compat``),
apart from sevres's own dependencies. SEVRES_COMPAT_PYTHON points at another interpreter.

A script gets only the environment given here (the server URL and credentials), prints
one JSON object and exits 0; anything else fails the test with the script's stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PYTHON = REPO_ROOT / ".venv-compat" / "bin" / "python"
CLIENTS = Path(__file__).resolve().parent / "clients"


def compat_python() -> Path:
    """The venv's python; a missing one fails the run unless CLI tests are skipped."""
    path = Path(os.environ.get("SEVRES_COMPAT_PYTHON") or DEFAULT_PYTHON)
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if os.environ.get("SEVRES_SKIP_CLI_TESTS") == "1":
        pytest.skip(f"client venv not found at {path} (SEVRES_SKIP_CLI_TESTS=1)")
    pytest.fail(f"client venv not found at {path}: run `make .venv-compat` to install it "
                "(or set SEVRES_COMPAT_PYTHON, or SEVRES_SKIP_CLI_TESTS=1 to skip these tests)",
                pytrace=False)


def run_client(python: Path, script: str, *args: str, stdin: str | None = None,
               home: Path | None = None, **env: str) -> Any:
    """Runs ``clients/SCRIPT ARGS`` with a clean environment plus ``env``; asserts exit 0
    and returns the JSON it printed."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1"}
    if home is not None:
        base.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                     "XDG_CACHE_HOME": str(home / ".cache")})
    result = subprocess.run([str(python), str(CLIENTS / script), *args], input=stdin,
                            env={**base, **env}, capture_output=True, text=True,
                            timeout=180, check=False)
    assert result.returncode == 0, (
        f"{script} {' '.join(args)} exited {result.returncode}\n"
        f"--- stderr ---\n{result.stderr}\n--- stdout ---\n{result.stdout}")
    return json.loads(result.stdout)
