"""peewee tables of the Local API, bound to `database_proxy` (see db.py).

Times are integer microseconds since the Unix epoch, UTC (timefmt.py) so that
comparisons are exact and identical on every backend.

Decisions carry their Ip/Range value as numeric bounds (iprange.py):
`ip_size` (0 = not an IP value, 4, 16), `start_hi/start_lo/end_hi/end_lo`, and
`is_range` (start != end). "Which decisions contain 1.2.3.4" is then an
equality lookup on the single-address rows plus a bounds test on the (few)
range rows, both served by indexes.
"""

from __future__ import annotations

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database_proxy = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database_proxy


class SchemaVersion(BaseModel):
    """One row: the number of the last migration applied (db.MIGRATIONS)."""

    version = IntegerField()

    class Meta:
        table_name = "schema_version"


class Machine(BaseModel):
    machine_id = CharField(max_length=255, unique=True)
    password = CharField(max_length=255)  # bcrypt hash
    ip_address = CharField(max_length=64, default="")
    is_validated = BooleanField(default=False)
    auth_type = CharField(max_length=32, default="password")
    scenarios = TextField(default="")  # comma-separated, as CrowdSec stores them
    version = CharField(max_length=255, default="")
    last_push = BigIntegerField(null=True)
    last_heartbeat = BigIntegerField(null=True)
    created_at = BigIntegerField()
    updated_at = BigIntegerField()

    class Meta:
        table_name = "machines"


class Bouncer(BaseModel):
    name = CharField(max_length=255, unique=True)
    api_key_hash = CharField(max_length=128, index=True)  # sha512 hex of the key
    ip_address = CharField(max_length=64, default="")
    revoked = BooleanField(default=False)
    last_pull = BigIntegerField(null=True)
    type = CharField(max_length=255, default="")
    version = CharField(max_length=255, default="")
    auth_type = CharField(max_length=32, default="api-key")
    auto_created = BooleanField(default=False)
    created_at = BigIntegerField()
    updated_at = BigIntegerField()

    class Meta:
        table_name = "bouncers"


class Alert(BaseModel):
    uuid = CharField(max_length=64, default="")
    machine = ForeignKeyField(Machine, null=True, on_delete="SET NULL", backref="alerts")
    created_at = BigIntegerField(index=True)
    updated_at = BigIntegerField()
    scenario = TextField(default="")
    scenario_hash = CharField(max_length=255, default="")
    scenario_version = CharField(max_length=255, default="")
    message = TextField(default="")
    events_count = IntegerField(default=0)
    start_at = BigIntegerField(null=True, index=True)
    stop_at = BigIntegerField(null=True)
    capacity = IntegerField(default=0)
    leakspeed = CharField(max_length=64, default="")
    simulated = BooleanField(default=False)
    remediation = BooleanField(default=False)
    kind = CharField(max_length=64, default="")
    source_scope = CharField(max_length=255, default="")
    source_value = CharField(max_length=255, default="", index=True)
    source_ip = CharField(max_length=64, default="")
    source_range = CharField(max_length=64, default="")
    source_as_number = CharField(max_length=64, default="")
    source_as_name = TextField(default="")
    source_country = CharField(max_length=16, default="")
    source_latitude = FloatField(default=0.0)
    source_longitude = FloatField(default=0.0)
    labels = TextField(null=True)  # JSON list, NULL when absent

    class Meta:
        table_name = "alerts"


class Event(BaseModel):
    alert = ForeignKeyField(Alert, on_delete="CASCADE", backref="events")
    time = BigIntegerField(null=True)
    serialized = TextField(default="[]")  # JSON list of {"key", "value"}

    class Meta:
        table_name = "events"


class MetaItem(BaseModel):
    alert = ForeignKeyField(Alert, on_delete="CASCADE", backref="meta")
    key = CharField(max_length=255)
    value = TextField()

    class Meta:
        table_name = "meta"


class Decision(BaseModel):
    alert = ForeignKeyField(Alert, null=True, on_delete="CASCADE", backref="decisions")
    uuid = CharField(max_length=64, default="")
    created_at = BigIntegerField(index=True)
    updated_at = BigIntegerField()
    until = BigIntegerField(index=True)
    scenario = TextField(default="")
    # type/scope stay short so that the (value, type, scope, until) index
    # fits MySQL's 3072-byte key limit in utf8mb4.
    type = CharField(max_length=128)
    scope = CharField(max_length=128)
    value = CharField(max_length=255)
    origin = CharField(max_length=255)
    simulated = BooleanField(default=False)
    ip_size = IntegerField(default=0)
    start_hi = BigIntegerField(null=True)
    start_lo = BigIntegerField(null=True)
    end_hi = BigIntegerField(null=True)
    end_lo = BigIntegerField(null=True)
    is_range = BooleanField(default=False)

    class Meta:
        table_name = "decisions"
        indexes = (
            (("ip_size", "start_hi", "start_lo"), False),
            (("is_range", "ip_size", "start_hi", "start_lo"), False),
            # Stream dedup: longest `until` per (value, type, scope), read in index order.
            (("value", "type", "scope", "until"), False),
        )


class UsageMetric(BaseModel):
    generated_type = CharField(max_length=8)  # "RC" (bouncer) | "LP" (machine)
    generated_by = CharField(max_length=255)
    received_at = BigIntegerField(index=True)
    payload = TextField()

    class Meta:
        table_name = "usage_metrics"


ALL_MODELS = [SchemaVersion, Machine, Bouncer, Alert, Event, MetaItem, Decision, UsageMetric]
