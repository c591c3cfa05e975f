"""Domain errors. Each carries the HTTP status and title Keystone gives it; api/errors.py
turns them into Keystone's error body in one place, so services never see HTTP."""

from __future__ import annotations

INCORRECT = (
    "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect. The client is assumed to be in error."
)


class SevresError(Exception):
    """Base of every error a client can cause; ``message`` is safe to show the client."""

    code = 500
    title = "Internal Server Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(SevresError):
    code = 400
    title = "Bad Request"


class Unauthorized(SevresError):
    code = 401
    title = "Unauthorized"

    def __init__(self, message: str = "The request you have made requires authentication.") -> None:
        super().__init__(message)


class Forbidden(SevresError):
    code = 403
    title = "Forbidden"


class NotFound(SevresError):
    code = 404
    title = "Not Found"


class Conflict(SevresError):
    code = 409
    title = "Conflict"


class Unavailable(SevresError):
    code = 503
    title = "Service Unavailable"


def invalid_json() -> ValidationError:
    return ValidationError(f"Expecting to find valid JSON in request body. {INCORRECT}")


def missing_attribute(attribute: str, target: str) -> ValidationError:
    return ValidationError(f"Expecting to find {attribute} in {target}. {INCORRECT}")


def not_found(kind: str, ident: str) -> NotFound:
    """Keystone's wording: 'Could not find project: 1234.'"""
    return NotFound(f"Could not find {kind}: {ident}.")


def forbidden_action(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to perform the requested action: {action}.")


def duplicate(kind: str, name: str) -> Conflict:
    return Conflict(
        f"Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}."
    )


class PayloadTooLarge(SevresError):
    code = 413
    title = "Request Entity Too Large"
