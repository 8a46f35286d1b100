"""The orchestrator's preconditions as code: a Pulumi CrossGuard policy pack.

Pulumi runs it on every preview that names it: `pulumi preview --policy-pack policy` by hand
or in CI, and the orchestrator's dry-run, switch preflight and `orchestrator preview`/`up`.
Every policy is a stack validation: it sees each resource of the stack as it will be after
the update. docs/policies.md explains each policy, why it exists, its config and how to
override it.

Thin on purpose: the checks, the stack view and the catalogue of policies are pure domain
code (orchestrator.domain.policies, the shared rules in orchestrator.domain.rules); this file
only reads config.json (the thresholds) beside it and wires the catalogue into PolicyPack.
What the stack cannot show is measured by the orchestrator just before the preview and
passed in as policy config (orchestrator/services/policy/). A missing measurement is a
violation, never a pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, PolicyPack, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from orchestrator.adapters.processes import exit_with_parent
from orchestrator.adapters.pulumi.policy_speed import apply as speed_up_pulumi_policy
from orchestrator.adapters.pulumi.policy_speed import servicer as pack_servicer
from orchestrator.domain.policies import POLICIES, PolicySpec, StackView, plain, thresholds_from_json, view_of

PACK_NAME = "failover-preconditions"
CONFIG_FILE = Path(__file__).resolve().parent / "config.json"


def load_thresholds(path: Path = CONFIG_FILE) -> dict[str, dict[str, Any]]:
    """config.json beside this file: per policy, its enforcement level and thresholds."""
    return thresholds_from_json(path.read_text())


def view_once(resources: Any) -> StackView:
    """The stack view of one AnalyzeStack's resources, built once for its eight policies.

    pulumi-policy (as patched: orchestrator.adapters.pulumi.policy_speed) hands them all one
    list of the stack's resources, which keeps the view: it goes with the list when the call
    ends, and nothing of one call outlives it. Unpatched, each policy gets a plain list of
    its own and builds its view."""
    view = getattr(resources, "view", None)
    if view is None:
        try:
            view = view_of(resources)
        except UnknownValueError as exc:
            view = exc
        with contextlib.suppress(AttributeError):  # a plain list: nowhere to keep it
            resources.view = view
    if isinstance(view, UnknownValueError):
        raise view
    return view


def _validator(spec: PolicySpec) -> Callable[[Any, Callable[..., None]], None]:
    def validate(args: Any, report_violation: Callable[..., None]) -> None:

        config = plain(args.get_config() or {})
        try:
            view = view_once(args.resources)
        except UnknownValueError as exc:
            # pulumi-policy would turn this into an advisory note: a policy that cannot see
            # must not pass, so it is a violation at the policy's own level.
            report_violation(f"cannot check this update: {exc.message}")
            return
        for finding in spec.check(view, config):
            report_violation(finding.message, finding.urn)

    return validate


def build_policies(thresholds: Mapping[str, Mapping[str, Any]]) -> list[Any]:

    out = []
    for spec in POLICIES:
        given = thresholds.get(spec.name, {})
        # Thresholds from config.json become the schema defaults, so that a preview without
        # --policy-pack-config uses them too; a config file given to Pulumi overrides them.
        props = {k: dict(v, **({"default": given[k]} if k in given else {})) for k, v in spec.schema.items()}
        out.append(
            StackValidationPolicy(
                name=spec.name,
                description=spec.description,
                validate=_validator(spec),
                enforcement_level=EnforcementLevel(given.get("enforcementLevel", spec.default_level)),
                config_schema=PolicyConfigSchema(properties=props) if props else None,
                remediation_steps=spec.remediation or None,
                url="docs/policies.md#" + spec.name,
            )
        )
    return out


DESCRIPTION = "Preconditions of the active-group failover orchestrator (docs/policies.md)"


def analyzer() -> Any | None:
    """The pack's analyzer, for the language host to serve in its own process (named by
    `inProcessAnalyzer` in PulumiPolicy.yaml; docs/engine.md); None when this pulumi-policy
    cannot be served so, and the host starts the pack as a process of its own."""
    policies = build_policies(load_thresholds())
    return pack_servicer(PACK_NAME, policies, EnforcementLevel.MANDATORY, DESCRIPTION)


def main() -> None:

    exit_with_parent()  # whoever started us (language host or engine) may be killed -9
    speed_up_pulumi_policy()  # before the server starts: per-resource calls answered without decoding
    # No initial_config: pulumi-policy 1.21 sends a config without an enforcement level as
    # "advisory", which would silently weaken a mandatory policy. Levels live on the policies.
    PolicyPack(
        name=PACK_NAME,
        policies=build_policies(load_thresholds()),
        enforcement_level=EnforcementLevel.MANDATORY,
        description=DESCRIPTION,
    )


if __name__ == "__main__":
    main()
