"""Database backend choice, connection lifecycle, schema and migrations.

`open_database(db_settings)` builds the peewee Database for `db_config` and
binds the models to it (through `models.database_proxy`); `migrate()` brings
the schema to the newest version, recorded in the `schema_version` table.

SQLite runs in WAL mode with a busy timeout so that the API server, the CLI
and tests can use one file from several processes; write transactions begin
IMMEDIATE so two writers queue on the busy timeout instead of failing on a
lock upgrade. PostgreSQL and MySQL use pooled connections (one per server
thread, recycled when stale).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref

from peewee import Database, DatabaseProxy, OperationalError, SqliteDatabase
from playhouse.pool import PooledMySQLDatabase, PooledPostgresqlDatabase

from crowdsec_mp.api.models import ALL_MODELS, SchemaVersion, database_proxy
from crowdsec_mp.api.settings import DbSettings
from crowdsec_mp.errors import BootError

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 15000,
    "foreign_keys": 1,
    "synchronous": "normal",
    "cache_size": -32000,
    # Shared memory-mapped reads: every server thread has its own connection,
    # and a per-connection page cache would start cold for each of them.
    "mmap_size": 256 * 1024 * 1024,
}


#: A pooled PostgreSQL connection checked in longer ago than this is pinged
#: (`SELECT 1`) before reuse; a recently used one is trusted.
PG_PING_AFTER_IDLE_S = 5.0


class PostgresPool(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool without a liveness round trip per checkout.

    The stock pool sends `SELECT 1` each time a connection is taken, i.e.
    once per API request: a third of a bouncer lookup. Here a connection
    that is idle in a transaction-free state and was handed back less than
    PG_PING_AFTER_IDLE_S ago is reused as is; older ones are still pinged,
    so that connections dropped while idle (server restart) are replaced.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._checked_in = weakref.WeakKeyDictionary()  # connection -> monotonic check-in time

    def _is_closed(self, conn):
        if conn.closed:
            return True
        last = self._checked_in.get(conn)
        recent = last is not None and time.monotonic() - last < PG_PING_AFTER_IDLE_S
        if recent and self._adapter.txn_status(conn) == self._adapter.txn_idle:
            return False
        return super()._is_closed(conn)

    def _close(self, conn, close_conn=False):
        super()._close(conn, close_conn)
        if not close_conn:
            self._checked_in[conn] = time.monotonic()


def build_database(db: DbSettings) -> Database:
    if db.backend == "sqlite":
        db.db_path.parent.mkdir(parents=True, exist_ok=True)
        pragmas = dict(SQLITE_PRAGMAS)
        if not db.use_wal:
            pragmas["journal_mode"] = "delete"
        return SqliteDatabase(str(db.db_path), pragmas=pragmas, timeout=15)
    if db.backend == "postgresql":
        extra = {"sslmode": db.sslmode} if db.sslmode else {}
        return PostgresPool(
            db.db_name,
            user=db.user or None,
            password=db.password or None,
            host=db.host,
            port=db.port or 5432,
            max_connections=db.max_open_conns,
            stale_timeout=300,
            **extra,
        )
    return PooledMySQLDatabase(
        db.db_name,
        user=db.user or "root",
        password=db.password,
        host=db.host,
        port=db.port or 3306,
        charset="utf8mb4",
        max_connections=db.max_open_conns,
        stale_timeout=300,
    )


def open_database(db: DbSettings, *, migrate_schema: bool = True) -> Database:
    """Connect, bind the models and (by default) apply pending migrations.

    Raises BootError naming the backend when the database cannot be reached.
    """
    database = build_database(db)
    database_proxy.initialize(database)
    try:
        database.connect(reuse_if_open=True)
        if migrate_schema:
            migrate(database)
    except OperationalError as exc:
        raise BootError(f"cannot open the {db.backend} database: {exc}") from exc
    finally:
        if not database.is_closed():
            database.close()
    return database


#: Serialises SQLite writers of this process. SQLite's own busy handler
#: retries a locked database with sleeps of up to 100 ms, so threads that
#: contend on the file lock see huge latencies; queueing them on a Python
#: lock first leaves the busy timeout for other processes (CLI, agents).
_SQLITE_WRITE_LOCK = threading.Lock()


@contextlib.contextmanager
def _sqlite_write(database):
    with _SQLITE_WRITE_LOCK:
        with database.atomic("IMMEDIATE"):
            yield


def write_transaction(database: Database):
    """A transaction that takes the write lock up front on SQLite."""
    if isinstance(database, DatabaseProxy):
        database = database.obj
    if isinstance(database, SqliteDatabase):
        return _sqlite_write(database)
    return database.atomic()


# -- migrations ---------------------------------------------------------------


def _migration_1_initial(database: Database):
    database.create_tables([m for m in ALL_MODELS if m is not SchemaVersion], safe=True)


#: Numbered schema changes, applied in order, each once. Append, never edit.
MIGRATIONS = [
    (1, _migration_1_initial),
]


def schema_version(database: Database) -> int:
    if not database.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def migrate(database: Database) -> int:
    """Apply the pending migrations; returns the resulting schema version."""
    with write_transaction(database):
        database.create_tables([SchemaVersion], safe=True)
        current = schema_version(database)
        for number, step in MIGRATIONS:
            if number > current:
                log.info("applying database migration %d (%s)", number, step.__name__)
                step(database)
                SchemaVersion.delete().execute()
                SchemaVersion.create(version=number)
                current = number
    return current
