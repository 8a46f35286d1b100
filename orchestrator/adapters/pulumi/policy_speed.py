"""What pulumi-policy (1.21.0) costs a pack of stack policies, and how it is avoided.

The engine calls the pack once per resource (`Remediate`, then `Analyze`) and once per stack
(`AnalyzeStack`). Measured on a 1,000-hostname preview (3,003 resources, eight stack policies):

1. **The per-resource calls** decode every resource (`Remediate`) or re-read the runtime
   settings (`Analyze`), to answer with nothing: the pack has no resource policy. They are
   now answered before they reach Python, by the plugin front (tools/pluginfront, started by
   the language host), which asks the pack for its policies and forwards the calls when
   any of them is a resource policy.
2. **`AnalyzeStack` decodes the whole stack once per policy**: eight times for eight policies.
   Here it is decoded once and the eight policies get the same resources (`PolicyResource`,
   parents and dependencies linked, unknown values still raising), so a validator can also
   build its view of the stack once (policy/__main__.py does).

3. **A process of its own** holds the Python interpreter, gRPC and the SDK again: about
   75 MB at the preview's peak of memory. `servicer()` builds the pack's analyzer without
   serving it, so that the language host serves it in its own process (docs/engine.md,
   "The policy pack runs inside the host").

The patch of 2. is about 1 s of the preview's serial tail. Answers do not change: same
diagnostics, same levels, same not-applicable entries. It applies only to the version
measured; another version runs unpatched (slower, still correct) and a unit test fails so
that the pin and this module move together.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi_policy import policy as pp
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

MEASURED_ON = "1.21.0"
_SERVICER = pp._PolicyAnalyzerServicer
# The library's own methods, before apply(): the unit tests compare answers with them.
ORIGINALS = {name: getattr(_SERVICER, name) for name in ("AnalyzeStack",)}


def _private(servicer: Any, name: str) -> Any:
    """A name-mangled member of the servicer (pinned: see MEASURED_ON)."""
    return getattr(servicer, f"_PolicyAnalyzerServicer__{name}")


def _policies(servicer: Any) -> list[Any]:
    return _private(servicer, "policies")


class StackResources(list):
    """The stack's resources of one AnalyzeStack, one list for all its policies. A validator
    may keep what it derives from them in `view` (policy/__main__.py does): it goes with
    the list when the call ends."""

    __slots__ = ("view",)


def stack_resources(servicer: Any, requested: Any) -> StackResources:
    """The stack's resources as pulumi-policy hands them to a stack validation, decoded once."""
    by_urn: dict[str, Any] = {}
    linked: list[tuple[Any, Any]] = []
    for r in requested:
        props = unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(r.properties)))
        res = pp.PolicyResource(
            r.type,
            props,
            r.urn,
            r.name,
            servicer._get_resource_options(r),
            servicer._get_provider_resource(r),
            None,
            [],
            {},
        )
        by_urn[res.urn] = res
        linked.append((res, r))
    for res, r in linked:
        if r.parent and r.parent in by_urn:
            res.parent = by_urn[r.parent]
        res.dependencies.extend(by_urn[d] for d in r.dependencies if d in by_urn)
        for key, deps in r.propertyDependencies.items():
            res.property_dependencies[key] = [by_urn[d] for d in deps.urns if d in by_urn]
    return StackResources(res for res, _ in linked)


def _analyze_stack(self: Any, request: Any, _context: Any) -> Any:
    self._configure_runtime_settings()
    response = proto.AnalyzeResponse()
    resources: StackResources | None = None
    name = _private(self, "policy_pack_name")
    pack_version = _private(self, "policy_pack_version")
    for policy in _policies(self):
        level = self._get_enforcement_level(policy)
        if level == pp.EnforcementLevel.DISABLED or not isinstance(policy, pp.StackValidationPolicy):
            continue
        if level == pp.EnforcementLevel.REMEDIATE:
            level = pp.EnforcementLevel.MANDATORY  # a stack cannot be remediated
        if resources is None:
            resources = stack_resources(self, request.resources)
        report = self._create_report_violation(
            response, policy.name, policy.description, level, policy.severity
        )
        args = pp.StackValidationArgs(
            resources, self._get_policy_config(policy.name), _private(self, "stack_tags")
        )
        try:
            result = policy.validate(args, report)
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(result)
                finally:
                    loop.close()
        except UnknownValueError as exc:
            # As pulumi-policy reports it: advisory, the policy could not see the value.
            response.diagnostics.append(
                proto.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=name,
                    policyPackVersion=pack_version,
                    message=f"can't run policy '{policy.name}' from policy pack '{name}@v{pack_version}' "
                    f"during preview: {exc.message}",
                    urn="",
                    description=policy.description,
                    enforcementLevel=self._map_enforcement_level(pp.EnforcementLevel.ADVISORY),
                )
            )
        except pp._NotApplicableError as exc:
            response.not_applicable.append(
                proto.PolicyNotApplicable(policy_name=policy.name, reason=exc.reason or "")
            )
    return response


def servicer(
    name: str, policies: list[Any], enforcement_level: pp.EnforcementLevel, description: str
) -> Any | None:
    """The analyzer `pp.PolicyPack(name, policies, enforcement_level, description=...)` would
    serve, built without serving it; None on a pulumi-policy other than the one measured."""
    if not apply():
        return None
    # "0.0.1" as PolicyPack passes it: the CLI takes the version from PulumiPolicy.yaml.
    # pulumi-policy configures the SDK's runtime settings at each call; they are context
    # variables, set on the gRPC thread that serves the call: never the program's thread.
    return _SERVICER(name, "0.0.1", policies, enforcement_level, None, description)


def apply() -> bool:
    """Installs the patches in this (policy pack) process; False on another pulumi-policy."""
    if version("pulumi-policy") != MEASURED_ON:
        return False
    if getattr(_SERVICER, "_orchestrator_patched", False):
        return True
    _SERVICER.AnalyzeStack = _analyze_stack
    _SERVICER._orchestrator_patched = True
    return True
