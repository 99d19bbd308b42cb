"""Cross-cutting API rules, in one place: authentication by default (with failed
attempts limited per address), one JSON error shape, domain and database errors mapped
to status codes, security headers. Resource code repeats none."""

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import flask_smorest
from flask import current_app, g, make_response, request
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, InternalServerError

from app.expiring import ExpiringMap
from app.services.errors import ServiceError
from app.services.tokens import authenticate
from app.sessions import OneTransaction, reads_only, separate_writer, session
from core.models import IdempotencyKey
from core.secrets import keyed_digest

log = logging.getLogger(__name__)

BEARER = {"type": "http", "scheme": "bearer", "description": "`dbaas token create` prints one."}


def _flatten(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {...}}); clients want them by field."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    errors: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            errors.update(fields)
        else:
            errors[location] = fields
    return errors


def error_body(code: int, name: str, message: str, errors: dict | None = None, **extra) -> dict:
    body = {"code": code, "status": name, "message": message, "errors": errors or {}}
    body.update(extra)
    return body


class Api(flask_smorest.Api):
    def init_app(self, app, *args, **kwargs):
        super().init_app(app, *args, **kwargs)
        self.spec.components.security_scheme("bearerAuth", BEARER)
        app.register_error_handler(ServiceError, self._service_error)
        app.register_error_handler(IntegrityError, self._integrity_error)
        app.after_request(security_headers)

    def handle_http_exception(self, error: HTTPException):
        if isinstance(error, InternalServerError) and error.original_exception is not None:
            log.error("unhandled error", exc_info=error.original_exception)
        data = getattr(error, "data", None) or {}
        errors = _flatten(data["messages"]) if "messages" in data else {}
        if error.code == 400 and errors:
            # Unparsable body: say so plainly ("Invalid JSON body.").
            message = " ".join(str(m) for messages in errors.values() for m in messages)
        elif errors:
            fields = ", ".join(sorted(errors))
            message = data.get("message") or f"Invalid input: {fields}."
        elif isinstance(error, InternalServerError):
            message = "Internal error; the request left no change behind."
        else:
            message = data.get("message") or error.description
        headers = dict(data.get("headers") or {})
        if error.code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return error_body(error.code, error.name, message, errors), error.code, headers

    @staticmethod
    def _service_error(error: ServiceError):
        name = {403: "Forbidden", 404: "Not Found", 409: "Conflict"}.get(
            error.status_code, "Unprocessable Entity" if error.status_code == 422 else "Bad Request"
        )
        body = error_body(error.status_code, name, error.message, error.errors, **error.details)
        return body, error.status_code

    @staticmethod
    def _integrity_error(error: IntegrityError):
        # A uniqueness race the services' own checks could not see: nothing was written.
        session().rollback()
        log.info("integrity error mapped to 409: %s", error.orig)
        return error_body(409, "Conflict", "The change conflicts with an existing record."), 409


class JsonBodyParser(FlaskParser):
    """A body is read as JSON whatever its Content-Type: `curl -d '{...}'` (sent as a
    form) then works, and a form body gets a plain 400 "Invalid JSON body"."""

    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        try:
            return core.parse_json(data)
        except RecursionError:
            # Nested deeper than the decoder recurses (hostile, never a real body).
            flask_smorest.abort(400, message="Invalid JSON body: nested too deeply.")


class Blueprint(flask_smorest.Blueprint):
    """Every route needs a valid bearer token unless it says otherwise."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_request(_authenticate)


def _authenticate() -> None:
    # A valid token always gets through: the limit is on failures, so one client with
    # a bad token (behind the same proxy or NAT) never locks out the others.
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    token = None
    if scheme.lower() == "bearer" and presented.strip():
        # A reading request notes the token's use in a writing session of its own; a
        # writing one in its own session (a second writer would wait for the first).
        writing = separate_writer if reads_only() else None
        token = authenticate(session(), presented.strip(), writing)
    if token is not None:
        g.token = token
        return
    failures = _AuthFailures(current_app)
    address = request.remote_addr or "unknown"
    retry_after = failures.blocked_for(address)
    if retry_after:
        flask_smorest.abort(
            429,
            message="Too many failed authentications from this address; retry later.",
            headers={"Retry-After": str(retry_after)},
        )
    failures.note(address)
    flask_smorest.abort(401, message="A valid bearer token is required.")


class _AuthFailures:
    """Failed authentications per client address in Redis (shared by every API
    process): past AUTH_FAILURE_LIMIT within AUTH_FAILURE_WINDOW seconds, the address's
    failing requests get 429 until the window ends, so tokens cannot be guessed at
    speed; its requests with a valid token are served as ever.
    Without Redis the limit is not enforced: authentication itself still is."""

    def __init__(self, app):
        self.redis = app.extensions["dbaas_queue"].redis
        self.limit = app.config["AUTH_FAILURE_LIMIT"]
        self.window = int(app.config["AUTH_FAILURE_WINDOW"])
        # address -> until when it is blocked (time.monotonic()), as Redis said it
        # within the last second, per process.
        self.blocked_until: ExpiringMap = app.extensions.setdefault(
            "dbaas_auth_checks", ExpiringMap()
        )

    @staticmethod
    def _key(address: str) -> str:
        return f"dbaas:auth-failures:{address}"

    def blocked_for(self, address: str) -> int:
        # Asked of Redis at most once a second per address and process: a blocked
        # address gets at most that second's requests more, everyone else saves a
        # round trip on nearly every request.
        now = time.monotonic()
        until = self.blocked_until.get(address)
        if until is None:
            try:
                count = int(self.redis.get(self._key(address)) or 0)
                ttl = max(int(self.redis.ttl(self._key(address))), 1) if count >= self.limit else 0
            except RedisError:
                return 0
            until = now + ttl
            self.blocked_until.put(address, until, 1.0)
        return max(int(until - now), 1) if until > now else 0

    def note(self, address: str) -> None:
        try:
            with self.redis.pipeline() as pipe:
                pipe.incr(self._key(address))
                pipe.expire(self._key(address), self.window, nx=True)
                pipe.execute()
        except RedisError as exc:
            log.warning("failed authentication not counted (Redis: %s)", exc)
        self.blocked_until.pop(address)  # the next request asks Redis again


def idempotent(view: Callable) -> Callable:
    """POST with an Idempotency-Key header: the first request runs and its answer is
    kept; a replay (same key, same request) gets that answer again, marked
    Idempotent-Replayed, and creates nothing; the key with another request is a 422;
    while the first is still running, a replay is a 409. Keys are per project."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not (0 < len(key) <= 255 and key.isprintable()):
            flask_smorest.abort(
                422,
                message="Invalid Idempotency-Key.",
                messages={"Idempotency-Key": ["1 to 255 printable characters."]},
            )
        # Keyed: a user's POST holds a password, and only its verifier may be stored.
        digest = keyed_digest(
            current_app.config,
            request.method.encode() + request.path.encode() + b"\0" + request.get_data(),
        )
        # The key, the records and the answer commit together or not at all: no crash
        # can leave a key without its answer (or records without their key).
        transaction = OneTransaction()
        with transaction as db:
            record = IdempotencyKey(project_id=g.token.project_id, key=key, request_digest=digest)
            db.add(record)
            try:
                db.flush()  # a concurrent first request: this waits for it, then clashes
            except IntegrityError:
                db.rollback()
                return _replay(db, key, digest)
            response = make_response(view(*args, **kwargs))
            if not 200 <= response.status_code < 300:
                transaction.rollback()  # refused: corrected, the request may use the key
                return response
            record.status_code = response.status_code
            record.response = response.get_json()
            record.location = response.headers.get("Location")
        return response

    return wrapper


def _replay(db, key: str, digest: str):
    first = db.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.project_id == g.token.project_id, IdempotencyKey.key == key
        )
    ).one()
    if first.request_digest != digest:
        flask_smorest.abort(
            422,
            message="This Idempotency-Key was used for a different request.",
            messages={"Idempotency-Key": ["Already used for another request."]},
        )
    if first.status_code is None:
        flask_smorest.abort(409, message="The request with this Idempotency-Key is still running.")
    headers = {"Idempotent-Replayed": "true"}
    if first.location:
        headers["Location"] = first.location
    return first.response, first.status_code, headers


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def security_headers(response):
    """Every answer: no sniffing, no framing, no referrer; API answers are not cached
    and may load nothing (the /docs page needs its own scripts and styles)."""
    response.headers.update(SECURITY_HEADERS)
    if response.mimetype == "application/json":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    return response


def project_id() -> str:
    """The project of the request's token: every instance belongs to one."""
    return g.token.project_id


def admin_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not g.token.is_admin:
            flask_smorest.abort(403, message="This needs an admin token.")
        return view(*args, **kwargs)

    return wrapper
