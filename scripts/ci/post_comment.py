"""CI step: post the preview comment on the pull request, or update the one posted before.

    python scripts/ci/post_comment.py comment.md

Reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL and the pull request number from
GITHUB_EVENT_PATH (what Actions sets). The comment carrying the orchestrator marker is
edited in place, so a pull request has ONE preview comment however often it is pushed.
Without GITHUB_TOKEN (a laptop) it prints what it would do and changes nothing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import requests

from orchestrator.services.review import MARKER

TIMEOUT = 30


def main(argv: list[str]) -> int:
    body = Path(argv[1]).read_text()
    if MARKER not in body:
        body = MARKER + "\n" + body
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        print("GITHUB_TOKEN is not set: not posting (the comment is in " + argv[1] + ")")
        return 0
    api = os.environ.get("GITHUB_API_URL", "").rstrip("/")
    repo = os.environ["GITHUB_REPOSITORY"]
    event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
    number = event["pull_request"]["number"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    url = f"{api}/repos/{repo}/issues/{number}/comments"
    mine = None
    page = 1
    while mine is None:
        resp = requests.get(url, headers=headers, params={"per_page": 100, "page": page}, timeout=TIMEOUT)
        resp.raise_for_status()
        batch = resp.json()
        mine = next((c for c in batch if MARKER in (c.get("body") or "")), None)
        if len(batch) < 100:
            break
        page += 1
    if mine:
        requests.patch(mine["url"], headers=headers, json={"body": body}, timeout=TIMEOUT).raise_for_status()
        print(f"updated the preview comment {mine['html_url']}")
    else:
        resp = requests.post(url, headers=headers, json={"body": body}, timeout=TIMEOUT)
        resp.raise_for_status()
        print(f"posted the preview comment {resp.json()['html_url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
