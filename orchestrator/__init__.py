"""Active-group failover orchestrator."""

__version__ = "0.1.0"
