"""The stack config keys the orchestrator reads (Pulumi namespaces them by project)."""

NAMESPACE = "orchestrator"
TOPOLOGY_KEY = f"{NAMESPACE}:topology"
ACTIVE_KEY = f"{NAMESPACE}:activeGroups"
