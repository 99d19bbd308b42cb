"""The ``scram_verifier`` filter: an SRE's plaintext password turned into the
SCRAM-SHA-256 verifier PostgreSQL stores, by the service's own code (core.scram)."""

from core.scram import scram_verifier


class FilterModule:
    def filters(self):
        return {"scram_verifier": scram_verifier}
