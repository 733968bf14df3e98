"""The one hierarchy of errors this platform raises on purpose.

Every error carries a short machine-readable ``code``: it is the dead-letter
reason, the label on the error counters, and what tests assert on. Messages
name the device, fPort and payload so a log line alone is enough to reproduce.
"""

from __future__ import annotations


class PlatformError(Exception):
    """Root of every error raised on purpose by the platform."""

    code = "error"


class ConfigError(PlatformError):
    """Settings or a registry file are wrong; raised at start-up, never mid-stream."""

    code = "config"


class DecodeError(PlatformError):
    """A payload could not be turned into readings.

    Decoder functions raise it with just a reason; ``decoders.decode`` fills in
    the model, fPort and payload before it leaves the package, so the message
    always names all three.
    """

    code = "decode_error"

    def __init__(
        self,
        reason: str,
        *,
        model: str | None = None,
        f_port: int | None = None,
        payload: bytes | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.model = model
        self.f_port = f_port
        self.payload = payload

    def with_context(self, model: str, f_port: int, payload: bytes) -> DecodeError:
        """Attach what the decoder did not know; keeps values already set."""
        self.model = self.model or model
        self.f_port = f_port if self.f_port is None else self.f_port
        self.payload = payload if self.payload is None else self.payload
        return self

    def __str__(self) -> str:
        payload = "?" if self.payload is None else (self.payload.hex() or "(empty)")
        return f"{self.model or '?'} fPort {self.f_port} payload {payload}: {self.reason}"


class UnknownModelError(DecodeError):
    """No decoder is registered under that model key."""

    code = "unknown_model"


class UnsupportedPortError(DecodeError):
    """The model does not send this fPort (or not with data we decode)."""

    code = "unsupported_port"


class PayloadLengthError(DecodeError):
    """The payload is shorter or longer than its frame layout allows."""

    code = "bad_length"


class IntegrityError(DecodeError):
    """A header, frame type, channel id or checksum is not what the format defines."""

    code = "bad_header"


class EventError(PlatformError):
    """An MQTT event could not be parsed into an uplink (bad JSON, protobuf, fields)."""

    code = "bad_event"

    def __init__(self, reason: str, *, topic: str = "", payload: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.topic = topic
        self.payload = payload

    def __str__(self) -> str:
        head = self.payload[:64].hex()
        more = "…" if len(self.payload) > 64 else ""
        return f"topic {self.topic!r} payload {head}{more}: {self.reason}"


class EncryptedPayloadError(EventError):
    """The event marks its payload as still encrypted: it is ciphertext and is never decoded.

    ChirpStack v4 sends ``joinServerContext`` when a join server holds the
    AppSKey; The Things Stack sends ``app_s_key`` when payload crypto is skipped.
    """

    code = "encrypted"

    def __init__(self, reason: str, *, dev_eui: str, f_port: int, payload: bytes) -> None:
        super().__init__(reason, payload=payload)
        self.dev_eui = dev_eui
        self.f_port = f_port

    def __str__(self) -> str:
        payload = self.payload.hex() or "(empty)"
        return f"device {self.dev_eui} fPort {self.f_port} payload {payload}: {self.reason}"


class UnknownDeviceError(PlatformError):
    """No model could be found for a device: not in the registry, no profile or tag match."""

    code = "unknown_device"

    def __init__(self, dev_eui: str, detail: str = "") -> None:
        super().__init__(dev_eui, detail)
        self.dev_eui = dev_eui
        self.detail = detail

    def __str__(self) -> str:
        return f"device {self.dev_eui}: no decoder model known" + (
            f" ({self.detail})" if self.detail else ""
        )


class SinkError(PlatformError):
    """A write to the time-series store failed."""

    code = "sink"


class RetryableSinkError(SinkError):
    """Connection error, timeout, 5xx or 429: try the same batch again later."""

    code = "sink_retryable"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSinkError(SinkError):
    """The store refused the points themselves (400, 413, 422): retrying them cannot help.

    ``status`` is the HTTP status, or None for a point that could not even be
    encoded as line protocol.
    """

    code = "sink_rejected"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MisconfiguredSinkError(SinkError):
    """The store answers but will not take anything from us, whatever the data.

    Credentials refused (401/403), the database or bucket does not exist and may
    not be created (404), or the endpoint answers as something other than
    InfluxDB. No retry helps until an operator acts: at start-up it stops the
    bridge; while running, writes are held unacknowledged (never spilled as if
    InfluxDB were down) and ``/readyz`` names the cause.
    """

    code = "sink_misconfigured"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class QueryError(PlatformError):
    """A query to the time-series store failed or was refused."""

    code = "query"


class QueryTimeoutError(QueryError):
    """The time-series store did not answer a query within the client's timeout: the same
    question over less data may still be answered (``insights.rollups`` halves its chunk)."""

    code = "query_timeout"


class DeleteUnsupportedError(QueryError):
    """The time-series store cannot delete points by predicate and time range.

    InfluxDB 3 Core and Enterprise have no ``POST /api/v2/delete`` (their v2
    compatibility is ``/api/v2/write`` only; they delete whole tables or
    databases): an erasure or reclassification there cannot remove one home's
    points and refuses rather than pretend it did.
    """

    code = "delete_unsupported"


class CodecError(DecodeError):
    """A configured JavaScript codec threw, ran out of time or memory, or returned no usable data.

    The reason carries the codec's own message (its ``errors`` list, or the thrown error).
    """

    code = "codec_error"


class ChirpStackError(PlatformError):
    """The ChirpStack gRPC API could not be reached or answered with an error."""

    code = "chirpstack"


class ChirpStackAuthError(ChirpStackError):
    """ChirpStack refused the API token (UNAUTHENTICATED or PERMISSION_DENIED)."""

    code = "chirpstack_auth"


class NotificationError(PlatformError):
    """A notification could not be delivered (webhook or SMTP); retried, then dead-lettered."""

    code = "notification"
