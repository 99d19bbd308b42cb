"""Projects own instances; a token belongs to one project."""

from typing import Any

from app.services.errors import Forbidden, Invalid
from app.services.references import parse_instance


def take_project_id(data: dict[str, Any], project_id: str) -> None:
    """Remove a client-sent ``project_id`` from ``data``; it must be the token's (else 403)."""
    if data.pop("project_id", project_id) != project_id:
        raise Forbidden(
            "project_id is not the project of your token.",
            {"project_id": ["Must be the project of your token."]},
        )


def take_instance_reference(data: dict[str, Any], instance_uuid: str) -> None:
    """A create body may name its instance (the spec's manifests do): it must be the path's."""
    reference = data.pop("instance", None)
    if reference is not None and parse_instance(reference) != instance_uuid:
        raise Invalid("instance", "Must be the instance of the URL (its URI or UUID).")
