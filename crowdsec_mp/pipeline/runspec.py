"""The run spec: everything a child process needs, written once by the supervisor.

Children are started as `python -m crowdsec_mp.pipeline.child ROLE INDEX RUN_JSON`;
`RUN_JSON` is this dataclass as JSON in the run directory. Passing a file keeps
the command line short and lets a respawned child read exactly what its
predecessor read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

#: Exit status of a child that could not boot (bad hub YAML, missing engine...).
#: The supervisor stops the whole daemon on it instead of respawning.
EXIT_BOOT_ERROR = 3


@dataclass
class RunSpec:
    run_dir: str
    parser_workers: int
    bucket_shards: int
    #: "replay" (cat sources, time machine, exit at the end) or "live".
    mode: str = "live"
    config_path: str = ""
    state_dir: str = ""
    #: Module implementing the engine binding (see pipeline/binding.py).
    binding: str = "crowdsec_mp.pipeline.engine_binding"
    heartbeat_interval: float = 1.0
    #: Seconds between BucketStore.tick() calls in live mode.
    tick_interval: float = 1.0
    #: Append every alert as one JSON line here (replay inspection, tests); "" = off.
    alerts_file: str = ""
    #: Push alerts to the LAPI (credentials from config api.client.credentials_path).
    push_to_lapi: bool = True
    #: Seconds the output waits for the LAPI at the end before leaving alerts queued on disk.
    flush_timeout: float = 3.0
    #: Free-form settings for the binding (e.g. stand-in parameters in tests).
    extras: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunSpec":
        return cls(**json.loads(text))

    @classmethod
    def load(cls, path: str) -> "RunSpec":
        with open(path, encoding="utf-8") as handle:
            return cls.from_json(handle.read())
