"""Lambda packaging and cold-import benchmark, measured in one run.

    python bench/aws_package.py [--build-dir .aws-sam/build] [--runs 7]

1. Zipped and unzipped size of every artifact in the SAM build folder (`make package`).
2. Cold import time of each handler module in a fresh interpreter, as a ratio to a bare
   `import boto3` in a fresh interpreter, median of --runs. Measured twice: with the
   bytecode that `make package` adds (compileall, unchecked-hash) and with no usable
   bytecode (what SAM ships by default: /opt is read-only, so every cold start compiles).

The imports run on this machine's Python with the project's virtualenv (the same pinned
packages the layer holds), so the ratio is what matters, not the absolute milliseconds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDLERS = {
    "CycleFunction": REPO / "functions" / "cycle",
    "LiquidateFunction": REPO / "functions" / "liquidate",
}
LAYER_LIMIT_ZIPPED = 10 * 1024 * 1024
IMPORT_RATIO_LIMIT = 1.5

_TIMER = (
    "import time, importlib; t = time.perf_counter(); importlib.import_module({module!r}); "
    "print(time.perf_counter() - t)"
)


def folder_sizes(folder: Path) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes) of a folder, zipped the way SAM uploads it (deflate)."""
    raw = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                raw += path.stat().st_size
                archive.write(path, path.relative_to(folder))
    return raw, buffer.tell()


def cold_import_seconds(module: str, path: list[Path], runs: int, *, bytecode: bool) -> float:
    """Median seconds to import `module` in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as empty:
            if not bytecode:  # an empty cache folder: nothing precompiled, nothing written back
                env["PYTHONPYCACHEPREFIX"] = empty
            out = subprocess.run(
                [sys.executable, "-c", _TIMER.format(module=module)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def measure(build_dir: Path, runs: int) -> dict:
    sizes = {}
    if build_dir.is_dir():
        for artifact in sorted(p for p in build_dir.iterdir() if p.is_dir()):
            raw, zipped = folder_sizes(artifact)
            sizes[artifact.name] = {"unzipped_bytes": raw, "zipped_bytes": zipped}
    imports: dict[str, dict[str, float]] = {}
    for bytecode in (True, False):
        label = "with_bytecode" if bytecode else "without_bytecode"
        boto3 = cold_import_seconds("boto3", [], runs, bytecode=bytecode)
        row = {"boto3_s": boto3}
        for name, folder in HANDLERS.items():
            seconds = cold_import_seconds("app", [folder, REPO / "lib"], runs, bytecode=bytecode)
            row[f"{name}_s"] = seconds
            row[f"{name}_ratio"] = seconds / boto3
        imports[label] = row
    return {"python": sys.version.split()[0], "runs": runs, "sizes": sizes, "imports": imports}


def report(result: dict) -> str:
    lines = [f"python {result['python']}, median of {result['runs']} fresh interpreters", ""]
    for name, size in result["sizes"].items():
        zipped, raw = size["zipped_bytes"] / 2**20, size["unzipped_bytes"] / 2**20
        flag = ""
        if name.endswith("Layer"):
            flag = (
                "  (limit 10 MB zipped: "
                + ("ok" if size["zipped_bytes"] < LAYER_LIMIT_ZIPPED else "OVER")
                + ")"
            )
        lines.append(f"{name:20s} {zipped:7.2f} MB zipped {raw:7.2f} MB unzipped{flag}")
    for label, row in result["imports"].items():
        lines.append(f"\n{label}: import boto3 {row['boto3_s'] * 1000:.0f} ms")
        for name in HANDLERS:
            ratio = row[f"{name}_ratio"]
            verdict = "ok" if ratio <= IMPORT_RATIO_LIMIT else "OVER 1.5x"
            lines.append(
                f"  {name:18s} {row[f'{name}_s'] * 1000:6.0f} ms  {ratio:4.2f}x boto3  {verdict}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=REPO / ".aws-sam" / "build")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    result = measure(args.build_dir, args.runs)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
