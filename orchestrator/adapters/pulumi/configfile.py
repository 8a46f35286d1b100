"""The active groups in a stack file: a temporary copy for previews, and the in-place update.

A dry-run must not change stacks/: the planned configuration goes to a temporary copy
of the stack file that Pulumi reads with --config-file. A switch that has flipped DNS
records the new active set in stacks/Pulumi.<stack>.yaml, editing only that key so
that comments and layout (and any encrypted secrets) survive for review.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.adapters.pulumi.stackconfig import ACTIVE_KEY, parse_yaml
from orchestrator.domain.errors import ConfigError

_KEY_LINE = re.compile(rf"^(?P<indent>\s*){re.escape(ACTIVE_KEY)}\s*:(?P<rest>.*)$")


def replace_active_groups(text: str, groups: tuple[str, ...]) -> str:
    """The stack file's text with `orchestrator:activeGroups` set to `groups` (block list)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = _KEY_LINE.match(line.rstrip("\n"))
        if not m:
            continue
        indent = m["indent"]
        end = i + 1
        if not m["rest"].strip():  # a block value: consume the more-indented or list lines
            while end < len(lines):
                nxt = lines[end]
                stripped = nxt.strip()
                if stripped and not (nxt.startswith(indent + " ") or nxt.startswith(indent + "-")):
                    break
                if stripped and len(nxt) - len(nxt.lstrip()) < len(indent):
                    break
                end += 1
        block = [f"{indent}{ACTIVE_KEY}:\n"] + [f"{indent}  - {g}\n" for g in groups]
        out = "".join(lines[:i] + block + lines[end:])
        break
    else:
        raise ConfigError(ACTIVE_KEY, "the stack file has no active groups", f"add `{ACTIVE_KEY}: [<group>]`")
    doc = parse_yaml(out) or {}
    if list((doc.get("config") or {}).get(ACTIVE_KEY) or []) != list(groups):
        raise ConfigError(
            ACTIVE_KEY, "could not rewrite the active groups safely", "edit the stack file by hand"
        )
    return out


@contextmanager
def planned_config(stack_file: Path, groups: tuple[str, ...]) -> Iterator[Path]:
    """A temporary copy of the stack file with the planned active groups (removed afterwards)."""
    text = replace_active_groups(stack_file.read_text(), groups)
    fd, name = tempfile.mkstemp(prefix=f"{stack_file.stem}.planned.", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        yield Path(name)
    finally:
        os.unlink(name)


def write_active_groups(stack_file: Path, groups: tuple[str, ...]) -> bool:
    """Record the active set in the stack file, atomically. False when it already says so."""
    old = stack_file.read_text()
    new = replace_active_groups(old, groups)
    if new == old:
        return False
    tmp = stack_file.with_name(stack_file.name + ".tmp")
    with open(tmp, "w") as out:
        out.write(new)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, stack_file)
    return True
