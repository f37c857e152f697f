"""Failed token attempts per address: a bounded, self-pruning table used to slow down guessing.

It only ever changes the answer to a wrong token (401 → 429): a valid token is checked first and
always accepted, so ten wrong guesses from one address (behind a proxy, from everyone) cannot lock
the editors out. Each address keeps at most `limit` timestamps, idle addresses are dropped after
the window, and the table never holds more than `max_addresses`.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Callable


class FailedAttempts:
    def __init__(self, limit: int = 10, window: float = 60.0, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self.clock = clock
        self._table: OrderedDict[str, deque[float]] = OrderedDict()   # least recently failed first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._table)

    def _prune(self, now: float) -> None:
        while self._table:
            address, times = next(iter(self._table.items()))
            if now - times[-1] <= self.window and len(self._table) <= self.max_addresses:
                break
            del self._table[address]

    def record(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            times = self._table.pop(address, None) or deque(maxlen=self.limit)
            times.append(now)
            self._table[address] = times
            self._prune(now)

    def blocked(self, address: str) -> bool:
        """True while the address has had `limit` failures within the window."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            times = self._table.get(address)
            return bool(times) and len(times) == self.limit and now - times[0] <= self.window

    def retry_after(self, address: str) -> int:
        """Seconds until the oldest counted failure leaves the window."""
        with self._lock:
            times = self._table.get(address)
            if not times:
                return 0
            return max(1, int(self.window - (self.clock() - times[0])) + 1)
