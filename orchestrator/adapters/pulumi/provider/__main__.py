"""`python -m orchestrator.adapters.pulumi.provider <engine-address>`: the plugin's entry point."""

from orchestrator.adapters.pulumi.provider.server import main

main()
