"""A small client of the dbaas API (stdlib only): what `dbaas instances|users|databases`
use. DBAAS_URL and DBAAS_TOKEN say where and who."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from app.services.references import INSTANCES_PATH, VERSIONS_PATH

FINAL = ("ACTIVE", "ERROR")


class ApiError(Exception):
    """An answer other than 2xx, with the API's message and field errors."""

    def __init__(self, status: int, body: dict[str, Any]):
        self.status = status
        self.body = body
        message = body.get("message") or f"HTTP {status}"
        fields = body.get("errors") or {}
        if fields:
            message += ": " + "; ".join(f"{name}: {text}" for name, text in _flat(fields))
        super().__init__(message)


def _flat(errors: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(errors, dict):
        for name, inner in errors.items():
            yield from _flat(inner, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        yield prefix, " ".join(errors)
    else:
        yield prefix, str(errors)


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


class Client:
    def __init__(self, url: str, token: str, timeout: float = 30):
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"DBAAS_URL must be an http(s) URL, not {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        return self._send(method, path, body)[0]

    def text(self, path: str, accept: str) -> str:
        """A GET whose answer is not JSON (a PEM certificate)."""
        return self._send("GET", path, accept=accept, raw=True)[0].decode()

    def _send(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        accept: str = "application/json",
        raw: bool = False,
    ) -> tuple[Any, dict]:
        # The scheme was checked in __init__: http(s) only.
        request = urllib.request.Request(self.url + path, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", accept)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                content, headers = answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read() or b"{}")
            except ValueError:
                detail = {}
            raise ApiError(error.code, detail if isinstance(detail, dict) else {}) from None
        if raw:
            return content, headers
        return (json.loads(content) if content else None), headers

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def list(self, path: str) -> list[dict]:
        """Every page of a list."""
        items: list[dict] = []
        query: dict[str, str] = {}
        while True:
            page, headers = self._send("GET", f"{path}?{urllib.parse.urlencode(query)}")
            items += page
            marker = headers.get("X-Pagination-Marker")
            if not marker:
                return items
            query = {"marker": marker}

    # --- resources -------------------------------------------------------------------

    def version_uuid(self, name_or_uuid: str) -> str:
        if is_uuid(name_or_uuid):
            return name_or_uuid
        for version in self.get(VERSIONS_PATH)["versions"]:  # the catalogue: one page
            if version["name"] == name_or_uuid:
                return version["uuid"]
        raise ApiError(404, {"message": f"no version named {name_or_uuid!r}"})

    def user_uuid(self, instance: str, name_or_uuid: str) -> str:
        if is_uuid(name_or_uuid):
            return name_or_uuid
        for user in self.list(f"{INSTANCES_PATH}/{instance}/users"):
            if user["name"] == name_or_uuid:
                return user["uuid"]
        raise ApiError(404, {"message": f"no user named {name_or_uuid!r} on {instance}"})

    def latest_operation(self, instance: str) -> dict | None:
        page = self.get(f"{INSTANCES_PATH}/{instance}/operations?limit=1")
        return page[0] if page else None

    def wait(
        self,
        path: str,
        instance: str,
        timeout: float,
        on_progress: Callable[[str], None] = lambda line: None,
        gone: bool = False,
        interval: float = 1.0,
    ) -> dict | None:
        """Poll ``path`` until ACTIVE or ERROR (or, with ``gone``, until it is 404),
        telling ``on_progress`` what the instance's current operation is doing."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                resource = self.get(path)
            except ApiError as error:
                if gone and error.status == 404:
                    return None
                raise
            if not gone and resource["status"] in FINAL:
                return resource
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {resource['status']} after {timeout:.0f} s")
            on_progress(progress_line(resource, self._operation_or_none(instance)))
            time.sleep(interval)

    def wait_operation(
        self,
        instance: str,
        uuid: str,
        timeout: float,
        on_progress: Callable[[str], None] = lambda line: None,
        interval: float = 1.0,
    ) -> dict:
        """Poll one operation until it SUCCEEDED or FAILED (a switchover leaves its
        instance ACTIVE throughout: the operation is what finishes)."""
        path = f"{INSTANCES_PATH}/{instance}/operations/{uuid}"
        deadline = time.monotonic() + timeout
        while True:
            operation = self.get(path)
            if operation["status"] in ("SUCCEEDED", "FAILED"):
                return operation
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {operation['status']} after {timeout:.0f} s")
            task = (operation.get("progress") or {}).get("task") or ""
            on_progress(f"{operation['action']} {operation['status']} {task}".strip())
            time.sleep(interval)

    def _operation_or_none(self, instance: str) -> dict | None:
        try:
            return self.latest_operation(instance)
        except ApiError:
            return None


def progress_line(resource: dict, operation: dict | None) -> str:
    """`IN_PROGRESS  create 12/31  Start Patroni (pg1a2b3c4d5e)`"""
    line = resource.get("status", "?")
    if operation and operation.get("status") in ("PENDING", "RUNNING"):
        line += f"  {operation['action']}"
        progress = operation.get("progress") or {}
        if progress.get("total"):
            line += f" {progress.get('done', 0)}/{progress['total']}"
        if progress.get("task"):
            line += f"  {progress['task']}"
        if progress.get("host"):
            line += f" ({progress['host']})"
    return line


def with_login(uri: str, user: str | None, database: str, sslrootcert: str | None = None) -> str:
    """The instance's URI with a user, a database and the CA file in it (never a
    password)."""
    parts = urllib.parse.urlsplit(uri)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    who = f"{urllib.parse.quote(user, safe='')}@" if user else ""
    path = "/" + urllib.parse.quote(database, safe="")
    query = urllib.parse.parse_qsl(parts.query)
    if sslrootcert:
        query = [(k, v) for k, v in query if k != "sslrootcert"] + [("sslrootcert", sslrootcert)]
    return urllib.parse.urlunsplit(
        (
            parts.scheme,
            who + hosts,
            path,
            urllib.parse.urlencode(query, safe="/", quote_via=urllib.parse.quote),
            "",
        )
    )
