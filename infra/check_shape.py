"""Size limits `make lint` holds the code to: functions in lib/ at most 50 lines, Lambda
handlers at most 20. A long function is a sign of steps that want names of their own.

    python infra/check_shape.py        # prints each offender, exits 1 if there is one
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMITS = ((REPO / "lib", 50), (REPO / "functions", 20))


def long_functions(root: Path, limit: int) -> Iterator[str]:
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    where = path.relative_to(REPO)
                    yield f"{where}:{node.lineno}: {node.name} is {lines} lines (limit {limit})"


def main() -> int:
    found = [line for root, limit in LIMITS for line in long_functions(root, limit)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
