"""Naming and sizing rules of the spec, as plain functions (the schemas call them)."""

import re

CPU = (1, 128)
RAM_MB = (512, 1024 * 1024)
DISK_GB = (8, 1024)
NODES = (1, 16)
SYNC_REPLICAS = (0, 15)
PASSWORD_LENGTH = (8, 99)
DESCRIPTION_MAX = 1024

# re.fullmatch with explicit ASCII classes: "$" alone would accept a trailing newline.
INSTANCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

RESERVED_USER_PREFIXES = ("pg_", "dbaas_", "postgres")
RESERVED_DATABASES = ("postgres", "template0", "template1")


def instance_name_error(name: str) -> str | None:
    if not INSTANCE_NAME.fullmatch(name):
        return "Must be 1-63 characters: letters, digits, '-' and '_', starting with a letter."
    return None


def user_name_error(name: str) -> str | None:
    if not USER_NAME.fullmatch(name):
        return (
            "Must be 1-63 characters: letters, digits, '_' and '$', starting with a letter or '_'."
        )
    if name.lower().startswith(RESERVED_USER_PREFIXES):
        return "Must not start with 'pg_', 'dbaas_' or 'postgres' (reserved)."
    return None


def database_name_error(name: str) -> str | None:
    if not DATABASE_NAME.fullmatch(name):
        return "Must be 1-63 characters: letters, digits and '_', starting with a letter or '_'."
    if name.lower() in RESERVED_DATABASES:
        return f"'{name}' is reserved."
    return None


def password_error(password: str) -> str | None:
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        return f"Must be between {low} and {high} characters."
    return None


def image_name_error(image: str) -> str | None:
    if not IMAGE_NAME.fullmatch(image):
        return "Must be 1-64 characters: lower-case letters, digits, '.', '_' and '-'."
    return None


# Disk auto-grow: at this fill a data disk grows by a quarter, at least 1 GB, at most
# the instance's max_disk_size.
DISK_GROW_AT_PERCENT = 80


def grown_disk_size(disk_size: int, max_disk_size: int) -> int:
    """The next size of a filling disk (GB); the same size when it is at its max."""
    return min(max_disk_size, max(disk_size + 1, -(-disk_size * 5 // 4)))


def effective_sync_replicas(sync_replica_number: int, nodes_number: int) -> int:
    """Only replicas confirm commits: at most nodes - 1 of them can be synchronous."""
    return max(0, min(sync_replica_number, nodes_number - 1))
