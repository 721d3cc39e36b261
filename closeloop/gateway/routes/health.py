"""What the gateway serves and how it is: GET /v1/models, /healthz and /readyz."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from closeloop.gateway.api_models import ModelInfo
from closeloop.gateway.service import gateway_of

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/models", response_model=list[ModelInfo], summary="The models served and their champions")
async def models(request: Request) -> list[ModelInfo]:
    gateway = gateway_of(request)
    infos = []
    for m in gateway.pool.models():
        canary, share = gateway.canaries.canary_of(m) or (None, None)
        infos.append(
            ModelInfo(
                name=m.name,
                version=m.version,
                task=m.task.name,
                features=len(m.features),
                loaded_at=m.loaded_at,
                canary=canary.version if canary else None,
                canary_share=share,
            )
        )
    return infos


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready: a model is loaded; degraded: Kafka is away and events are spooled")
async def readyz(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    served = {m.name: m.version for m in gateway.pool.models()}
    reachable = await run_in_threadpool(gateway.publisher.kafka_reachable)
    spooled = gateway.publisher.spooled
    problems = []
    if not served:
        problems.append("no champion model loaded")
    for name, failure in sorted(gateway.pool.failures.items()):
        serving = f"serving version {served[name]}" if name in served else "not served"
        problems.append(f"model {name}: {failure} ({serving})")
    if not reachable:
        problems.append(f"Kafka at {gateway.settings.kafka_bootstrap} unreachable")
    if spooled:
        problems.append(f"{spooled} events spooled to disk, waiting for Kafka")
    if gateway.publisher.spool_is_full:
        problems.append("the spool is full: write requests get 503 until Kafka drains it")
    status = "ready" if not problems else ("not ready" if not served else "degraded")
    body = {"status": status, "models": served, "kafka": "reachable" if reachable else "unreachable"}
    body |= {"spooled": spooled, "problems": problems}
    return JSONResponse(body, status_code=503 if not served else 200)
