"""A blob in one S3 object (the candle cache on Lambda)."""

from __future__ import annotations

from typing import Any


class S3Blob:
    """One S3 object (server-side encrypted); `client` is a boto3 S3 client."""

    def __init__(self, bucket: str, key: str, client: Any) -> None:
        self.bucket, self.key, self._client = bucket, key, client

    def read(self, max_bytes: int) -> bytes | None:
        """At most `max_bytes` + 1 bytes (more means too large); None when there is no object."""
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key)
        except self._client.exceptions.NoSuchKey:
            return None
        body = answer["Body"]
        try:
            return bytes(body.read(max_bytes + 1))
        finally:
            body.close()

    def write(self, data: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=self.key,
            Body=data,
            ContentType="application/json",
            ContentEncoding="gzip",
            ServerSideEncryption="AES256",
        )
