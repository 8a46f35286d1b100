"""The Pulumi program of this project: the stack's topology -> DNS resources.

Thin on purpose: the mapping lives in orchestrator.adapters.pulumi.program (importable, tested).
"""

from orchestrator.adapters.pulumi.program import main

main()
