"""``lookup('dbaas_tls', STATE_DIR, instance=UUID, nodes=[{name, address}])``: the
``dbaas_tls`` contract variable for a hand-run inventory, made by the service's own code
(core.tls) and kept 0600 under STATE_DIR, so that running again changes nothing.
The worker makes the same variable from its database instead."""

from pathlib import Path

from ansible.plugins.lookup import LookupBase

from core.tls import Issued, new_instance_ca, new_node_certificate, new_root, still_good


def _kept(path: Path, make) -> Issued:
    if path.exists():
        return Issued.from_json(path.read_bytes())
    issued = make()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(issued.to_json())
    return issued


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        state = Path(terms[0])
        root = _kept(state / "root.json", new_root)
        # What clients verify the nodes with: psql's sslrootcert.
        if not (state / "ca.pem").exists():
            (state / "ca.pem").write_text(root.certificate)
        instance_ca = _kept(
            state / f"instance-{kwargs['instance']}.json",
            lambda: new_instance_ca(root, kwargs["instance"]),
        )
        nodes = {}
        for node in kwargs["nodes"]:
            path = state / f"node-{node['name']}.json"
            issued = Issued.from_json(path.read_bytes()) if path.exists() else None
            if issued is None or not still_good(issued, node["name"], node["address"]):
                path.unlink(missing_ok=True)
                issued = _kept(
                    path, lambda n=node: new_node_certificate(instance_ca, n["name"], n["address"])
                )
            nodes[node["name"]] = {"certificate": issued.certificate, "key": issued.key}
        return [
            {
                "ca_certificate": root.certificate,
                "instance_ca_certificate": instance_ca.certificate,
                "nodes": nodes,
            }
        ]
