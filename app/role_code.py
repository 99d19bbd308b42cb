"""Python that lives in an Ansible role and is also used by the service, so that the
role (run by hand by SREs) and the service share one implementation."""

import importlib.util
from pathlib import Path
from types import ModuleType

from app.config import REPOSITORY


def load(role: str, relative_path: str) -> ModuleType:
    path: Path = REPOSITORY / "roles" / role / relative_path
    spec = importlib.util.spec_from_file_location(f"dbaas_role_{role}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
