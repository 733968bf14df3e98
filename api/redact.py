"""Secrets never reach a log: API keys and stream tokens are masked in every log record.

uvicorn logs the request line with its query string (access log) and a
WebSocket's path (error log), so ``?api_key=lw_…`` would land there. A filter
on those loggers rewrites the message before any
handler sees it.
"""

from __future__ import annotations

import logging
import re

#: Query parameters that carry a credential, and the token formats themselves.
_QUERY_SECRET = re.compile(r"(?i)\b((?:api_key|apikey|key|token|access_token)=)[^&\s\"']+")
_TOKEN = re.compile(r"\b(lw|st)_[A-Za-z0-9._\-]{8,}")
REDACTED = "[redacted]"
#: Where uvicorn creates records holding request lines (filters do not apply to propagated ones).
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    """``text`` with credential query values and token-shaped strings masked."""
    return _TOKEN.sub(rf"\1_{REDACTED}", _QUERY_SECRET.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message and arguments (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install() -> None:
    """Attach the filter to every logger in ``LOGGERS`` once (idempotent).

    Logger filters survive ``logging.config.dictConfig`` (uvicorn's), which
    replaces handlers but keeps filters.
    """
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
