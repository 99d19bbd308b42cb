"""Path rules of the original API's clients, applied before routing (no redirects)."""

from app.services.references import INSTANCES_PATH as INSTANCES
from app.services.references import INSTANCES_REF_PATH as INSTANCES_ALIAS


def normalise(path: str) -> str:
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    if path == INSTANCES_ALIAS or path.startswith(INSTANCES_ALIAS + "/"):
        path = INSTANCES + path[len(INSTANCES_ALIAS) :]
    return path


class PathNormaliser:
    """WSGI middleware: a trailing slash and the /v1/types/postgres/instances prefix
    reach the same routes as the canonical paths."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ["PATH_INFO"] = normalise(environ.get("PATH_INFO", "/"))
        return self.wsgi_app(environ, start_response)
