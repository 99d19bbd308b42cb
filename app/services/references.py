"""References between resources: the spec's URIs, or bare UUIDs."""

import re
import uuid as uuid_lib
from urllib.parse import urlsplit

_UUID = r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"
UUID = re.compile(_UUID)
_INSTANCES = r"/v1/(?:types/)?postgres/instances"

VERSION_REF = re.compile(rf"(?:/v1/types/postgres/versions/)?(?P<version>{_UUID})/?")
_INSTANCE_REF = re.compile(rf"(?:{_INSTANCES}/)?(?P<instance>{_UUID})/?")
USER_REF = re.compile(rf"(?:{_INSTANCES}/(?P<instance>{_UUID})/users/)?(?P<user>{_UUID})/?")

VERSIONS_PATH = "/v1/types/postgres/versions"
INSTANCES_PATH = "/v1/postgres/instances"
# How GET .../instances/{uuid}/ca answers: the CA certificate, PEM.
PEM_MEDIA_TYPE = "application/x-pem-file"
# The spec's reference URIs use this prefix; both answer.
INSTANCES_REF_PATH = "/v1/types/postgres/instances"


def _path(reference: str) -> str:
    # A full URL is accepted too: only its path matters.
    return urlsplit(reference).path if "://" in reference else reference


def canonical_uuid(text: str) -> str | None:
    try:
        return str(uuid_lib.UUID(text))
    except (ValueError, AttributeError, TypeError):
        return None


def parse_version(reference: str) -> str | None:
    match = VERSION_REF.fullmatch(_path(reference))
    return canonical_uuid(match["version"]) if match else None


def parse_instance(reference: str) -> str | None:
    match = _INSTANCE_REF.fullmatch(_path(reference))
    return canonical_uuid(match["instance"]) if match else None


def parse_user(reference: str) -> tuple[str | None, str] | None:
    """``(instance uuid or None, user uuid)``, or None if it is no user reference."""
    match = USER_REF.fullmatch(_path(reference))
    if not match:
        return None
    instance = canonical_uuid(match["instance"]) if match["instance"] else None
    return instance, canonical_uuid(match["user"])


def version_uri(uuid: str) -> str:
    return f"{VERSIONS_PATH}/{uuid}"


def instance_uri(uuid: str) -> str:
    return f"{INSTANCES_REF_PATH}/{uuid}"


def user_uri(instance_uuid: str, user_uuid: str) -> str:
    return f"{instance_uri(instance_uuid)}/users/{user_uuid}"
