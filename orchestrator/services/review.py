"""A change reviewed before it merges: the preview of a stack with the policy pack, as data and
as the markdown of a pull-request comment (docs/team.md).

Unlike `preview`, a refused preview is a result here, not only an error: the reviewer sees
the changes the pack refused next to the policies that refused them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.domain.errors import OrchestratorError
from orchestrator.services import deploy
from orchestrator.services.policies import Verdict, verdict, violations_from_events

MARKER = "<!-- orchestrator-preview -->"  # finds the one comment CI updates


def review(root: Path, stack: str, overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The preview report of `stack` plus `refused` and a fingerprint; refusals do not raise."""
    try:
        report = deploy.preview(stack, stream=None, overrides=overrides)
        report["refused"] = False
    except OrchestratorError as exc:
        events, changes = getattr(exc, "events", None), getattr(exc, "changes", None)
        if events is None or changes is None:  # not the pack's refusal: a real failure
            raise
        result = verdict(violations_from_events(events), overrides)
        _, active = deploy.load(root, stack)
        report = {
            "stack": stack,
            "active_groups": list(active),
            "changes": deploy.change_rows(changes),
            "summary": {},
            "policy": {"blockers": list(result.blockers), "warnings": list(result.warnings)},
            "refused": True,
        }
    report["fingerprint"] = fingerprint(report)
    return report


def fingerprint(report: Mapping[str, Any]) -> str:
    """16 hex over what a reviewer approves: stack, active set, changes, policy results."""
    keys = ("stack", "active_groups", "changes", "policy")
    text = json.dumps({k: report.get(k) for k in keys}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def override_verdict(report: Mapping[str, Any], overrides: Mapping[str, str]) -> Verdict:
    """The overrides a preview used, with the violations each let through (for the audit)."""
    warnings = report.get("policy", {}).get("warnings", [])
    # services.policies.verdict writes them as "policy NAME OVERRIDDEN (REASON): MESSAGE".
    prefixes = {p: f"policy {p} OVERRIDDEN ({reason}): " for p, reason in overrides.items()}
    return Verdict(
        warnings=tuple(warnings),
        overridden={
            p: tuple(w[len(prefix) :] for w in warnings if w.startswith(prefix))
            for p, prefix in prefixes.items()
        },
    )


def markdown(reports: Iterable[Mapping[str, Any]], title: str = "orchestrator preview") -> str:
    """One pull-request comment for the previews of every affected stack."""
    reports = list(reports)
    refused = [r["stack"] for r in reports if r.get("refused") or r["policy"]["blockers"]]
    head = "refused by the policy pack: " + ", ".join(refused) if refused else "no mandatory violation"
    lines = [MARKER, f"## {title}", "", f"**{len(reports)} stack(s) previewed, {head}.**", ""]
    for r in reports:
        status = "REFUSED" if r["stack"] in refused else "ok"
        lines += [
            f"### stack `{r['stack']}` — {status}",
            "",
            f"active groups: {', '.join(r['active_groups']) or '(none)'} · fingerprint `{r['fingerprint']}`",
            "",
        ]
        if r["changes"]:
            lines += ["| action | endpoint | type | zone |", "|---|---|---|---|"]
            lines += [
                f"| {c['action']} | `{c.get('name') or c.get('resource')}` | {c.get('type') or ''} | "
                f"{c.get('zone') or ''} |"
                for c in r["changes"]
            ]
        else:
            lines.append("No endpoint changes.")
        lines.append("")
        for label, key in (("Blockers (mandatory)", "blockers"), ("Warnings", "warnings")):
            items = r["policy"][key]
            if items:
                lines += [f"**{label}:**", *[f"- {item}" for item in items], ""]
    return "\n".join(lines).rstrip() + "\n"
