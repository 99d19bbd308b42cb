#!/usr/bin/python3
"""Write a node's TLS files in one step (one SSH round trip instead of one per file):
the CA certificates and the node's certificate world-readable, a 0600 copy of the key
for each service that reads it. Each file is written only when its content, owner or
mode differ, atomically (a service never reads half a key)."""

import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: node_tls_files
short_description: Write a node's certificates and key copies
options:
  directory: {type: path, required: true, description: Where the files go.}
  certificates:
    type: dict
    required: true
    description: File name -> PEM text, written 0644 root-owned.
  key: {type: str, required: true, no_log: true, description: The node's private key.}
  key_owners:
    type: list
    elements: str
    required: true
    description: Users that each get <directory>/<user>.key, 0600.
"""


def _write(path: str, content: str, uid: int, gid: int, mode: int) -> bool:
    try:
        with open(path) as handle:
            same = handle.read() == content
        stat = os.stat(path)
        if same and (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (uid, gid, mode):
            return False
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tls-")
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "certificates": {"type": "dict", "required": True},
            "key": {"type": "str", "required": True, "no_log": True},
            "key_owners": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=False,
    )
    directory = module.params["directory"]
    os.makedirs(directory, mode=0o755, exist_ok=True)
    changed = []
    for name, pem in sorted(module.params["certificates"].items()):
        if "/" in name or name.startswith("."):
            module.fail_json(msg=f"not a file name: {name!r}")
        if _write(os.path.join(directory, name), pem, 0, 0, 0o644):
            changed.append(name)
    for owner in module.params["key_owners"]:
        try:
            user = pwd.getpwnam(owner)
        except KeyError:
            module.fail_json(msg=f"no user {owner!r} on this node")
        if _write(
            os.path.join(directory, f"{owner}.key"),
            module.params["key"],
            user.pw_uid,
            user.pw_gid,
            0o600,
        ):
            changed.append(f"{owner}.key")
    module.exit_json(changed=bool(changed), files=changed)


if __name__ == "__main__":
    main()
