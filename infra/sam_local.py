"""`make sam-local`: the real handler in the Lambda image (SAM CLI, Docker) against moto only.

SAM applies an --env-vars file only to variables the template declares, and takes the AWS
credentials and region it hands the container from its own session (the shell's profile or
variables), never from that file. So this runs `sam local invoke` with:

- events/env-local.json (AWS_ENDPOINT_URL to the moto server, EXCHANGE=simulated, PAPER);
  template.yaml declares AWS_ENDPOINT_URL (empty when deployed) so that SAM applies it;
- fake credentials and region in SAM's own environment, with any profile or session token
  removed, so no real credential ever reaches the container;
- on Linux, `--add-host host.docker.internal:host-gateway` (Docker Desktop has that name
  built in; Docker Engine on Linux needs the mapping);
- a scheduled event dated now (events/scheduled.json is dated 2026-11-24, and the handler
  refuses an event outside its window around the clock).

Usage: python infra/sam_local.py [CycleFunction|LiquidateFunction] [extra sam arguments...]
Start moto first: `moto_server -H 0.0.0.0 -p 5000` (DEPLOY.md, Try it offline first).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_FILE = REPO / "events" / "env-local.json"
LOCAL_SAM = REPO / ".cache" / "sam" / "bin" / "sam"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "SAM_CLI_TELEMETRY": "0",
}
REAL_AWS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
LINUX_HOST = ("--add-host", "host.docker.internal:host-gateway")


def sam_environment(shell: dict[str, str]) -> dict[str, str]:
    """The shell's environment with fake AWS credentials and no profile or session token."""
    kept = {k: v for k, v in shell.items() if k not in REAL_AWS and k not in FAKE_AWS}
    return {**kept, **FAKE_AWS}


def scheduled_event_now(now: datetime) -> dict[str, object]:
    """events/scheduled.json dated `now` (whole seconds, UTC), so the handler accepts it."""
    event = json.loads((REPO / "events" / "scheduled.json").read_text(encoding="utf-8"))
    return {**event, "id": f"sam-local-{now:%Y%m%dT%H%M%S}", "time": f"{now:%Y-%m-%dT%H:%M:%SZ}"}


def sam_command(sam: str, function: str, event_path: Path, system: str) -> list[str]:
    command = [sam, "local", "invoke", function, "-e", str(event_path)]
    command += ["--env-vars", str(ENV_FILE)]
    return command + list(LINUX_HOST if system == "Linux" else ())


def main(argv: list[str]) -> None:
    function = argv[0] if argv else "CycleFunction"
    sam = shutil.which("sam") or str(LOCAL_SAM)
    event_path = REPO / ".cache" / "sam-local-event.json"
    event_path.parent.mkdir(parents=True, exist_ok=True)
    if function == "LiquidateFunction":
        event_path = REPO / "events" / "liquidate-dry-run.json"
    else:
        event = scheduled_event_now(datetime.now(UTC))
        event_path.write_text(json.dumps(event), encoding="utf-8")
    command = sam_command(sam, function, event_path, platform.system()) + argv[1:]
    os.execvpe(command[0], command, sam_environment(dict(os.environ)))  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
