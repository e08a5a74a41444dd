"""A blob in one S3 object (the candle cache on Lambda)."""

from __future__ import annotations

from typing import Any


class S3Blob:
    """One S3 object (server-side encrypted); `client` is a boto3 S3 client."""

    def __init__(self, bucket: str, key: str, client: Any) -> None:
        self.bucket, self.key, self._client = bucket, key, client

    def read(self) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key)
        except self._client.exceptions.NoSuchKey:
            return None
        return bytes(answer["Body"].read())

    def write(self, data: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=self.key,
            Body=data,
            ContentType="application/json",
            ContentEncoding="gzip",
            ServerSideEncryption="AES256",
        )
