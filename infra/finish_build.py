"""Finish a `sam build` for a fast, small cold start (run by `make package`).

    python3.12 infra/finish_build.py .aws-sam/build .aws-sam/hot_modules.txt

Run it with the Lambda runtime's Python (bytecode is version-specific). It:
1. removes the package's local-only modules (LOCAL_ONLY: the CLI, the local loop, the file
   and in-memory adapters; the Lambda never imports them), and what the layer never
   imports: the SDK wheel's stray top-level `tests` package, Powertools parts we do not
   use, pydantic.v1, typing stubs, websockets (the Coinbase websocket client) and
   PyYAML's C extension (safe_load is pure Python);
2. compiles to bytecode with unchecked-hash invalidation (SAM ships no .pyc, /opt is
   read-only, so without this every cold start compiles): the whole trader package and
   the handlers keep their sources; the third-party modules a cold start imports
   (hot_modules.txt, from infra/hot_modules.py) are compiled in place of their sources,
   which keeps the layer under 10 MB zipped. Tracebacks in those modules show file and
   line, without the source text.
"""

from __future__ import annotations

import py_compile
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYER = "TraderLayer"
# The package's local-only code: shipped with `pip install`, never in the Lambda layer.
LOCAL_ONLY = (
    "trader/__main__.py",
    "trader/entrypoints/cli.py",
    "trader/entrypoints/audit.py",
    "trader/entrypoints/audit_text.py",
    "trader/entrypoints/liquidation_table.py",
    "trader/entrypoints/runner.py",
    "trader/entrypoints/summary.py",
    "trader/entrypoints/replay.py",
    "trader/entrypoints/replay_plan.py",
    "trader/entrypoints/report.py",
    "trader/entrypoints/report_html.py",
    "trader/entrypoints/report_svg.py",
    "trader/entrypoints/report_text.py",
    "trader/service/report",
    "trader/adapters/aws/audit_reader.py",
    "trader/adapters/local",
    "trader/adapters/memory.py",
)
UNUSED = (
    "tests",
    "websockets",
    "_yaml",
    "pydantic/v1",
    "aws_lambda_powertools/event_handler",
    *(
        f"aws_lambda_powertools/utilities/{name}"
        for name in (
            "auth_alpha",
            "batch",
            "circuit_breaker",
            "data_classes",
            "data_masking",
            "feature_flags",
            "idempotency",
            "kafka",
            "metadata",
            "parser",
            "streaming",
            "validation",
        )
    ),
)


def remove_local_only(site: Path) -> None:
    for relative in LOCAL_ONLY:
        path = site / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def trim(site: Path) -> None:
    remove_local_only(site)
    for relative in UNUSED:
        shutil.rmtree(site / relative, ignore_errors=True)
    for pattern in ("websockets-*.dist-info", "yaml/_yaml*.so", "**/*.pyi"):
        for path in site.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def compile_file(source: Path, *, keep_source: bool) -> None:
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    if keep_source:
        py_compile.compile(str(source), doraise=True, invalidation_mode=mode)
    else:  # sourceless: foo.pyc beside where foo.py was
        py_compile.compile(
            str(source), cfile=str(source.with_suffix(".pyc")), doraise=True, invalidation_mode=mode
        )
        source.unlink()


def main(build_dir: Path, hot_list: Path) -> None:
    site = build_dir / LAYER / "python"
    if not site.is_dir():
        raise SystemExit(f"{site} not found: run `sam build` first")
    trim(site)
    hot = [line.strip() for line in hot_list.read_text().splitlines() if line.strip()]
    compiled = 0
    for relative in hot:
        source = site / relative
        if source.is_file() and not relative.startswith("trader/"):
            compile_file(source, keep_source=False)
            compiled += 1
    own = [*(site / "trader").rglob("*.py")]
    own += [
        p
        for name in ("CycleFunction", "LiquidateFunction")
        for p in (build_dir / name).rglob("*.py")
    ]
    for source in own:
        compile_file(source, keep_source=True)
    trimmed = len(LOCAL_ONLY) + len(UNUSED)
    print(f"trimmed {trimmed} paths; compiled {compiled} hot modules, {len(own)} own files")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
