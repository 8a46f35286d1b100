"""CLI commands that change the active set: switch, add/remove-active-group, and friends."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping

import click

from orchestrator.domain.errors import EXIT_BLOCKED, EXIT_USAGE, ConflictError, UsageError
from orchestrator.interfaces.cli.util import handle_errors

FORMATS = ("table", "json", "markdown")


def _render(plan, fmt: str) -> str:  # noqa: ANN001
    from orchestrator.domain.switch.report import RENDERERS

    return RENDERERS[fmt](plan)


def _change_active_set(
    *,
    stack: str,
    kind: str,
    mode: str,
    to_groups: tuple[str, ...] | None,
    change: Callable[[tuple[str, ...]], tuple[str, ...]] | None,
    dry_run_only: bool,
    fmt: str,
    yes: bool,
    plan_fp: str | None,
    rollback_of: str | None = None,
    overrides: Mapping[str, str] | None = None,
    review_first: bool = False,
) -> None:
    from orchestrator.adapters.files.paths import project_root
    from orchestrator.adapters.state.activeset import require_current
    from orchestrator.domain.switch.plan import check_fingerprint
    from orchestrator.interfaces.switch_wiring import switch_engine, switch_service

    root = project_root()
    require_current(stack, root)  # a stale checkout (shared backend) would plan from the wrong groups
    reviewed = check_fingerprint(plan_fp) if plan_fp else None
    progress = (lambda m: click.echo(m, err=True)) if fmt != "table" else click.echo
    engine = switch_engine(root, stack, overrides)
    if yes and not review_first and not dry_run_only and kind == "switch" and to_groups is not None:
        from orchestrator.services.switch.dryrun import check_request

        current, target = check_request(root, stack, to_groups)  # bad input: exit 2, before the lease
        if target != current:
            # No confirmation to ask: take the lease first and let one preview under it be both
            # the report and the preflight check, which also compares it with --plan's
            # fingerprint (one program run and one refresh fewer).
            service = switch_service(root, stack, progress, overrides, engine=engine)
            outcome = service.execute_unreviewed(
                kind=kind,
                from_groups=current,
                to_groups=target,
                mode=mode,
                show=lambda plan: click.echo(_render(plan, fmt)),
                reviewed_fingerprint=reviewed,
            )
            _summary(outcome, progress)
            return
    dry = engine.plan(kind=kind, to_groups=to_groups, change=change, mode=mode)
    plan = dry.plan
    if dry_run_only:
        click.echo(_render(plan, fmt))
        if plan.blockers:
            sys.exit(EXIT_BLOCKED)
        return
    # Preflight re-runs the pack with the overrides, and audits them.
    service = switch_service(root, stack, progress, overrides, engine=engine)
    if plan.noop:
        service.record_noop(plan)
        click.echo(
            f"{', '.join(plan.to_groups)} already active on stack '{stack}' and served: nothing to do."
        )
        return
    click.echo(_render(plan, fmt))
    service.check_reviewed(plan, reviewed)  # blockers (exit 7), then a changed plan (exit 6)
    if not yes and not click.confirm(f"Proceed with plan {plan.fingerprint}?", default=False):
        click.echo("Aborted: nothing changed.", err=True)
        sys.exit(EXIT_USAGE)
    outcome = service.execute(dry, reviewed_fingerprint=plan.fingerprint, rollback_of=rollback_of)
    _summary(outcome, progress)


def _summary(outcome, echo) -> None:  # noqa: ANN001
    rec = outcome.record
    echo("")
    echo(f"Switch {rec.id} completed: active groups now {', '.join(rec.to_groups)}.")
    for name, secs in outcome.durations.items():
        echo(f"  {name:<17} {secs:6.2f}s")
    echo(f"  {'total':<17} {sum(outcome.durations.values()):6.2f}s")


def _arrow(row: dict) -> str:
    groups = [",".join(row.get("from_groups") or []), ",".join(row.get("to_groups") or [])]
    return " -> ".join(g for g in groups if g)


def register(main: click.Group, stack_option) -> None:  # noqa: ANN001
    fmt_option = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Report format.",
    )
    json_option = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")

    def override_options(fn):  # noqa: ANN001, ANN202 — two options that only make sense together
        fn = click.option(
            "--reason",
            metavar="TEXT",
            help="Why the policy may be bypassed now (required with --override-policy; audited).",
        )(fn)
        return click.option(
            "--override-policy",
            metavar="NAME",
            help="Break-glass: lower exactly this policy of the pack to advisory for this run "
            "(docs/policies.md). Needs --reason; writes the audit event policy.overridden.",
        )(fn)

    @main.command()
    @stack_option
    @click.option("--to", "to", multiple=True, help="Group(s) to make active (repeat for several).")
    @click.option("--dry-run", is_flag=True, help="Walk the steps read-only and print the report.")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--plan", "plan_fp", help="Execute only if the plan still has this fingerprint.")
    @click.option("--failover", is_flag=True, help="Unplanned failover: the active group is down.")
    @click.option("--resume", is_flag=True, help="Finish the interrupted switch of this stack.")
    @click.option("--rollback", is_flag=True, help="Return to the active set before the last switch.")
    @click.option(
        "--verify-delay",
        metavar="SECONDS",
        help="Wait this long before the verify step's health checks "
        "(else $ORCHESTRATOR_VERIFY_DELAY, else the stack's orchestrator:health.verifyDelay, default 0).",
    )
    @click.option(
        "--review-first",
        is_flag=True,
        hidden=True,
        help="Check the plan before the lease even with --yes (the console's switches: a refused "
        "plan is answered at once and leaves no journal record).",
    )
    @override_options
    @fmt_option
    @json_option
    @handle_errors
    def switch(  # noqa: ANN001
        stack,
        to,
        dry_run,
        yes,
        plan_fp,
        review_first,
        failover,
        resume,
        rollback,
        verify_delay,
        override_policy,
        reason,
        fmt,
        as_json,
    ) -> None:
        """Move the active set to --to GROUP: preview, confirm, lease, flip, clean up, verify."""
        from orchestrator.services.policies import check_override

        overrides = check_override(override_policy, reason)  # bad input changes nothing
        if verify_delay is not None:
            import os

            from orchestrator.services.health.config import VERIFY_DELAY_ENV, parse_delay

            parse_delay(verify_delay, "--verify-delay")  # refuse a bad value before anything runs
            os.environ[VERIFY_DELAY_ENV] = (
                verify_delay  # read by the verify step (orchestrator.services.health)
            )
        fmt = "json" if as_json else fmt
        modes = [bool(to), resume, rollback]
        if sum(modes) != 1:
            raise UsageError(
                "say what to switch to",
                "give exactly one of --to GROUP, --resume or --rollback",
                "e.g. `orchestrator switch --to group-b --dry-run`",
            )
        mode = "failover" if failover else "planned"
        if resume:
            _resume(stack, yes, overrides)
            return
        if rollback:
            _rollback(stack, dry_run, fmt, yes, plan_fp, mode, overrides)
            return
        _change_active_set(
            stack=stack,
            kind="switch",
            mode=mode,
            to_groups=tuple(to),
            change=None,
            dry_run_only=dry_run,
            fmt=fmt,
            yes=yes,
            plan_fp=plan_fp,
            overrides=overrides,
            review_first=review_first,
        )

    def group_change_options(fn):  # noqa: ANN001, ANN202 — the options add and remove share
        for option in reversed(
            [
                stack_option,
                click.argument("group"),
                click.option(
                    "--dry-run", is_flag=True, help="Walk the steps read-only and print the report."
                ),
                click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
                click.option(
                    "--plan", "plan_fp", help="Execute only if the plan still has this fingerprint."
                ),
                override_options,
                fmt_option,
                json_option,
                handle_errors,
            ]
        ):
            fn = option(fn)
        return fn

    def change_group(kind: str, change, stack, dry_run, yes, plan_fp, override_policy, reason, fmt, as_json):  # noqa: ANN001
        from orchestrator.services.policies import check_override

        _change_active_set(
            stack=stack,
            kind=kind,
            mode="planned",
            to_groups=None,
            change=change,
            dry_run_only=dry_run,
            fmt="json" if as_json else fmt,
            yes=yes,
            plan_fp=plan_fp,
            overrides=check_override(override_policy, reason),
        )

    @main.command("add-active-group")
    @group_change_options
    def add_active_group(stack, group, **opts) -> None:  # noqa: ANN001
        """Add GROUP to the active set (it starts serving alongside the others)."""
        change_group("add-active-group", lambda cur: tuple(sorted({*cur, group})), stack, **opts)

    @main.command("remove-active-group")
    @group_change_options
    def remove_active_group(stack, group, **opts) -> None:  # noqa: ANN001
        """Remove GROUP from the active set; every affected endpoint is listed before you confirm."""
        from orchestrator.adapters.files.paths import project_root
        from orchestrator.services.deploy import load
        from orchestrator.services.policies import check_override

        check_override(opts["override_policy"], opts["reason"])  # bad flags fail before any I/O
        topology, current = load(project_root(), stack)
        if group not in topology.group_names:
            raise UsageError(
                f"unknown group '{group}'",
                f"stack '{stack}' defines {', '.join(topology.group_names)}",
                "use one of those names",
            )
        if group not in current:
            raise UsageError(
                f"group '{group}' is not active on stack '{stack}'",
                f"the active groups are {', '.join(current)}",
                "nothing to remove; check `orchestrator get-active-groups`",
            )
        if set(current) == {group}:
            raise UsageError(
                f"refusing to remove '{group}': it is the last active group",
                "with no active group every published hostname would resolve to nothing",
                "activate another group first (`orchestrator add-active-group <group>`) or switch: "
                "`orchestrator switch --to <group>`",
            )
        change_group("remove-active-group", lambda cur: tuple(g for g in cur if g != group), stack, **opts)

    @main.command("get-active-groups")
    @stack_option
    @click.option("--json", "as_json", is_flag=True)
    @handle_errors
    def get_active_groups(stack, as_json) -> None:  # noqa: ANN001
        """The active groups: in the stack, and as each zone publishes them."""
        from orchestrator.adapters.files.paths import project_root
        from orchestrator.services.status import status_for_stack

        report = status_for_stack(project_root(), stack)
        data = {"stack": stack, "active_groups": report["active_groups"], "zones": report["zones"]}
        if as_json:
            click.echo(json.dumps(data, indent=2, sort_keys=True))
            return
        click.echo(f"stack '{stack}': {', '.join(data['active_groups'])}")
        for z in data["zones"]:
            click.echo(f"  {z['zone']}: {', '.join(z['active_groups']) or '(none published)'}")

    @main.command()
    @stack_option
    @click.option("--json", "as_json", is_flag=True)
    @click.option("--limit", default=20, show_default=True)
    @handle_errors
    def history(stack, as_json, limit) -> None:  # noqa: ANN001
        """Pulumi's stack history joined with the switch journal."""
        from orchestrator.adapters.files.journal import journal_for
        from orchestrator.adapters.files.paths import project_root
        from orchestrator.adapters.state.history import stack_updates
        from orchestrator.services.history import join_history

        root = project_root()
        updates = stack_updates(root, stack, limit)
        rows = join_history(updates, journal_for(root).list(stack=stack))[:limit]
        if as_json:
            click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
            return
        for r in rows:
            click.echo(
                f"{str(r.get('time') or '-'):<26} v{r.get('version') or '-':<4} {r.get('kind') or '-':<8} "
                f"{r.get('result') or '-':<10} {r.get('switch_id') or '-':<28} "
                f"{_arrow(r)}"
            )

    @main.command()
    @stack_option
    @handle_errors
    def unlock(stack) -> None:  # noqa: ANN001
        """Remove Pulumi stack locks whose holder process died (shows them first)."""
        from orchestrator.adapters.files.paths import project_root
        from orchestrator.adapters.pulumi.locks import clear_stale_locks, is_stale, stack_locks

        root = project_root()
        locks = stack_locks(root, stack)
        if not locks:
            click.echo(f"stack '{stack}' is not locked.")
            return
        for _path, info in locks:
            state = "stale (process gone)" if is_stale(info) else "LIVE"
            click.echo(
                f"lock by pid {info.get('pid')} on {info.get('hostname')} "
                f"since {info.get('timestamp')}: {state}"
            )
        removed = clear_stale_locks(root, stack)
        click.echo(f"removed {len(removed)} stale lock(s).")
        if len(removed) < len(locks):
            raise ConflictError(
                f"stack '{stack}' is still locked by a live process",
                "another update is running",
                "wait for it to finish; never remove a live lock",
            )


def _resume(stack: str, yes: bool, overrides: Mapping[str, str] | None = None) -> None:
    from orchestrator.adapters.files.paths import project_root
    from orchestrator.adapters.state.activeset import adopt_recorded
    from orchestrator.interfaces.switch_wiring import switch_service

    root = project_root()
    service = switch_service(root, stack, click.echo, overrides)
    record = service.unfinished()
    if record is None:
        click.echo(f"No interrupted switch on stack '{stack}': nothing to resume.")
        return
    click.echo(
        f"Resuming {record.id} ({record.kind}: "
        f"{', '.join(record.from_groups)} -> {', '.join(record.to_groups)}), "
        f"next step: {service.journal.next_step(record)}"
    )
    adopt_recorded(root, stack, record, service.audit)  # resumed from another checkout: its flip is live
    outcome = service.resume(record)
    _summary(outcome, click.echo)


def _rollback(
    stack: str,
    dry_run_only: bool,
    fmt: str,
    yes: bool,
    plan_fp: str | None,
    mode: str,
    overrides: Mapping[str, str] | None = None,
) -> None:
    from orchestrator.adapters.files.paths import project_root
    from orchestrator.interfaces.switch_wiring import journal_for

    journal = journal_for(project_root())
    last = journal.unfinished(stack) or journal.last_completed(stack)
    if last is None:
        raise UsageError(
            f"nothing to roll back on stack '{stack}'",
            "the journal has no switch for this stack",
            "use `orchestrator switch --to <group>` to choose the active set directly",
        )
    _change_active_set(
        stack=stack,
        kind="rollback",
        mode=mode,
        to_groups=tuple(last.from_groups),
        change=None,
        dry_run_only=dry_run_only,
        fmt=fmt,
        yes=yes,
        plan_fp=plan_fp,
        rollback_of=last.id,
        overrides=overrides,
    )
