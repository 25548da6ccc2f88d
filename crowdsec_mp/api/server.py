"""Serving the LAPI app with a production WSGI server.

Plain HTTP is served by waitress; with `api.server.tls.cert_file/key_file`
set, by cheroot (waitress has no TLS). `serve(config)` blocks until SIGTERM /
SIGINT; `start_server(app, host, port)` returns a running server in a
background thread (tests, benchmarks) with `.port` and `.stop()`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from crowdsec_mp.api.app import create_app
from crowdsec_mp.api.flush import FlushThread
from crowdsec_mp.api.settings import ApiSettings
from crowdsec_mp.errors import BootError

log = logging.getLogger(__name__)
DEFAULT_THREADS = 8
#: Responses below this size are sent by waitress' main loop rather than by
#: the worker thread; measured: 1 byte (worker sends) costs lookups ~30%.
WAITRESS_SEND_BYTES = 1024 * 1024
#: GIL switch interval of the API process (CPython's default is 5 ms). The
#: workers mostly block on sockets and SQLite, which release the GIL anyway;
#: forced 5 ms switches between them cost lookups throughput and p99 in
#: benchmarks/lapi_load.py, and 20 ms still bounds the wait behind a
#: snapshot being rendered.
API_SWITCH_INTERVAL_S = 0.02
#: waitress warns "Task queue depth is N" whenever a request waits for a
#: worker, i.e. on nearly every request under load (50 client connections,
#: 8 workers); formatting and writing that line costs the busy server CPU.
#: Real problems of the queue (errors) are still logged.
QUEUE_LOG_LEVEL = logging.ERROR


class RunningServer:
    """A WSGI server running in a daemon thread."""

    def __init__(self, app, host: str, port: int, *, threads: int = DEFAULT_THREADS, tls=None):
        self.host = host
        self.tls = tls
        if tls:
            from cheroot import wsgi
            from cheroot.ssl.builtin import BuiltinSSLAdapter

            self._server = wsgi.Server((host, port), app, numthreads=threads)
            self._server.ssl_adapter = BuiltinSSLAdapter(str(tls[0]), str(tls[1]))
            self._server.prepare()
            self.port = self._server.bind_addr[1]
            target = self._server.serve
        else:
            from waitress.server import create_server

            logging.getLogger("waitress.queue").setLevel(QUEUE_LOG_LEVEL)
            self._server = create_server(
                app, host=host, port=port, threads=threads, ident="crowdsec-mp", connection_limit=1000,
                channel_timeout=30,
                # Forwarded headers are trusted (or not) by auth.client_ip, per config.
                clear_untrusted_proxy_headers=False,
                # A 100k-decision stream snapshot is ~16 MB: keep it in memory
                # instead of spilling it to a temp file (default above 1 MB).
                outbuf_overflow=64 * 1024 * 1024,
                outbuf_high_watermark=128 * 1024 * 1024,
                send_bytes=WAITRESS_SEND_BYTES,
            )
            self.port = self._server.effective_port
            target = self._run_waitress
        self._stopping = False
        self._thread = threading.Thread(target=target, name="lapi-http", daemon=True)

    def _run_waitress(self):
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing the sockets from stop() wakes select() with EBADF.
            if not self._stopping:
                raise

    def start(self) -> "RunningServer":
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/"

    def stop(self):
        self._stopping = True
        if self.tls:
            self._server.stop()
        else:
            # Closing every dispatcher empties waitress' socket map, which ends
            # its loop; then the worker threads are stopped.
            for dispatcher in list(self._server._map.values()):
                dispatcher.handle_close()
            self._server.task_dispatcher.shutdown()
        self._thread.join(timeout=5)


def start_server(app, host="127.0.0.1", port=0, *, threads=DEFAULT_THREADS, tls=None) -> RunningServer:
    try:
        return RunningServer(app, host, port, threads=threads, tls=tls).start()
    except OSError as exc:
        raise BootError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def serve(config, *, threads: int = DEFAULT_THREADS) -> int:
    """Run the LAPI of a crowdsec_mp.config.Config until SIGTERM/SIGINT."""
    settings = ApiSettings.from_config(config)
    if settings.profiles_path is None:
        raise BootError(f"{config.path}: api.server.profiles_path is required")
    app = create_app(settings)
    host, port = settings.host_port
    tls = (settings.tls_cert_file, settings.tls_key_file) if settings.tls_cert_file else None
    sys.setswitchinterval(API_SWITCH_INTERVAL_S)  # this process serves the API only
    server = start_server(app, host, port, threads=threads, tls=tls)
    flusher = FlushThread(settings.db)
    flusher.start()
    stop = threading.Event()
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())  # only flag; the main loop acts
    except ValueError:
        # Not the main thread: the caller owns signals and ends the process.
        log.info("serve() called outside the main thread: SIGTERM/SIGINT left to the caller")
    log.info("local API listening on %s", server.url)
    stop.wait()
    flusher.stop()
    server.stop()
    return 0
