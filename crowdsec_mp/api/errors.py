"""The one exception every API handler raises for a client-visible error.

An `APIError` becomes a JSON response `{"message": ...}` (plus any extra keys,
e.g. the JWT middleware's `code`) through a single Flask error handler, so a
client never sees HTML or a traceback.

Where CrowdSec answers bad input with a 500 (invalid ip filter, unknown filter
parameter, swagger validation failure), we answer 400/422 with the same
message: nothing that a client sends may produce a 5xx here.
"""

from __future__ import annotations


class APIError(Exception):
    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict:
        body = dict(self.extra)
        body["message"] = self.message
        return body


def bad_request(message: str) -> APIError:
    return APIError(400, message)


def forbidden(message: str = "access forbidden") -> APIError:
    return APIError(403, message)


def jwt_unauthorized(message: str) -> APIError:
    """The JWT middleware's error shape: `{"code": 401, "message": ...}`."""
    return APIError(401, message, code=401)
