"""tools/check_api.py's commit rule, on throwaway git repositories: every commit that
changes docs/openapi.json adds a CHANGELOG.md line tagged ApiImpact (any case)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_api.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_api", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_api = _tool()


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.test"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, text=True,
                          capture_output=True).stdout


def commit(repo: Path, message: str, **files: str) -> str:
    """Write ``files`` (README, CHANGELOG, DESCRIPTION: the file each names), commit."""
    names = {"README": "README.md", "CHANGELOG": "CHANGELOG.md",
             "DESCRIPTION": "docs/openapi.json"}
    for name, text in files.items():
        path = repo / names[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    commit(tmp_path, "before any description", README="hello\n", CHANGELOG="# Log\n")
    return tmp_path


def run(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), "--root", str(repo), "--history-only"],
                          capture_output=True, text=True, check=False)


def test_a_description_change_without_an_apiimpact_line_fails(repo: Path) -> None:
    sha = commit(repo, "add widgets", DESCRIPTION="{}\n",
                 CHANGELOG="# Log\n- Added widgets.\n")
    assert check_api.history_violations(repo) == [f"{sha[:12]} add widgets"]
    result = run(repo)
    assert result.returncode == 1
    assert "add widgets" in result.stderr and "ApiImpact" in result.stderr


def test_a_lowercase_apiimpact_line_in_the_same_commit_passes(repo: Path) -> None:
    commit(repo, "add widgets", DESCRIPTION="{}\n",
           CHANGELOG="# Log\n- apiimpact: GET /v3/widgets.\n")
    commit(repo, "unrelated", README="hello again\n")
    assert check_api.history_violations(repo) == []
    assert run(repo).returncode == 0


def test_the_line_must_come_in_the_same_commit(repo: Path) -> None:
    """A tagged line added one commit later does not cover the change (unless it names
    the commit); later changes need lines of their own."""
    first = commit(repo, "v1", DESCRIPTION="{}\n",
                   CHANGELOG="# Log\n- ApiImpact: v1.\n")
    second = commit(repo, "v2 untold", DESCRIPTION='{"v": 2}\n')
    commit(repo, "log it late", CHANGELOG="# Log\n- ApiImpact: v1.\n- ApiImpact: v2.\n")
    assert check_api.history_violations(repo) == [f"{second[:12]} v2 untold"]
    commit(repo, "acknowledge", CHANGELOG=f"# Log\n- ApiImpact ({second[:7]}): v2.\n")
    assert check_api.history_violations(repo) == []
    assert first != second


def test_a_commit_that_only_removes_a_tagged_line_does_not_count(repo: Path) -> None:
    commit(repo, "tag", CHANGELOG="# Log\n- ApiImpact: old.\n")
    sha = commit(repo, "change", DESCRIPTION="{}\n", CHANGELOG="# Log\n")
    assert check_api.history_violations(repo) == [f"{sha[:12]} change"]


def test_uncommitted_changes_need_an_uncommitted_line(repo: Path) -> None:
    commit(repo, "v1", DESCRIPTION="{}\n", CHANGELOG="# Log\n- ApiImpact: v1.\n")
    (repo / "docs" / "openapi.json").write_text('{"v": 2}\n')
    assert check_api.history_violations(repo) == ["(uncommitted changes)"]
    (repo / "CHANGELOG.md").write_text("# Log\n- ApiImpact: v1.\n- APIIMPACT: v2.\n")
    assert check_api.history_violations(repo) == []


def test_outside_a_git_checkout_there_is_no_history_to_check(tmp_path: Path) -> None:
    assert check_api.history_violations(tmp_path) == []
