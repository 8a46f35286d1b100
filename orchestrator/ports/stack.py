"""The stack, as the services other than the switch see it: its config, state and history.

orchestrator.adapters.pulumi implements them (the stack's Pulumi.<stack>.yaml, the engine's
`stack export` and update history); the switch has its own, larger port (ports/switch.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# (root, stack) -> the stack's config, namespaced keys (`orchestrator:topology`, ...)
StackConfigSource = Callable[[Path, str], Mapping[str, Any]]
# (root, stack) -> the stack's newest update summaries (Pulumi's UpdateSummary objects)
StackHistory = Callable[[Path, str], list[Any]]
# the stack's engine (Parts.stack_engine) -> its state (`pulumi stack export` deployment)
StackState = Callable[[Any], Mapping[str, Any] | None]
