"""The Pulumi program of this project: the stack's topology -> DNS resources.

Thin on purpose: the mapping lives in orchestrator.stackprogram (importable, tested).
"""

from orchestrator.stackprogram import main

main()
