"""Errors raised by `self.services` calls, and the protocol's error codes.

Every engine error answer to a service call becomes a :class:`ServiceError`; the common codes have
their own subclasses so a plugin can catch exactly what it expects::

    try:
        self.services.orders.place("XAUUSD", "buy", risk_pct=1, sl={"pips": 25})
    except RiskRejected as e:
        self.logger.info("risk said no: %s", e.risk_code)
"""

from __future__ import annotations

from typing import Any

# JSON-RPC and protocol 1 error codes (docs/protocol.md).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
CAPABILITY_DENIED = -32001
RATE_LIMITED = -32002
RISK_REJECTED = -32003
TIMEOUT = -32004
NOT_FOUND = -32005
UNAVAILABLE = -32006
UNSUPPORTED_PROTOCOL = -32010
PLUGIN_ERROR = -32011


class ServiceError(Exception):
    """The engine refused or failed a service call.

    ``code`` is the protocol error code, ``message`` the engine's text and ``data`` its details
    (``None`` when it sent none).
    """

    code: int = INTERNAL_ERROR

    def __init__(self, code: int | None = None, message: str = "", data: Any = None) -> None:
        if code is not None:
            self.code = code
        self.message = message
        self.data = data
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}, data={self.data!r})"

    def to_rpc(self) -> dict:
        """The JSON-RPC error object for this error."""
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class CapabilityDenied(ServiceError):
    """-32001: the manifest's ``capabilities`` do not grant this service."""

    code = CAPABILITY_DENIED


class RateLimited(ServiceError):
    """-32002: more plugin → engine calls than the engine allows per second."""

    code = RATE_LIMITED


class RiskRejected(ServiceError):
    """-32003: the risk gate refused the order; :attr:`risk_code` says why (``daily_loss_limit``…).

    A handler that lets this propagate gets its signal stored as *rejected* with that code (it is
    not counted as a plugin failure).
    """

    code = RISK_REJECTED

    @property
    def risk_code(self) -> str | None:
        data = self.data
        if isinstance(data, dict):
            code = data.get("code")
            return code if isinstance(code, str) else None
        return None


class NotFound(ServiceError):
    """-32005: the position or order is not there, or not this plugin's."""

    code = NOT_FOUND


class Unavailable(ServiceError):
    """-32006: the service (or the engine side of it) is not available now."""

    code = UNAVAILABLE


class InvalidParams(ServiceError):
    """-32602: the engine could not read the call's parameters."""

    code = INVALID_PARAMS


class CallTimeout(ServiceError):
    """-32004: the call ran past its deadline."""

    code = TIMEOUT


_BY_CODE: dict[int, type[ServiceError]] = {
    CAPABILITY_DENIED: CapabilityDenied,
    RATE_LIMITED: RateLimited,
    RISK_REJECTED: RiskRejected,
    NOT_FOUND: NotFound,
    UNAVAILABLE: Unavailable,
    INVALID_PARAMS: InvalidParams,
    TIMEOUT: CallTimeout,
}


def error_from_rpc(error: Any) -> ServiceError:
    """The exception for a JSON-RPC error object received from the engine."""
    if not isinstance(error, dict):
        return ServiceError(INTERNAL_ERROR, f"malformed error answer: {error!r}")
    code = error.get("code")
    if not isinstance(code, int):
        code = INTERNAL_ERROR
    message = error.get("message")
    if not isinstance(message, str):
        message = str(message)
    cls = _BY_CODE.get(code, ServiceError)
    return cls(code, message, error.get("data"))


class PluginError(Exception):
    """Raised by the SDK when a plugin returns something the protocol cannot carry (a decision
    without a valid ``kind``, a modified signal with another id…). Answered as -32011."""


class ProtocolError(Exception):
    """The other side broke the protocol (a line over 1 MiB, a stream that is not JSON-RPC)."""
