"""Grok and ParseDate micro-benchmark (not a test: prints lines/s).

    python benchmarks/grok_match.py [--lines N]

Measures, on a gen_corpus sshd log: the syslog grok (CrowdSec's SYSLOGLINE
from ../shared/hub/patterns when present, and ours from conf.d/patterns), one
sshd grok on the message, and ParseDate on the syslog timestamp; on a gen_corpus
nginx log: the access-log grok of crowdsecurity/nginx-logs and ParseDate/
MarshalText on CLF; `new_log_event`; GeoIP lookups cached and uncached (when
../shared/hub/geoip holds the test databases).
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

from crowdsec_mp.engine.enrich.dates import _marshal_time_generic, marshal_time, parse_date  # noqa: E402
from crowdsec_mp.engine.enrich.geoip import GeoIPDatabases  # noqa: E402
from crowdsec_mp.engine.event import new_log_event  # noqa: E402
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
    # Distinct values (one per second over ~5.5 hours): measures the parsers, not the cache.
    seconds = range(20000)
    clf = [f"10/Mar/2024:{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d} +0000" for s in seconds]
    rfc = [f"2024-03-10T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.123Z" for s in seconds]
    generic = [f"2024-03-10 {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in seconds]
    rate("parse_date(CLF, distinct values)", lambda s: parse_date(s, current_year=2026), clf)
    rate("parse_date(RFC3339, distinct values)", lambda s: parse_date(s, current_year=2026), rfc)
    rate("parse_date(layout 15 = generic path, distinct values)", lambda s: parse_date(s, current_year=2026),
         generic)
    parsed_clf = [parse_date(s, current_year=2026) for s in clf]
    rate("marshal_time (fast path)", marshal_time, parsed_clf)
    rate("marshal_time (generic)", _marshal_time_generic, parsed_clf)
    rate("new_log_event", lambda line: new_log_event(line, src="x.log", labels={"type": "syslog"}), lines)

    if (SHARED / "hub" / "patterns").is_dir():
        nginx_grok(args.lines)
    geoip_dir = SHARED / "hub" / "geoip"
    databases = GeoIPDatabases.open(geoip_dir) if geoip_dir.is_dir() else None
    if databases is not None:
        addresses = [f"81.2.69.{i % 64 + 128}" for i in range(20000)]
        rate("GeoIpCity uncached", databases.city_uncached, addresses)
        rate("GeoIpCity cached (64 distinct addresses)", databases.city, addresses)


NGINX_ACCESS = (
    '(%{IPORHOST:target_fqdn}(:%{INT:port})? )?%{IPORHOST:remote_addr} - (%{NGCUSTOMUSER:remote_user} )?'
    '\\[%{HTTPDATE:time_local}\\] "%{WORD:verb} %{DATA:request} HTTP/%{NUMBER:http_version}" %{NUMBER:status} '
    '%{NUMBER:body_bytes_sent} "%{NOTDQUOTE:http_referer}" "%{NOTDQUOTE:http_user_agent}"( %{NUMBER:request_length} '
    '%{NUMBER:request_time} \\[%{DATA:proxy_upstream_name}\\] \\[%{DATA:proxy_alternative_upstream_name}\\])?'
)


def nginx_grok(count):
    """The access-log grok of crowdsecurity/nginx-logs on gen_corpus nginx lines."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "nginx.log"
        subprocess.run([sys.executable, str(SHARED / "tools" / "gen_corpus.py"), "--kind", "nginx",
                        "--lines", str(count), "--out", str(out)], check=True, capture_output=True)
        lines = out.read_text().splitlines()
    library = PatternLibrary.load([SHARED / "hub" / "patterns"])
    library.add("NGCUSTOMUSER", "[a-zA-Z0-9\\.\\@\\-\\+_%]+")
    access = library.compile(NGINX_ACCESS)
    rate("crowdsec: nginx access-log grok", access.match, lines)
    requests = [access.match(line)["request"] for line in lines]
    library.add("DIR", "^.*/")
    library.add("FILE", "[^/].*?")
    library.add("EXT", "\\.[^.]*$|$")
    rate("crowdsec: http-logs %{DIR}(%{FILE}%{EXT})? on requests",
         library.compile("%{DIR:file_dir}(%{FILE:file_frag}%{EXT:file_ext})?").match, requests)

if __name__ == "__main__":
    main()
