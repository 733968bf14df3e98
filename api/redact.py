"""Secrets and identifiers never reach a log: API keys, stream tokens, DevEUIs, sites,
wards and property or tenancy references are masked in every request line.

uvicorn logs the request line with its query string (access log) and a
WebSocket's path (error log), so ``?api_key=lw_…`` would land there, and so
would ``/v1/devices/<home DevEUI>/readings`` or ``?site=home-0348``: whoever
reads the service's journal would learn which homes exist and when they were
looked at. Who looked at a home is the audit log's job (``api/audit.py``,
housing-restricted); the access log keeps method, route shape, status and
timing. A filter on those loggers rewrites the message before any handler sees it.
"""

from __future__ import annotations

import logging
import re

#: Query parameters that carry a credential, and the token formats themselves.
_QUERY_SECRET = re.compile(r"(?i)\b((?:api_key|apikey|key|token|access_token)=)[^&\s\"']+")
_TOKEN = re.compile(r"\b(lw|st)_[A-Za-z0-9._\-]{8,}")
#: Query parameters and path segments naming a device, a place or a tenancy.
_QUERY_IDENTIFIER = re.compile(r"(?i)\b((?:dev_eui|site|ward|ref|property_ref|cursor)=)[^&\s\"']+")
_PATH_IDENTIFIER = re.compile(
    r"(?i)(/(?:devices|sites|homes|properties|tenancies|alerts)/)[^/?\s\"]+"
)
_DEV_EUI = re.compile(r"(?i)\b[0-9a-f]{16}\b")
REDACTED = "[redacted]"
#: Where uvicorn creates records holding request lines (filters do not apply to propagated ones).
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    """``text`` with credential query values, token-shaped strings and identifiers masked."""
    text = _TOKEN.sub(rf"\1_{REDACTED}", _QUERY_SECRET.sub(rf"\1{REDACTED}", text))
    text = _PATH_IDENTIFIER.sub(rf"\1{REDACTED}", _QUERY_IDENTIFIER.sub(rf"\1{REDACTED}", text))
    return _DEV_EUI.sub(REDACTED, text)


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
