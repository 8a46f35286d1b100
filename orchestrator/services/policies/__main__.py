"""`python -m orchestrator.services.policies --stack S [--out FILE]`: the policy config for a
preview by hand, `pulumi preview -s S --policy-pack policy --policy-pack-config FILE`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orchestrator.domain.errors import OrchestratorError
from orchestrator.services.deploy import load
from orchestrator.services.parts import installed
from orchestrator.services.policies.run import policy_run


def main(argv: list[str] | None = None) -> int:
    """Write the policy config for a preview by hand (measured now, valid for a few minutes)."""
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.services.policies", description=main.__doc__
    )
    parser.add_argument("--stack", "-s", default="local")
    parser.add_argument("--out", "-o", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        parts = installed()
        root = parts.project_root()
        topology, active = load(root, args.stack, parts)
        engine = parts.stack_engine(root, args.stack)
        with policy_run(root, engine, topology, active, parts=parts) as run:
            text = json.dumps(run.config, indent=1, sort_keys=True) + "\n"
    except OrchestratorError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
