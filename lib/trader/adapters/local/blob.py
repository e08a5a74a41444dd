"""A blob in a local file (the candle cache of local runs)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class FileBlob:
    """A local file, replaced atomically (temp file + fsync + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, max_bytes: int) -> bytes | None:
        """At most `max_bytes` + 1 bytes (more means too large); None when there is no file."""
        try:
            with self.path.open("rb") as handle:
                return handle.read(max_bytes + 1)
        except FileNotFoundError:
            return None

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
