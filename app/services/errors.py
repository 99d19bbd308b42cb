"""Errors a service raises; the API extension turns each into one JSON answer."""


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None, **details):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.details = details


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409


class Invalid(ServiceError):
    """Well-formed input that breaks a rule (422), naming the field."""

    status_code = 422

    def __init__(self, field: str, message: str, **details):
        super().__init__(message, {field: [message]}, **details)
