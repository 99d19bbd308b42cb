"""A per-process map whose entries expire: what one API process may remember for a
few seconds instead of asking the database or Redis on every request."""

import threading
import time
from typing import Any


class ExpiringMap:
    """Entries live the seconds they were put with. Bounded: past `size` entries it
    starts over empty (a miss only costs the question it saved)."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: Any, value: Any, seconds: float) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + seconds, value)

    def pop(self, key: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
