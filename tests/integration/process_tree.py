"""Samples the memory and CPU of a process and all its descendants until it exits.

Shared by the backpressure test and the benchmarks: the daemon is a tree of
processes (supervisor, parser workers, shards, output), and what the machine
has to provide is the SUM of their RSS at the same moment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil


@dataclass
class TreeUsage:
    #: peak of the summed RSS of the tree, in bytes.
    peak_rss: int = 0
    #: pid -> its own peak RSS, in bytes.
    peak_rss_by_pid: dict[int, int] = field(default_factory=dict)
    #: pid -> user + system CPU seconds at its last sample (a few hundred ms may be
    #: missing per process: a profile, not an exact account).
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    #: pid -> its command line at its last sample (a child just forked may not
    #: show its final command line yet).
    cmdline_by_pid: dict[int, list[str]] = field(default_factory=dict)


def watch_tree(proc, interval: float) -> TreeUsage:
    """Samples the tree of `proc` (a subprocess.Popen) every `interval` seconds
    until `proc` exits."""
    usage = TreeUsage()
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        total = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for member in tree:
            try:
                with member.oneshot():
                    rss = member.memory_info().rss
                    times = member.cpu_times()
                    cmdline = member.cmdline()
            except psutil.Error:
                continue
            total += rss
            pid = member.pid
            usage.peak_rss_by_pid[pid] = max(usage.peak_rss_by_pid.get(pid, 0), rss)
            usage.cpu_by_pid[pid] = times.user + times.system
            usage.cmdline_by_pid[pid] = cmdline
        usage.peak_rss = max(usage.peak_rss, total)
        time.sleep(interval)
    return usage
