"""Put and get objects in the real MinIO with the minio client."""

from __future__ import annotations

import io

from closeloop.config import Settings
from closeloop.s3 import ensure_buckets, s3_client
from closeloop.stack.manager import LocalStack


def test_stack_buckets_exist(stack: LocalStack, settings: Settings) -> None:
    names = {bucket.name for bucket in s3_client(settings).list_buckets()}
    assert set(settings.buckets) <= names


def test_put_and_get_object(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    client = s3_client(settings)
    payload = b"prediction_id,label\np1,3\n" * 1000
    key = f"tests/{unique_name}/sample.csv"
    client.put_object(settings.lake_bucket, key, io.BytesIO(payload), len(payload), content_type="text/csv")
    try:
        response = client.get_object(settings.lake_bucket, key)
        try:
            assert response.read() == payload
        finally:
            response.close()
            response.release_conn()
        assert client.stat_object(settings.lake_bucket, key).size == len(payload)
    finally:
        client.remove_object(settings.lake_bucket, key)


def test_ensure_buckets_creates_only_missing(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    client = s3_client(settings)
    try:
        assert ensure_buckets(client, [unique_name, settings.lake_bucket]) == [unique_name]
        assert ensure_buckets(client, [unique_name]) == []
        assert client.bucket_exists(unique_name)
    finally:
        client.remove_bucket(unique_name)
