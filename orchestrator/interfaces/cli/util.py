"""What every CLI command shares: an OrchestratorError becomes its message and exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from orchestrator.domain.errors import OrchestratorError


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print the error's what/why/fix on stderr and exit with its code, nothing else."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OrchestratorError as err:
            click.echo(err.render(), err=True)
            sys.exit(err.exit_code)

    return wrapper
