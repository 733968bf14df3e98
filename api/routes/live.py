"""Live readings over WebSocket and Server-Sent Events, filtered by need/site/device.

Browsers can set no headers on a WebSocket or an ``EventSource``, so both also
take a short-lived stream token (``POST /v1/live/tokens``) as ``?token=``; the
WebSocket still takes ``?api_key=`` too. Credentials in URLs are redacted from
every log (``api.redact``). A stream ends when its key is revoked (WebSocket
close 4401, SSE ``event: close``) or the server shuts down (1001 / ``close``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.deps import API_KEY_HEADER, PrincipalDep, ServicesDep
from api.live import Subscription
from api.models import StreamTokenPublic
from api.params import DevEuiQuery, NeedQuery, SiteQuery
from api.routing import UnicodeJsonRoute
from api.security import StreamPrincipalDep, StreamTokensDep, stream_authenticate

router = APIRouter(prefix="/v1/live", tags=["live"], route_class=UnicodeJsonRoute)

KEEPALIVE_SECONDS = 15.0
#: WebSocket close codes by why the server ended the stream.
CLOSE_CODES = {"revoked": 4401, "shutdown": 1001}


@router.post("/tokens", response_model=StreamTokenPublic, status_code=201)
def create_stream_token(principal: PrincipalDep, tokens: StreamTokensDep) -> StreamTokenPublic:
    """A token that opens ``/v1/live/sse?token=…`` or ``/v1/live/ws?token=…`` for a few minutes.

    For browsers: ``new EventSource("/v1/live/sse?need=footfall&token=" + token)``. It
    carries this key's scope; the stream it opens ends when the key is revoked.
    """
    token, expires = tokens.issue(principal.key_id)
    return StreamTokenPublic(
        token=token, expires=datetime.fromtimestamp(expires, tz=UTC), lifetime=tokens.lifetime
    )


@router.websocket("/ws")
async def live_websocket(
    websocket: WebSocket,
    need: NeedQuery = None,
    site: SiteQuery = None,
    dev_eui: DevEuiQuery = None,
    api_key: Annotated[str | None, Query(max_length=512)] = None,
    token: Annotated[str | None, Query(max_length=512)] = None,
) -> None:
    """Each new reading as one JSON text message. Close codes: 4401 bad or revoked key, 4429 rate
    limit, 1001 server shutting down."""
    services = websocket.app.state.services
    await websocket.accept()
    try:
        principal = stream_authenticate(
            services,
            websocket.app.state.stream_tokens,
            websocket.headers.get(API_KEY_HEADER) or token or api_key,
        )
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
                if reading is None:
                    await _close(websocket, sub)
                    break
                await websocket.send_text(reading.model_dump_json())
        except WebSocketDisconnect:
            pass
        finally:
            receiver.cancel()


async def _close(websocket: WebSocket, sub: Subscription) -> None:
    reason = sub.closed or "shutdown"
    try:
        await websocket.close(code=CLOSE_CODES.get(reason, 1001), reason=reason)
    except (RuntimeError, WebSocketDisconnect):
        pass  # the client left first


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) client messages so a close is noticed at once."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return


_SSE_DESCRIPTION = (
    "An endless `text/event-stream`. Each reading is an event `reading` whose `data` is a"
    " JSON `LiveReading`; comments (`: keepalive`) arrive every 15 s. When the key is revoked"
    " or the server stops, an event `close` (data: `revoked` or `shutdown`) ends the stream."
    " Authenticate with the `X-API-Key` header, or, from a browser's `EventSource`, with"
    " `?token=` from `POST /v1/live/tokens`."
)


@router.get(
    "/sse",
    response_class=StreamingResponse,
    description=_SSE_DESCRIPTION,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "example": 'event: reading\ndata: {"dev_eui": "a84041000181c061", …}\n\n',
                }
            },
            "description": "Endless event stream of `LiveReading`s",
        }
    },
)
async def live_sse(
    request: Request,
    services: ServicesDep,
    principal: StreamPrincipalDep,
    need: NeedQuery = None,
    site: SiteQuery = None,
    dev_eui: DevEuiQuery = None,
) -> StreamingResponse:
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
                if reading is None:
                    yield f"event: close\ndata: {sub.closed or 'shutdown'}\n\n"
                    return
                yield f"event: reading\ndata: {reading.model_dump_json()}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
