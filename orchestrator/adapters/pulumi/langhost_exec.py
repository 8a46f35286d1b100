"""Runs Pulumi's `pulumi-language-python-exec` with the stack config read from a file.

Why: Pulumi hands a Python program its config in the PULUMI_CONFIG environment variable,
and Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN), so a stack of ~900
hostnames with health URLs failed with `[Errno 7] Argument list too long`. The language
host (langhost.py) writes the config to a private file instead; this wrapper puts it in
its own environment (no size limit inside a process), deletes the file, and runs Pulumi's
runner unchanged:

    python -u -m orchestrator.adapters.pulumi.langhost_exec <config-file> <exec-script> <args...>
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

CONFIG_ENV = "PULUMI_CONFIG"
SECRET_KEYS_ENV = "PULUMI_CONFIG_SECRET_KEYS"


def main() -> None:
    config_file, script, *args = sys.argv[1:]
    path = Path(config_file)
    doc = path.read_text()
    path.unlink(missing_ok=True)  # it may hold decrypted secrets: gone as soon as it is read
    config, _, secret_keys = doc.partition("\n")
    os.environ[CONFIG_ENV] = config
    if secret_keys:  # a policy pack may be given none
        os.environ[SECRET_KEYS_ENV] = secret_keys
    sys.argv = [script, *args]
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exit_status(exc.code)
    # The runner has flushed and the engine has its answer; what is left is the interpreter
    # tearing down a heap of thousands of resources (0.4 s at 3,000, on the engine's serial path).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def exit_status(code: object) -> int:
    """The process status `sys.exit(code)` would give (a message is printed, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main()
