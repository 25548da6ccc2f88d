"""The `api` child: runs `crowdsec_mp.api.server.serve(config)` (LAPI, another module).

`serve()` blocks in the WSGI server, so heartbeats come from a daemon thread,
and SIGTERM gets its default action back (the WSGI server has no flag to poll).
"""

from __future__ import annotations

import signal
import threading
import time

from crowdsec_mp.pipeline.child import ParentGone


def main(runtime) -> int:
    try:
        from crowdsec_mp.api.server import serve
        from crowdsec_mp.config import load_config

        config = load_config(runtime.run.config_path or None)
    except Exception as exc:  # noqa: BLE001 - config errors are boot errors
        return runtime.boot_error(str(exc))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def beat():
        # Heartbeats use their own zmq socket: sockets are not thread-safe.
        import os

        from crowdsec_mp.pipeline import sockets, wire

        sock = sockets.push(runtime.ctx, runtime.run_dir.control(), hwm=100)
        while True:
            frame = wire.encode("heartbeat", {"role": "api", "index": 0, "pid": os.getpid(), "stats": {}})
            sockets.send_or_wait(sock, frame, 1000)
            if not runtime.parent_alive():
                os._exit(0)
            time.sleep(runtime.run.heartbeat_interval)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
    try:
        serve(config)
    except ParentGone:
        return 0
    except Exception as exc:  # noqa: BLE001
        return runtime.boot_error(f"Local API server failed: {exc}")
    return 0
