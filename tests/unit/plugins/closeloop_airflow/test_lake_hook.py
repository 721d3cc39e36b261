"""The lake hook builds closeloop's S3 clients from a connection, and says what a connection lacks."""

from __future__ import annotations

import pytest
from airflow.models import Connection
from closeloop_airflow.hooks.lake import LakeHook

from closeloop.lake import Lake


def _hook(monkeypatch: pytest.MonkeyPatch, connection: Connection) -> LakeHook:
    monkeypatch.setattr(LakeHook, "get_connection", classmethod(lambda cls, conn_id: connection))
    return LakeHook(lake_conn_id=connection.conn_id)


def _connection(**extra: str) -> Connection:
    return Connection(
        conn_id="lake_under_test",
        conn_type="aws",
        login="closeloop",
        password="closeloop-dev-secret",
        extra={"endpoint_url": "http://s3.example:9000", "bucket": "the-lake", **extra},
    )


def test_client_and_filesystem_point_at_the_connections_store(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, _connection())
    client = hook.get_conn()
    assert client._base_url.host == "s3.example:9000" and not client._base_url.is_https
    filesystem = hook.get_filesystem()
    assert filesystem.type_name == "s3"
    assert "s3.example:9000" in repr(filesystem.__reduce__())
    assert hook.bucket == "the-lake"


def test_lake_is_the_connections_bucket_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    lake = _hook(monkeypatch, _connection(prefix="labeled")).get_lake()
    assert isinstance(lake, Lake)
    assert (lake.bucket, lake.prefix) == ("the-lake", "labeled")
    assert _hook(monkeypatch, _connection(prefix="labeled")).get_lake("private").prefix == "private"
    assert _hook(monkeypatch, _connection()).get_lake().prefix == "feedback"


def test_the_default_connection_id_is_the_stacks() -> None:
    assert LakeHook().lake_conn_id == LakeHook.default_conn_name == "closeloop_lake"


@pytest.mark.parametrize(
    ("connection", "complaint"),
    [
        (Connection(conn_id="c", conn_type="aws", login="k", password="secret-key"), "URL"),
        (
            Connection(conn_id="c", conn_type="aws", host="http://s3:9000", password="secret-key"),
            "access key",
        ),
        (
            Connection(
                conn_id="c",
                conn_type="aws",
                login="k",
                password="secret-key",
                extra={"endpoint_url": "http://s3"},
            ),
            "no bucket",
        ),
    ],
)
def test_an_incomplete_connection_is_named(
    monkeypatch: pytest.MonkeyPatch, connection: Connection, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as raised:
        _hook(monkeypatch, connection).get_lake()
    assert "'c'" in str(raised.value)
