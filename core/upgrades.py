"""What an upgrade of an instance to a version means: the rule the API applies before
it records one. A minor update keeps the image and takes the newest packages of its
suite; a major upgrade moves to a higher PostgreSQL on another image."""

import enum
from dataclasses import dataclass

from core import images


class Kind(enum.StrEnum):
    MINOR = "minor"
    MAJOR = "major"


@dataclass(frozen=True)
class Plan:
    kind: Kind | None  # None: refused, see `refusal`
    refusal: str = ""
    from_major: int | None = None
    to_major: int | None = None


def plan(current_image: str, target_image: str | None) -> Plan:
    """No target, or the instance's own image: a minor update. Another image: a major
    upgrade if its PostgreSQL is higher; refused if it is the same major (there is
    nothing to upgrade) or lower (a downgrade)."""
    current = images.recipe(current_image)
    if target_image is None or target_image == current_image:
        return Plan(Kind.MINOR, from_major=current and current.major)
    target = images.recipe(target_image)
    if current is None or target is None:
        unknown = current_image if current is None else target_image
        return Plan(None, f"The image {unknown} has no recipe: its PostgreSQL is unknown.")
    if target.major == current.major:
        return Plan(
            None,
            f"PostgreSQL {target.major} is the instance's major already: ask without a "
            "version for the newest packages of its own image.",
        )
    if target.major < current.major:
        return Plan(
            None,
            f"PostgreSQL {current.major} cannot be downgraded to {target.major}: create an "
            "instance of that version and move the data with pg_dump and pg_restore.",
        )
    return Plan(Kind.MAJOR, from_major=current.major, to_major=target.major)
