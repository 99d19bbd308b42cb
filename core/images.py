"""The root images a version may name: the root_image role's recipes, read from the
role's defaults so that the API and the playbooks know the same list."""

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from core import rules

ROLE_DEFAULTS = Path(__file__).resolve().parents[1] / "roles/root_image/defaults/main.yml"


@dataclass(frozen=True)
class Recipe:
    suite: str  # the Debian suite it is bootstrapped from
    major: int  # the PostgreSQL major it ships


@functools.cache
def recipes() -> dict[str, Recipe]:
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    return {
        name: Recipe(suite=str(entry["suite"]), major=int(entry["postgresql"]))
        for name, entry in defaults["root_image_recipes"].items()
    }


def recipe(image: str) -> Recipe | None:
    return recipes().get(image)


def unknown_image_error(image: str) -> str | None:
    if image in recipes():
        return None
    return f"No root image recipe '{image}'; known: {', '.join(sorted(recipes()))}."


def image_error(image: str) -> str | None:
    """What is wrong with a version's image name: its form, or no recipe for it."""
    return rules.image_name_error(image) or unknown_image_error(image)
