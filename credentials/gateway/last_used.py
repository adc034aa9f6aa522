"""Last use of API keys, recorded in a per-process buffer and written by one UPDATE per
`LAST_USED_FLUSH_SECONDS` at most (and at exit), never one write per request."""

import atexit
import logging
import threading
from datetime import datetime

from django.conf import settings
from django.db.models import Q

from credentials.gateway.snapshot import wall_clock
from credentials.keys.models import ApiKey

logger = logging.getLogger(__name__)


LAST_USED_FLUSH_SECONDS = float(getattr(settings, "PORTICO_GATEWAY_LAST_USED_FLUSH_SECONDS", 5.0))


# Keep each UPDATE's list of ids well below every backend's limit on query parameters.
FLUSH_CHUNK = 5_000


class LastUsedBuffer:
    """The keys used since the last flush; one UPDATE writes them at most every `interval` s."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        self._latest: datetime | None = None
        self._flushed_at = wall_clock()

    def record(self, api_key_id: int, used_at: datetime) -> None:
        with self._lock:
            self._ids.add(api_key_id)
            if self._latest is None or used_at > self._latest:
                self._latest = used_at
            now = wall_clock()
            due = not 0 <= now - self._flushed_at < self.interval
        if due:
            self.flush()

    def flush(self) -> int:
        """Write the buffered last-use time; returns how many keys were written. Never raises."""
        with self._lock:
            ids, latest = self._ids, self._latest
            self._ids, self._latest = set(), None
            self._flushed_at = wall_clock()
        if not ids or latest is None:
            return 0
        written = 0
        try:
            ordered = sorted(ids)
            for start in range(0, len(ordered), FLUSH_CHUNK):
                chunk = ordered[start : start + FLUSH_CHUNK]
                # One time for the batch (its latest use): accurate to the flush interval, and
                # never moves a key's last use backwards (another process may have written later).
                written += (
                    ApiKey.objects.filter(pk__in=chunk)
                    .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=latest))
                    .update(last_used_at=latest)
                )
        except Exception:
            # Last use is informational: a database hiccup must not fail the gateway's answer.
            logger.warning("Could not record the last use of %d API keys", len(ids), exc_info=True)
        return written

    def clear(self) -> None:
        with self._lock:
            self._ids, self._latest = set(), None
            self._flushed_at = wall_clock()


last_used = LastUsedBuffer(LAST_USED_FLUSH_SECONDS)


atexit.register(last_used.flush)
