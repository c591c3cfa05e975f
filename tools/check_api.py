"""The API contract check (`make contract`, so CI's `make test`): fails when

1. docs/openapi.json is not what `python -m sevres.api.openapi` generates from the routes
   (the API surface changed and the description was not regenerated); or
2. a commit changed docs/openapi.json without adding, in the same commit, a line to
   CHANGELOG.md that says ApiImpact (in any case: `ApiImpact:`, `apiimpact:`...).
   Uncommitted changes count as one more commit. A commit that broke the rule can be
   acknowledged afterwards by a CHANGELOG.md line that says ApiImpact and names it by
   its hash (7 characters or more), since history cannot be rewritten.

Usage: python tools/check_api.py [--root DIR] [--history-only]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

DESCRIPTION = "docs/openapi.json"
CHANGELOG = "CHANGELOG.md"
TAG = re.compile(r"apiimpact", re.IGNORECASE)
REGENERATE = "python -m sevres.api.openapi > docs/openapi.json"
ROOT = Path(__file__).resolve().parents[1]


def _run_git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,  # noqa: S603, S607 (git from PATH, fixed arguments)
                          check=check)


def _git(root: Path, *args: str) -> str:
    return _run_git(root, *args).stdout


def _has_head(root: Path) -> bool:
    return _run_git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode == 0


def stale(root: Path) -> str | None:
    """Why docs/openapi.json is not the generated description, or None when it is."""
    from sevres.api import openapi

    try:
        generated = openapi.render(openapi.build(openapi.offline_app().routes))
    except openapi.Undescribed as error:
        return f"{error}\nDescribe them in sevres.api.openapi.OPERATIONS, then: {REGENERATE}"
    path = root / DESCRIPTION
    if not path.is_file():
        return f"{DESCRIPTION} is missing; create it: {REGENERATE}"
    if path.read_text() != generated:
        return (f"{DESCRIPTION} is not the description of the routes the app serves; "
                f"regenerate it: {REGENERATE} (and add an ApiImpact line to {CHANGELOG})")
    return None


def _tagged(added: str) -> bool:
    """Whether a diff adds a line saying ApiImpact."""
    return any(line.startswith("+") and not line.startswith("+++") and TAG.search(line)
               for line in added.splitlines())


def _acknowledged(root: Path, commit: str) -> bool:
    path = root / CHANGELOG
    if not path.is_file():
        return False
    return any(TAG.search(line) and any(
        len(word) >= 7 and commit.startswith(word.lower())
        for word in re.findall(r"[0-9a-fA-F]{7,40}", line))
        for line in path.read_text().splitlines())


def _untracked(root: Path, name: str) -> bool:
    return bool(_git(root, "ls-files", "--others", "--exclude-standard", "--", name).strip())


def _working_tree_violation(root: Path) -> bool:
    """Uncommitted changes to the description without an uncommitted ApiImpact line."""
    has_head = _has_head(root)
    if _untracked(root, DESCRIPTION):
        changed = True
    elif has_head:
        changed = bool(_git(root, "diff", "HEAD", "--", DESCRIPTION).strip())
    else:
        changed = bool(_git(root, "diff", "--cached", "--", DESCRIPTION).strip())
    if not changed:
        return False
    if _untracked(root, CHANGELOG):
        return not TAG.search((root / CHANGELOG).read_text())
    diff = _git(root, "diff", "HEAD" if has_head else "--cached", "--", CHANGELOG)
    return not _tagged(diff)


def history_violations(root: Path) -> list[str]:
    """The commits (and the uncommitted changes) that changed docs/openapi.json without
    an ApiImpact line in CHANGELOG.md, oldest first; [] outside a git checkout."""
    inside = _run_git(root, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return []
    found = []
    commits = (_git(root, "log", "--no-merges", "--reverse", "--format=%H", "--",
                    DESCRIPTION).split() if _has_head(root) else [])
    for commit in commits:
        diff = _git(root, "show", "--format=", "--unified=0", commit, "--", CHANGELOG)
        if not _tagged(diff) and not _acknowledged(root, commit):
            subject = _git(root, "show", "-s", "--format=%s", commit).strip()
            found.append(f"{commit[:12]} {subject[:72]}")
    if _working_tree_violation(root):
        found.append("(uncommitted changes)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--history-only", action="store_true",
                        help="check only the commit rule, not that the description is fresh")
    args = parser.parse_args(argv)
    failed = False
    if not args.history_only:
        problem = stale(args.root)
        if problem:
            print(f"API contract: {problem}", file=sys.stderr)
            failed = True
    violations = history_violations(args.root)
    if violations:
        print(f"API contract: {DESCRIPTION} changed without a {CHANGELOG} line tagged "
              "ApiImpact in the same commit:", file=sys.stderr)
        for violation in violations:
            print(f"  {violation}", file=sys.stderr)
        print(f"Add to {CHANGELOG} (section Unreleased) a line such as "
              "'- ApiImpact: <what changed in the API>' in the commit that changes the "
              "description; for a commit already made, a line tagged ApiImpact that names "
              "its hash (e.g. '- ApiImpact (1a2b3c4): ...').", file=sys.stderr)
        failed = True
    if not failed:
        print(f"API contract: {DESCRIPTION} is current, and every change to it is in "
              f"{CHANGELOG} (ApiImpact).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
