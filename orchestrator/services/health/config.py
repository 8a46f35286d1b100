"""Health settings of a stack: its `orchestrator:health` (orchestrator.domain.health_config) and
the environment ($ORCHESTRATOR_VERIFY_DELAY, set by `switch --verify-delay`, wins over the file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from orchestrator.domain.health_config import (
    HEALTH_KEY,
    KEYS,
    LATENCY_KEYS,
    MAX_VERIFY_DELAY,
    VANTAGE_KEYS,
    VERIFY_DELAY_ENV,
    HealthConfig,
    LatencySettings,
    Vantage,
    parse_delay,
    parse_health_config,
)
from orchestrator.services.parts import Parts, installed

__all__ = [
    "HEALTH_KEY",
    "KEYS",
    "LATENCY_KEYS",
    "MAX_VERIFY_DELAY",
    "VANTAGE_KEYS",
    "VERIFY_DELAY_ENV",
    "HealthConfig",
    "LatencySettings",
    "Vantage",
    "health_config_for",
    "parse_delay",
    "parse_health_config",
    "verify_delay",
]


def verify_delay(config: HealthConfig, environ: Mapping[str, str] | None = None) -> float:
    """$ORCHESTRATOR_VERIFY_DELAY (set by `switch --verify-delay`) wins over the stack file."""
    env = os.environ if environ is None else environ
    text = env.get(VERIFY_DELAY_ENV)
    if text is None or text == "":
        return config.verify_delay
    return parse_delay(text, VERIFY_DELAY_ENV)


def health_config_for(root: Path, stack: str, parts: Parts | None = None) -> HealthConfig:
    config = (parts or installed()).stack_config(root, stack)
    return parse_health_config(config.get(HEALTH_KEY))
