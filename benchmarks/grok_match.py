"""Grok and ParseDate micro-benchmark (not a test: prints lines/s).

    python benchmarks/grok_match.py [--lines N]

Measures, on a gen_corpus sshd log: the syslog grok (CrowdSec's SYSLOGLINE
from ../shared/hub/patterns when present, and ours from conf.d/patterns), one
sshd grok on the message, and ParseDate on the syslog timestamp.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crowdsec_mp.engine.enrich.dates import marshal_time, parse_date  # noqa: E402
from crowdsec_mp.engine.grok import PatternLibrary  # noqa: E402

SHARED = REPO.parent / "shared"


def rate(label, function, items):
    start = time.perf_counter()
    for item in items:
        function(item)
    elapsed = time.perf_counter() - start
    print(f"{label:55s} {len(items) / elapsed:>12,.0f} /s   ({elapsed * 1e6 / len(items):.2f} us each)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sshd.log"
        subprocess.run([sys.executable, str(SHARED / "tools" / "gen_corpus.py"), "--kind", "sshd",
                        "--lines", str(args.lines), "--out", str(out)], check=True, capture_output=True)
        lines = out.read_text().splitlines()

    libraries = {"conf.d": PatternLibrary.load([REPO / "conf.d" / "patterns"])}
    if (SHARED / "hub" / "patterns").is_dir():
        libraries["crowdsec"] = PatternLibrary.load([SHARED / "hub" / "patterns"])
    for label, library in libraries.items():
        syslog = library.compile("^%{SYSLOGLINE}")
        rate(f"{label}: ^%{{SYSLOGLINE}}", syslog.match, lines)
    library = libraries["conf.d"]
    syslog = library.compile("^%{SYSLOGLINE}")
    parsed = [syslog.match(line) for line in lines]
    messages = [p["message"] for p in parsed if p["program"] == "sshd"]
    failed = library.compile("^%{SSHD_FAILED_AUTH}")
    rate("conf.d: ^%{SSHD_FAILED_AUTH} on sshd messages", failed.match, messages)
    stamps = [p["timestamp"] for p in parsed]
    rate("parse_date(syslog timestamp)", lambda s: marshal_time(parse_date(s, current_year=2026)), stamps)
    rate("parse_date(CLF)", lambda s: parse_date(s, current_year=2026), ["10/Mar/2024:06:00:00 +0000"] * 20000)
    rate("parse_date(RFC3339)", lambda s: parse_date(s, current_year=2026), ["2024-03-10T06:00:00.123Z"] * 20000)
    rate("parse_date(layout 15, generic path)", lambda s: parse_date(s, current_year=2026),
         ["2024-03-10 06:00:00"] * 20000)


if __name__ == "__main__":
    main()
