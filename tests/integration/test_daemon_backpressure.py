"""Backpressure through the real daemon: a cat-mode replay reads far faster than one parser
worker parses, so the supervisor must stop reading when the worker has no credit left.
Then memory does not depend on the file size and no line is dropped.

Why the bound holds: at most `max_inflight` (4) batches of `batch_lines` (500) lines
are in flight per worker, plus the ZeroMQ high-water marks, so the lines held in memory
at once are a few thousand whatever the file size. The test replays a 20 MB and an
80 MB file (1 KiB lines): a reader that did not slow down would hold most of the bigger
file (Python strings: > 80 MB more); with backpressure the peak total RSS of all the
daemon's processes grows by less than 25 MiB between the two.
"""

import json
import re
import subprocess
import sys

import pytest

from tests.integration.daemon_env import daemon_env, make_config
from tests.integration.process_tree import watch_tree

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

MIB = 1024 * 1024
LINE_BYTES = 1024


def write_log(path, lines):
    # Syslog lines from a program no parser knows: cheap to parse, fast to read.
    with open(path, "w") as handle:
        for n in range(lines):
            head = f"Mar 10 06:{(n // 60) % 60:02d}:{n % 60:02d} web01 batchjob[{n % 1000}]: item {n} "
            handle.write(head + "x" * (LINE_BYTES - len(head) - 1) + "\n")


def replay_peak_rss(config, log_path):
    """Runs a replay, sampling the summed RSS of the daemon's process tree; returns
    (peak bytes, the supervisor's end-of-replay summary)."""
    proc = subprocess.Popen([sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), "-dsn",
                             f"file://{log_path}", "-type", "syslog", "-no-api", "-dump-data",
                             str(log_path.parent / "dump"), "-workers", "1", "-shards", "1"],
                            env=daemon_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = watch_tree(proc, 0.05).peak_rss
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    summary = json.loads(re.search(r"replay done: (\{.*\})", err).group(1))
    return peak, summary


def test_fast_reader_is_slowed_memory_bounded_no_line_dropped(tmp_path):
    config = make_config(tmp_path, workers=1, shards=1)
    results = {}
    for lines in (20_000, 80_000):
        log_path = tmp_path / f"big-{lines}.log"
        write_log(log_path, lines)
        peak, summary = replay_peak_rss(config, log_path)
        src = str(log_path)
        read = summary["lines_read"][src]
        processed = summary["lines_parsed"].get(src, 0) + summary["lines_unparsed"].get(src, 0)
        assert read == lines, "the reader lost lines"
        assert processed == lines, "lines read were not all processed"
        results[lines] = peak
    print(f"peak total RSS: 20k lines {results[20_000] / MIB:.0f} MiB, 80k lines {results[80_000] / MIB:.0f} MiB")
    assert results[80_000] < results[20_000] + 25 * MIB
