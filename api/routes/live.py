"""Live readings over WebSocket and Server-Sent Events, filtered by need/site/device.

Browsers cannot set headers on a WebSocket, so the key may also come as the
``api_key`` query parameter there; SSE takes the ``X-API-Key`` header only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.deps import API_KEY_HEADER, PrincipalDep, ServicesDep, authenticate
from api.params import DevEuiQuery, NeedQuery, SiteQuery

router = APIRouter(prefix="/v1/live", tags=["live"])

KEEPALIVE_SECONDS = 15.0


@router.websocket("/ws")
async def live_websocket(
    websocket: WebSocket,
    need: NeedQuery = None,
    site: SiteQuery = None,
    dev_eui: DevEuiQuery = None,
    api_key: Annotated[str | None, Query()] = None,
) -> None:
    """Each new reading as one JSON text message. Close codes: 4401 bad key, 4429 rate limit."""
    services = websocket.app.state.services
    await websocket.accept()
    try:
        principal = authenticate(services, websocket.headers.get(API_KEY_HEADER) or api_key)
    except HTTPException as exc:
        await websocket.close(code=4000 + exc.status_code, reason=str(exc.detail)[:120])
        return
    with services.live.subscribe(
        principal, need, site, dev_eui.lower() if dev_eui else None
    ) as sub:
        receiver = asyncio.create_task(_drain(websocket))
        try:
            while not receiver.done():
                if sub.queue.empty():
                    getter = asyncio.ensure_future(sub.queue.get())
                    await asyncio.wait({getter, receiver}, return_when="FIRST_COMPLETED")
                    if not getter.done():
                        getter.cancel()
                        break
                    reading = getter.result()
                else:
                    reading = sub.queue.get_nowait()
                await websocket.send_text(reading.model_dump_json())
        except WebSocketDisconnect:
            pass
        finally:
            receiver.cancel()


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) client messages so a close is noticed at once."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return


@router.get(
    "/sse",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Endless event stream"}},
)
async def live_sse(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    need: NeedQuery = None,
    site: SiteQuery = None,
    dev_eui: DevEuiQuery = None,
) -> StreamingResponse:
    """Each new reading as a ``reading`` event whose data is the JSON reading."""
    dev = dev_eui.lower() if dev_eui else None

    async def events() -> AsyncIterator[str]:
        # Subscribed only while the stream runs: a client gone before it starts leaves nothing.
        with services.live.subscribe(principal, need, site, dev) as sub:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    reading = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                yield f"event: reading\ndata: {reading.model_dump_json()}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
