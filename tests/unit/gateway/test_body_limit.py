"""Request bodies have a byte limit before anything parses them, declared or chunked."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from closeloop.gateway.limits import BodyLimit


def app(limit: int) -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimit, max_bytes=lambda scope: limit)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return app


def test_a_body_within_the_limit_passes() -> None:
    with TestClient(app(1000)) as client:
        assert client.post("/echo", content=b"x" * 1000).json() == {"received": 1000}


def test_a_declared_length_over_the_limit_is_refused_with_the_limit_named() -> None:
    with TestClient(app(1000)) as client:
        response = client.post("/echo", content=b"x" * 1001)
    assert response.status_code == 413
    assert response.json()["message"] == (
        "body: a request body holds at most 1,000 bytes (CLOSELOOP_MAX_REQUEST_BYTES); "
        "this one is 1,001 bytes"
    )


def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 300

    with TestClient(app(1000)) as client:
        response = client.post("/echo", content=chunks())
    assert response.status_code == 413
    assert "at most 1,000 bytes" in response.json()["detail"]
