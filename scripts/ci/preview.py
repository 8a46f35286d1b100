"""CI step: preview every stack a pull request affects, with the policy pack, as ONE comment.

    python scripts/ci/preview.py --base origin/main [--head HEAD] [--out comment.md]

A change to stacks/Pulumi.<stack>.yaml affects that stack; a change to programs/, policy/
or orchestrator/ affects every stack (a new policy is itself previewed against all of them:
the comment then says which stacks it would refuse). Writes the markdown comment and exits
7 when any stack has a mandatory violation, 0 otherwise. Runs the same on a laptop.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from orchestrator.domain.errors import EXIT_BLOCKED, OrchestratorError
from orchestrator.services.review import markdown, review

EVERY_STACK = ("programs/", "policy/", "orchestrator/", "Pulumi.yaml")


def changed_files(repo: Path, base: str, head: str) -> list[str]:
    out = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...{head}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def affected_stacks(repo: Path, files: list[str]) -> list[str]:
    """The stacks whose preview the change can alter (existing stack files only)."""
    present = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (repo / "stacks").glob("Pulumi.*.yaml"))
    if any(f.startswith(EVERY_STACK) for f in files):
        return present
    named = {Path(f).name[len("Pulumi.") : -len(".yaml")] for f in files if f.startswith("stacks/Pulumi.")}
    return [s for s in present if s in named]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the pull request's base (e.g. origin/main)")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--out", type=Path, default=None, help="markdown file [default: stdout]")
    parser.add_argument("--list", action="store_true", help="only print the affected stacks, one a line")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    stacks = affected_stacks(repo, changed_files(repo, args.base, args.head))
    if args.list:
        print("\n".join(stacks))
        return 0
    try:
        reports = [review(repo, stack) for stack in stacks]
    except OrchestratorError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    text = markdown(reports) if stacks else markdown([], title="orchestrator preview: no stack affected")
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    refused = [r["stack"] for r in reports if r["refused"] or r["policy"]["blockers"]]
    if refused:
        print(f"mandatory policy violations in: {', '.join(refused)}", file=sys.stderr)
        return EXIT_BLOCKED
    return 0


if __name__ == "__main__":
    sys.exit(main())
