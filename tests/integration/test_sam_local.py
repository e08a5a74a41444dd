"""`sam local invoke` stays local: SAM's own code resolves the container's environment.

The SAM CLI pins its own boto3, so it lives in .cache/sam (`make sam-cli`, run by `make test`
before pytest); this test runs SAM's template provider and its LocalLambdaRunner's
environment resolution there, on template.yaml and events/env-local.json, in the environment
infra/sam_local.py gives SAM, starting from a shell that holds real-looking credentials.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAM_PYTHON = REPO / ".cache" / "sam" / "bin" / "python"
ENV_FILE = REPO / "events" / "env-local.json"
FUNCTIONS = ("CycleFunction", "LiquidateFunction")

# Runs inside the SAM CLI's venv: what `sam local invoke` would set in each container.
PROBE = """
import json, sys
import click
from samcli.cli.types import DockerAdditionalHostType
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

template, env_file, host = sys.argv[1:4]
stacks, _ = SamLocalStackProvider.get_stacks(template)
provider = SamFunctionProvider(stacks)
with open(env_file) as f:
    runner = LocalLambdaRunner(None, provider, ".", ".", env_vars_values=json.load(f))
out = {n: runner._make_env_vars(provider.get(n)).resolve() for n in sys.argv[4:]}
add_host = click.Option(["--add-host"], type=DockerAdditionalHostType(), multiple=True)
out["extra_hosts"] = DockerAdditionalHostType().convert(host, add_host, None)
print(json.dumps(out))
"""


def _sam_local():
    spec = importlib.util.spec_from_file_location("sam_local", REPO / "infra" / "sam_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def resolved() -> dict:
    if not SAM_PYTHON.exists():
        pytest.skip("the SAM CLI venv is missing: `make sam-cli` (make test installs it)")
    sam_local = _sam_local()
    shell = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(REPO / ".cache"),
        "AWS_ACCESS_KEY_ID": "AKIAREALLOOKINGKEY00",
        "AWS_SECRET_ACCESS_KEY": "real-looking-secret",
        "AWS_SESSION_TOKEN": "real-looking-token",
        "AWS_PROFILE": "production",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    host = ":".join(sam_local.LINUX_HOST[1:])
    answer = subprocess.run(
        [
            str(SAM_PYTHON),
            "-c",
            PROBE,
            str(REPO / "template.yaml"),
            str(ENV_FILE),
            host,
            *FUNCTIONS,
        ],
        env=sam_local.sam_environment(shell),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", ["CycleFunction", "LiquidateFunction"])
def test_sam_local_when_env_resolved_by_sam_then_moto_endpoint_and_fake_credentials(
    resolved, function
):
    env = resolved[function]
    wanted = json.loads(ENV_FILE.read_text())[function]

    assert (
        env["AWS_ENDPOINT_URL"] == wanted["AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"
    )
    assert {k: env[k] for k in wanted} == wanted  # every value of the env file is applied
    assert (env["EXCHANGE"], env["TRADING_MODE"]) == ("simulated", "PAPER")
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
    assert env["AWS_REGION"] == "us-east-1"
    assert "AWS_SESSION_TOKEN" not in env
    assert "real-looking" not in json.dumps(env)


def test_sam_local_when_on_linux_then_host_docker_internal_maps_to_the_host_gateway(resolved):
    sam_local = _sam_local()
    command = sam_local.sam_command("sam", "CycleFunction", Path("event.json"), "Linux")

    assert resolved["extra_hosts"] == {"host.docker.internal": "host-gateway"}
    assert command[-2:] == list(sam_local.LINUX_HOST)
    assert sam_local.LINUX_HOST[0] not in sam_local.sam_command("sam", "F", Path("e"), "Darwin")
