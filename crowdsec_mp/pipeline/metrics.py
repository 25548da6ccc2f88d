"""Prometheus endpoint of the daemon (config `prometheus.*`).

Values are read from the supervisor at scrape time (`SupervisorCollector`):
the supervisor already aggregates acks and the children's heartbeat stats, so
no process does metrics I/O of its own. CrowdSec's metric names are used where
CrowdSec has one (cs_lineread_total, cs_parser_hits_ok_total,
cs_parser_hits_ko_total, cs_bucket_poured_total, cs_bucket_overflowed_total),
so `cscli metrics`-style readers find them; the rest are `csmp_*`.

The HTTP server runs in a thread of the supervisor and only reads: copies of
dicts are taken before iterating because the main loop keeps updating them.
"""

from __future__ import annotations

import os

import psutil
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


def _copy(mapping) -> dict:
    for _ in range(5):
        try:
            return dict(mapping)
        except RuntimeError:  # changed size during copy: try again
            continue
    return {}


class SupervisorCollector:
    def __init__(self, supervisor):
        self.supervisor = supervisor
        self._procs: dict[int, psutil.Process] = {}

    def collect(self):
        sup = self.supervisor
        types = _copy(sup.src_types)
        metrics = _copy(sup.metrics)
        for name, prom, help_text in (
            ("lines_read", "cs_lineread_total", "Lines read per datasource"),
            ("lines_parsed", "cs_parser_hits_ok_total", "Lines parsed per datasource"),
            ("lines_unparsed", "cs_parser_hits_ko_total", "Lines no parser accepted, per datasource"),
        ):
            family = CounterMetricFamily(prom, help_text, labels=["source", "type"])
            for source, value in _copy(metrics.get(name, {})).items():
                family.add_metric([source, types.get(source, "")], value)
            yield family
        truncated = CounterMetricFamily("csmp_lines_truncated_total", "Over-long lines truncated",
                                        labels=["source"])
        errors = CounterMetricFamily("csmp_source_errors_total", "Datasource errors", labels=["source"])
        for source in list(sup.sources):
            counters = _copy(source.counters)
            truncated.add_metric([source.name], counters.get("lines_truncated", 0))
            errors.add_metric([source.name], counters.get("errors", 0) + counters.get("unparsed_messages", 0))
        yield truncated
        yield errors

        poured = CounterMetricFamily("cs_bucket_poured_total", "Events poured per scenario and line source",
                                     labels=["name", "source", "type"])
        overflowed = CounterMetricFamily("cs_bucket_overflowed_total", "Overflows per scenario", labels=["name"])
        live = GaugeMetricFamily("cs_buckets", "Live buckets per scenario", labels=["name"])
        live_totals: dict[str, int] = {}
        # Counted from the batch acks (exact across parser respawns), not from heartbeats.
        poured_totals = _copy(metrics.get("poured", {}))
        overflow_totals: dict[str, int] = {}
        children = list(sup.all_children())
        for child in children:
            stage = (child.stats or {}).get("stage", {}) or {}
            for scenario, value in (stage.get("overflowed") or {}).items():
                overflow_totals[scenario] = overflow_totals.get(scenario, 0) + value
            for scenario, value in (stage.get("buckets") or {}).items():
                live_totals[scenario] = live_totals.get(scenario, 0) + value
        for (scenario, src), value in sorted(poured_totals.items()):
            poured.add_metric([scenario, src, types.get(src, "")], value)
        for scenario, value in sorted(overflow_totals.items()):
            overflowed.add_metric([scenario], value)
        for scenario, value in sorted(live_totals.items()):
            live.add_metric([scenario], value)
        yield poured
        yield overflowed
        yield live

        inflight = GaugeMetricFamily("csmp_batches_inflight", "Line batches dispatched, not yet acked")
        inflight.add_metric([], len(_copy(sup.batches)))
        yield inflight
        redispatch = GaugeMetricFamily("csmp_batches_redispatch_queue", "Batches waiting to be re-sent")
        redispatch.add_metric([], len(list(sup.redispatch)))
        yield redispatch
        for key, help_text in (("batches_redispatched", "Batches re-sent after a worker died"),
                               ("respawns", "Child processes respawned after a crash"),
                               ("killed_stale", "Children killed for a missed heartbeat")):
            family = CounterMetricFamily(f"csmp_{key}_total", help_text)
            family.add_metric([], metrics.get(key, 0))
            yield family

        child_stat = GaugeMetricFamily("csmp_process_stat", "Counters a child reported in its last heartbeat",
                                       labels=["process", "stat"])
        cpu = CounterMetricFamily("csmp_process_cpu_seconds_total", "CPU time per process", labels=["process"])
        rss = GaugeMetricFamily("csmp_process_resident_memory_bytes", "RSS per process", labels=["process"])
        for name, pid, stats in [("supervisor", os.getpid(), {"bad_frames": sup.frames.bad_frames})] + [
                (c.name, c.pid, c.stats or {}) for c in children]:
            for stat, value in stats.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    child_stat.add_metric([name, stat], value)
            usage = self._usage(pid)
            if usage is not None:
                cpu.add_metric([name], usage[0])
                rss.add_metric([name], usage[1])
        yield child_stat
        yield cpu
        yield rss

    def _usage(self, pid):
        if pid is None:
            return None
        try:
            proc = self._procs.get(pid) or psutil.Process(pid)
            self._procs[pid] = proc
            times = proc.cpu_times()
            return times.user + times.system, proc.memory_info().rss
        except psutil.Error:
            self._procs.pop(pid, None)
            return None


class MetricsServer:
    def __init__(self, server, thread, registry):
        self.server = server
        self.thread = thread
        self.registry = registry

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @classmethod
    def start(cls, supervisor, addr: str, port: int) -> "MetricsServer":
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SupervisorCollector(supervisor))
        server, thread = start_http_server(port, addr=addr, registry=registry)
        return cls(server, thread, registry)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
