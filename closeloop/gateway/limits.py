"""A byte limit on request bodies, for every endpoint, before anything parses them.

A pure ASGI middleware: Starlette's BaseHTTPMiddleware would cost more per
request than the model does. A declared Content-Length over the limit is
refused at once; a chunked body is counted as it arrives and refused when it
passes the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "too_large_message"]


def too_large_message(size: int | None, limit: int) -> str:
    size_text = f"is {size:,} bytes" if size is not None else "is larger than that"
    limit_text = f"a request body holds at most {limit:,} bytes (CLOSELOOP_MAX_REQUEST_BYTES)"
    return f"body: {limit_text}; this one {size_text}"


class BodyLimit:
    """``max_bytes(scope)``: the limit, read when a request arrives (settings load at startup)."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[Scope], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes(scope)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                if declared is not None and declared > limit:
                    await _refuse(send, too_large_message(declared, limit))
                    return
                break
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the body read, it reaches FastAPI's exception handling as a 413.
                    raise HTTPException(413, too_large_message(None, limit))
            return message

        await self.app(scope, counting_receive, send)


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"detail": message, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # The client may still be sending: close the connection rather than read the rest.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
