"""Errors the sandbox answers with, in Google's JSON error shape."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# Google's canonical status names for the HTTP codes Gmail uses.
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """A Gmail API error: HTTP code, message, reason (errors[].reason) and domain."""

    def __init__(
        self, code: int, message: str, reason: str | None = None, domain: str = "global", status: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _default_reason(code)
        self.domain = domain
        self.status = status or _STATUS.get(code, HTTPStatus(code).phrase.upper().replace(" ", "_"))

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
                "status": self.status,
            }
        }


def _default_reason(code: int) -> str:
    return {
        400: "invalidArgument",
        401: "authError",
        403: "forbidden",
        404: "notFound",
        409: "aborted",
        429: "rateLimitExceeded",
        500: "backendError",
        503: "backendError",
    }.get(code, "unknown")


def bad_request(message: str, reason: str = "invalidArgument") -> ApiError:
    return ApiError(400, message, reason)


def not_found(message: str = "Requested entity was not found.") -> ApiError:
    return ApiError(404, message, "notFound")


def failed_precondition(message: str) -> ApiError:
    return ApiError(400, message, "failedPrecondition", status="FAILED_PRECONDITION")
