"""The layer contracts (pyproject.toml, docs/architecture.md) hold and refuse a forbidden import."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(
        REPO / "orchestrator", tmp_path / "orchestrator", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_on_the_tree(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("domain/records.py", "import orchestrator.adapters.dns.powerdns", "Layers"),
        ("domain/records.py", "import requests", "The domain is pure"),
        (
            "services/history.py",
            "import orchestrator.devenv",
            "Only the CLI wiring knows the local environment",
        ),
        ("adapters/dns/query.py", "import orchestrator.services.status", "Layers"),
        ("devenv/ports.py", "import orchestrator.services.status", "devenv never imports services"),
    ],
)
def test_a_forbidden_import_is_refused(tree: Path, module: str, line: str, contract: str) -> None:
    target = tree / "orchestrator" / module
    target.write_text(target.read_text() + f"\n{line}  # added by the test\n")
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    broken = [ln for ln in result.stdout.splitlines() if " BROKEN" in ln]
    assert any(contract in ln for ln in broken), result.stdout


# What the pack's process needs beyond its checks: pulumi-policy's pinned speed patches and the
# watch that ends it with whoever started it. Neither decides anything a policy reports.
PACK_PROCESS_HELPERS = {"orchestrator.adapters.pulumi.policy_speed", "orchestrator.adapters.processes"}


def test_the_policy_pack_imports_only_the_domain() -> None:
    """The pack stays a plain CrossGuard pack: stdlib, pulumi_policy and orchestrator.domain
    (and the two process helpers above)."""
    tree = ast.parse((REPO / "policy" / "__main__.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    ours = {m for m in modules if m.split(".")[0] == "orchestrator"} - PACK_PROCESS_HELPERS
    assert ours and all(m.startswith("orchestrator.domain") for m in ours), ours
    third_party = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"orchestrator"}
    assert third_party <= {"pulumi_policy"}, third_party
