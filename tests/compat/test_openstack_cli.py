"""The real ``openstack`` CLI (python-openstackclient from PyPI) against a live sevres.

The CLI lives in a venv of its own (``make .venv-osc``) so its many dependencies never
mix with ours; SEVRES_OPENSTACK_CLI points at another binary. Every call must exit 0 and
its ``-f json`` output is checked, so a sevres answer the CLI cannot digest fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Api, unique
from tests.server import ADMIN_PASSWORD, Server

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CLI = REPO_ROOT / ".venv-osc" / "bin" / "openstack"


def cli_binary() -> Path:
    """The openstack binary; a missing one fails the run unless CLI tests are skipped."""
    path = Path(os.environ.get("SEVRES_OPENSTACK_CLI") or DEFAULT_CLI)
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if os.environ.get("SEVRES_SKIP_CLI_TESTS") == "1":
        pytest.skip(f"openstack CLI not found at {path} (SEVRES_SKIP_CLI_TESTS=1)")
    pytest.fail(f"openstack CLI not found at {path}: run `make .venv-osc` to install it "
                "(or set SEVRES_OPENSTACK_CLI, or SEVRES_SKIP_CLI_TESTS=1 to skip these tests)",
                pytrace=False)


@dataclass
class Cli:
    """Runs the CLI with a clean environment: only what is given here reaches it."""

    binary: Path
    home: Path
    auth: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "XDG_CONFIG_HOME": str(self.home / ".config"),
               "XDG_CACHE_HOME": str(self.home / ".cache"), "LC_ALL": "C.UTF-8"}
        env.update(self.auth)
        env.update(overrides)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], env=self.env(**env),
                              capture_output=True, text=True, timeout=120, check=False)

    def __call__(self, *args: str, **env: str) -> Any:
        """Runs ``openstack ARGS -f json``; asserts exit 0 and returns the parsed JSON."""
        result = self.run(*args, "-f", "json", **env)
        assert result.returncode == 0, (
            f"openstack {' '.join(args)} exited {result.returncode}\n"
            f"--- stderr ---\n{result.stderr}\n--- stdout ---\n{result.stdout}")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def ok(self, *args: str, **env: str) -> None:
        """Runs a command that prints nothing (add, set, delete, revoke); asserts exit 0."""
        result = self.run(*args, **env)
        assert result.returncode == 0, (
            f"openstack {' '.join(args)} exited {result.returncode}\n"
            f"--- stderr ---\n{result.stderr}\n--- stdout ---\n{result.stdout}")


def env_auth(url: str, username: str = "admin", password: str = ADMIN_PASSWORD,
             project: str = "admin") -> dict[str, str]:
    return {
        "OS_AUTH_URL": f"{url}/v3", "OS_USERNAME": username, "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project, "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3",
    }


@pytest.fixture(scope="module")
def openstack(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """The CLI as the bootstrap admin, configured by OS_* environment variables."""
    binary = cli_binary()
    yield Cli(binary, tmp_path_factory.mktemp("osc-home"), env_auth(server.url))


def by_name(rows: list[dict[str, Any]], name: str, key: str = "Name") -> dict[str, Any]:
    matches = [row for row in rows if row.get(key) == name]
    assert len(matches) == 1, (name, rows)
    return matches[0]


def test_token_issue_and_catalog(openstack: Cli, server: Server) -> None:
    """`token issue` gives a project-scoped token sevres validates, and `catalog list`,
    `service list`, `endpoint list` and `region list` show the bootstrap identity service."""
    token = openstack("token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        check = client.get("/v3/auth/tokens", headers={
            "X-Auth-Token": token["id"], "X-Subject-Token": token["id"]})
    assert check.status_code == 200, check.text

    catalog = openstack("catalog", "list")
    identity = by_name(catalog, "keystone")
    assert identity["Type"] == "identity"
    assert any(e["interface"] == "public" and e["url"].startswith(server.url)
               for e in identity["Endpoints"]), identity

    services = openstack("service", "list")
    service = by_name(services, "keystone")
    assert service["Type"] == "identity"
    endpoints = openstack("endpoint", "list")
    assert {e["Interface"] for e in endpoints if e["Service Name"] == "keystone"} >= {"public"}
    regions = openstack("region", "list")
    assert "RegionOne" in {r["Region"] for r in regions}


def test_projects_users_roles(openstack: Cli, server: Server) -> None:
    """A parent and child project, a user with a password, a member grant that shows in
    `role assignment list --names`, and after `user set --password` the user gets a
    token with the new password (and not with the old one)."""
    parent_name, child_name, user_name = unique("parent"), unique("child"), unique("user")
    parent = openstack("project", "create", "--domain", "default", parent_name)
    assert parent["name"] == parent_name and parent["parent_id"] == "default"
    child = openstack("project", "create", "--domain", "default", "--parent", parent_name,
                      child_name)
    assert child["parent_id"] == parent["id"]
    projects = openstack("project", "list")
    assert {parent_name, child_name} <= {p["Name"] for p in projects}

    user = openstack("user", "create", "--domain", "default", "--password", "first-Pa55word",
                     user_name)
    assert user["name"] == user_name and "password" not in user
    shown = openstack("user", "show", user_name)
    assert shown["id"] == user["id"] and shown["enabled"] is True

    assert "member" in {r["Name"] for r in openstack("role", "list")}
    openstack.ok("role", "add", "--project", child_name, "--user", user_name, "member")
    assignments = openstack("role", "assignment", "list", "--user", user_name,
                            "--project", child_name, "--names")
    assert len(assignments) == 1, assignments
    (assignment,) = assignments
    assert assignment["Role"] == "member"
    assert assignment["User"] == f"{user_name}@Default"
    assert assignment["Project"] == f"{child_name}@Default"

    openstack.ok("user", "set", "--password", "second-Pa55word", user_name)
    as_user = env_auth(server.url, user_name, "second-Pa55word", child_name)
    token = openstack("token", "issue", **as_user)
    assert token["user_id"] == user["id"] and token["project_id"] == child["id"]
    old = openstack.run("token", "issue", "-f", "json",
                        **{**as_user, "OS_PASSWORD": "first-Pa55word"})
    assert old.returncode != 0, old.stdout


def test_domain_lifecycle(openstack: Cli) -> None:
    """`domain create/list/show/set --disable/delete`: a domain must be disabled before
    it can be deleted, and is gone from the list afterwards."""
    name = unique("dom")
    domain = openstack("domain", "create", "--description", "made by the CLI", name)
    assert domain["name"] == name and domain["enabled"] is True
    assert domain["description"] == "made by the CLI"
    assert name in {d["Name"] for d in openstack("domain", "list")}
    assert openstack("domain", "show", name)["id"] == domain["id"]

    openstack.ok("domain", "set", "--disable", name)
    assert openstack("domain", "show", domain["id"])["enabled"] is False
    openstack.ok("domain", "delete", domain["id"])
    assert name not in {d["Name"] for d in openstack("domain", "list")}


def test_token_revoke(openstack: Cli, admin: Api) -> None:
    """`token revoke` revokes the token: validating it afterwards answers 404."""
    token = openstack("token", "issue")["id"]
    openstack.ok("token", "revoke", token)
    check = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert check.status_code == 404, check.text


def cloud_config(server: Server, target: Path) -> Path:
    """A copy of the clouds.yaml ``sevres run`` wrote, with auth_url at the live server."""
    lines = (server.state_dir / "clouds.yaml").read_text().splitlines()
    assert sum(line.strip().startswith("auth_url:") for line in lines) == 1, lines
    rewritten = [line.split("auth_url:")[0] + f"auth_url: {server.url}/v3"
                 if line.strip().startswith("auth_url:") else line for line in lines]
    target.write_text("\n".join(rewritten) + "\n")
    return target


def test_clouds_yaml_written_by_run(openstack: Cli, server: Server, tmp_path: Path) -> None:
    """The clouds.yaml entry `sevres` that `sevres run` writes works as is for the CLI
    (OS_CLOUD=sevres), once its auth_url points at this server's port."""
    config = cloud_config(server, tmp_path / "clouds.yaml")
    cloud_only = Cli(openstack.binary, openstack.home, {
        "OS_CLIENT_CONFIG_FILE": str(config), "OS_CLOUD": "sevres"})
    token = cloud_only("token", "issue")
    assert token["id"]
    assert "admin" in {p["Name"] for p in cloud_only("project", "list")}


def test_project_tags(openstack: Cli) -> None:
    """`project create --tag`, `project set --tag` (adds) and `--remove-tag`, and
    `project list --tags`/`--tags-any`/`--not-tags` list the projects the filters name."""
    first, second = unique("tagged"), unique("tagged")
    tag_a, tag_b = unique("a"), unique("b")
    created = openstack("project", "create", "--domain", "default", "--tag", tag_a, first)
    assert created["tags"] == [tag_a]
    openstack("project", "create", "--domain", "default", "--tag", tag_b, second)
    openstack.ok("project", "set", "--tag", tag_b, first)
    assert sorted(openstack("project", "show", first)["tags"]) == sorted([tag_a, tag_b])

    def listed(*flags: str) -> set[str]:
        return {p["Name"] for p in openstack("project", "list", *flags)} & {first, second}

    assert listed("--tags", tag_a) == {first}
    assert listed("--tags", f"{tag_a},{tag_b}") == {first}
    assert listed("--tags-any", f"{tag_a},{tag_b}") == {first, second}
    assert listed("--tags", tag_b, "--not-tags", tag_a) == {second}
    openstack.ok("project", "set", "--remove-tag", tag_a, first)
    assert listed("--tags", tag_a) == set()
