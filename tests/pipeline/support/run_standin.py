"""TEST-ONLY harness: a real Supervisor + real children with the stand-in binding.

usage: run_standin.py SPEC_JSON   where SPEC_JSON has mode, patterns, parsers,
shards, alerts_file, state_dir, extras, positions_path (optional).
Prints the supervisor metrics as JSON on the last stdout line; exit status = supervisor's.
"""

import json
import logging
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

from crowdsec_mp.acquisition.file import FileSource  # noqa: E402
from crowdsec_mp.pipeline.runspec import RunSpec  # noqa: E402
from crowdsec_mp.pipeline.sockets import RunDir  # noqa: E402
from crowdsec_mp.pipeline.supervisor import Supervisor  # noqa: E402


def main():
    spec = json.load(open(sys.argv[1]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    mode = spec.get("mode", "replay")
    positions = {}
    if spec.get("positions_path") and os.path.exists(spec["positions_path"]):
        positions = json.load(open(spec["positions_path"]))
    source = FileSource("test", spec["patterns"], {"type": "test"}, mode="cat" if mode == "replay" else "tail",
                        positions=positions, discovery_interval=0.1, retire_after=1.0,
                        max_line_bytes=spec.get("max_line_bytes", 65536))
    run_dir = RunDir()
    run = RunSpec(run_dir=run_dir.path, parser_workers=spec["parsers"], bucket_shards=spec["shards"], mode=mode,
                  state_dir=spec.get("state_dir", ""), binding="standin_binding",
                  heartbeat_interval=0.2, tick_interval=0.2, alerts_file=spec["alerts_file"],
                  push_to_lapi=False, extras=spec.get("extras", {}))
    supervisor = Supervisor(run, [source], batch_lines=spec.get("batch_lines", 50),
                            heartbeat_timeout=spec.get("heartbeat_timeout", 10), graceful_timeout=30,
                            positions_path=spec.get("positions_path"), child_env={"PYTHONPATH": HERE},
                            checkpoint_interval=spec.get("checkpoint_interval", 5.0))
    status = supervisor.run_forever()
    run_dir.cleanup()
    metrics = dict(supervisor.metrics, halt=supervisor.halt_message,
                   source_counters=source.counters)
    print(json.dumps(metrics), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
