"""Print the layer files a cold start imports, one path per line, relative to site-packages.

`make package` compiles exactly these to bytecode (unchecked-hash): compiling the whole
layer would push it past 10 MB zipped, and modules never imported gain nothing from it.
Run with the project's virtualenv (same pinned packages as the layer):

    python infra/hot_modules.py > .aws-sam/hot_modules.txt
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What a cold start and its first cycle import: the handler, then the bootstrap on AWS.
MODULES = (
    "trader.entrypoints.lambda_cycle",
    "trader.entrypoints.lambda_liquidate",
    "trader.adapters.aws.audit",
    "trader.adapters.aws.dynamo_lock",
    "trader.adapters.aws.dynamo_state",
    "trader.adapters.sim.exchange",
    "trader.adapters.clock",
    "trader.bootstrap",
    "trader.service.cycle",
    "trader.domain.config",
    "trader.settings",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.logging.utils",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.parameters",
)
OPTIONAL = (
    "trader.adapters.coinbase.exchange",
    "trader.adapters.coinbase.credentials",
    "coinbase.rest",
)


def main() -> None:
    sys.path[:0] = [str(REPO / "lib"), str(REPO / "functions" / "cycle")]
    before = set(sys.modules)
    importlib.import_module("app")
    for name in MODULES + OPTIONAL:
        try:
            importlib.import_module(name)
        except ImportError:
            if name not in OPTIONAL:
                raise
    from trader.domain.config import load_config

    load_config()
    roots = [Path(sysconfig.get_paths()["purelib"]), REPO / "lib"]
    found: set[str] = set()
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        for root in roots:
            try:
                found.add(str(Path(file).resolve().relative_to(root.resolve())))
            except ValueError:
                continue
    sys.stdout.write("".join(f"{path}\n" for path in sorted(found)))


if __name__ == "__main__":
    main()
