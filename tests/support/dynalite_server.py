"""A dynalite server (an independent, atomic DynamoDB implementation) on a free 127.0.0.1 port.

dynalite is installed by `make dynalite` into <repo>/.cache/dynalite; without node or
that folder the caller skips with the reason returned by `unavailable_reason()`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DYNALITE_DIR = REPO / ".cache" / "dynalite"
_MODULE = DYNALITE_DIR / "node_modules" / "dynalite"
# Listen on port 0 (the OS picks a free port) and print it; dynalite's CLI cannot do that.
_SCRIPT = """
const dynalite = require(process.argv[1]);
const server = dynalite({createTableMs: 20, deleteTableMs: 20, updateTableMs: 20});
server.listen(0, '127.0.0.1', () => { console.log(server.address().port); });
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
"""


def unavailable_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed, so the dynalite race test cannot run"
    if not _MODULE.is_dir():
        return f"dynalite is not installed in {DYNALITE_DIR} (run `make dynalite`)"
    return None


@contextmanager
def dynalite_endpoint() -> Iterator[str]:
    """Start dynalite, yield its http://127.0.0.1:<port> endpoint, stop it on exit."""
    node = shutil.which("node")
    assert node is not None, unavailable_reason()
    process = subprocess.Popen(
        [node, "-e", _SCRIPT, str(_MODULE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the script closes the server when stdin ends
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
