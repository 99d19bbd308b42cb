"""Data for Ansible that Ansible cannot run: every string tagged ``!unsafe``.

Ansible renders ``{{ … }}`` and ``{% … %}`` in extra variables and inventory values
it trusts, and a Jinja lookup runs commands on the control host. A description, a
name, anything that came from a client or from the database, must reach a playbook
as data only. Tagging every string here, in the one place the worker writes what a
playbook is given, makes that structural: a playbook cannot template such a value
even by mistake (``"{{ dbaas_user.description }}"`` yields the text, unrendered).

Keys stay plain: they are the service's own names (variables, host names), and
Ansible never templates a key.
"""

from typing import Any

import yaml

UNSAFE_TAG = "!unsafe"


class _UnsafeDumper(yaml.SafeDumper):
    """Strings as double-quoted ``!unsafe`` scalars: every character escaped, so any
    Unicode text round-trips exactly."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # no anchors: each value stands alone


def _unsafe_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(UNSAFE_TAG, value, style='"')


def _plain_keys(dumper: yaml.SafeDumper, mapping: dict) -> yaml.MappingNode:
    pairs = [
        (dumper.represent_scalar("tag:yaml.org,2002:str", str(key)), dumper.represent_data(value))
        for key, value in mapping.items()
    ]
    return yaml.MappingNode("tag:yaml.org,2002:map", pairs)


_UnsafeDumper.add_representer(str, _unsafe_string)
_UnsafeDumper.add_multi_representer(str, _unsafe_string)  # its subclasses: the StrEnums
_UnsafeDumper.add_representer(dict, _plain_keys)


def dump(data: dict[str, Any]) -> str:
    """YAML for an extravars or inventory file, every string value ``!unsafe``."""
    return yaml.dump(
        data, Dumper=_UnsafeDumper, allow_unicode=True, sort_keys=False, width=float("inf")
    )
