"""The route class every router uses: JSON bodies must be valid Unicode before validation.

JSON may escape a lone UTF-16 surrogate (``"\\ud800"``, RFC 8259 §8.2 allows the
text but not the character); Python decodes it to a ``str`` that cannot be
encoded as UTF-8, so storing it (SQLite) or echoing it in an error would fail
with a 500. Such a body is refused as FastAPI refuses malformed JSON: a 422 of
type ``json_invalid``, naming the problem and echoing nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

LONE_SURROGATE = "a string holds a lone UTF-16 surrogate escape, which is not Unicode"


def valid_unicode(value: Any) -> bool:
    """True when every string in a decoded JSON value (keys included) encodes as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(valid_unicode(k) and valid_unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(valid_unicode(item) for item in value)
    return True


class UnicodeJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            value = json.loads(body)
            if not valid_unicode(value):
                # FastAPI turns a JSONDecodeError into its typed 422 ``json_invalid``.
                raise json.JSONDecodeError(LONE_SURROGATE, "", 0)
            self._json = value
        return self._json


class UnicodeJsonRoute(APIRoute):
    """``APIRouter(route_class=UnicodeJsonRoute)``: bodies decoded by ``UnicodeJsonRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(UnicodeJsonRequest(request.scope, request.receive))

        return route_handler
