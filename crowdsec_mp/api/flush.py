"""Retention of alerts, decisions and usage metrics (spec/lapi.md §8).

`flush_once(db_settings, now_us)` runs one pass (tests call it directly);
`FlushThread` runs it every minute inside the api server process.
"""

from __future__ import annotations

import logging
import threading
import time

from crowdsec_mp.api import queries
from crowdsec_mp.api.models import database_proxy
from crowdsec_mp.api.settings import DbSettings

log = logging.getLogger(__name__)

US = 1_000_000
FLUSH_INTERVAL_S = 60
METRICS_MAX_AGE_US = 7 * 86400 * US


def flush_once(db: DbSettings, now_us: int) -> int:
    """One retention pass; returns the number of alerts deleted."""
    max_age = int(db.flush_max_age * US) if db.flush_max_age is not None else None
    deleted = queries.flush_alerts(now_us, max_age_us=max_age, max_items=db.flush_max_items)
    queries.flush_usage_metrics(now_us, METRICS_MAX_AGE_US)
    if deleted:
        log.info("flush: deleted %d alert(s)", deleted)
    return deleted


class FlushThread(threading.Thread):
    """Calls flush_once every `interval` seconds until stop() is called."""

    def __init__(self, db: DbSettings, clock=time.time, interval: float = FLUSH_INTERVAL_S):
        super().__init__(name="lapi-flush", daemon=True)
        self.db = db
        self.clock = clock
        self.interval = interval
        self._stopped = threading.Event()

    def run(self):
        while not self._stopped.wait(self.interval):
            try:
                database_proxy.connect(reuse_if_open=True)
                flush_once(self.db, int(self.clock() * US))
                if self.db.backend == "sqlite":
                    # Keeps the planner's statistics current as tables grow.
                    database_proxy.execute_sql("PRAGMA optimize")
            except Exception:  # keep flushing on the next tick; the DB may be back
                log.exception("flush failed")
            finally:
                if self.db.backend != "sqlite" and not database_proxy.is_closed():
                    database_proxy.close()

    def stop(self):
        self._stopped.set()
