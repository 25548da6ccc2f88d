"""Our own pattern files (conf.d/patterns) load and parse realistic logs.

The logs come from ../shared/tools/gen_corpus.py, whose truth file says which
IPs attacked and how often: the expected counts are the generator's, not ours.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from crowdsec_mp.engine.enrich.dates import marshal_time, parse_date
from crowdsec_mp.engine.grok import PatternLibrary

CORPUS_LINES = 3000


@pytest.fixture(scope="module")
def library(repo_root):
    return PatternLibrary.load([repo_root / "conf.d" / "patterns"])


def generate(shared_dir, tmp_path_factory, kind):
    out = tmp_path_factory.mktemp(kind) / f"{kind}.log"
    subprocess.run(
        [sys.executable, str(shared_dir / "tools" / "gen_corpus.py"), "--kind", kind,
         "--lines", str(CORPUS_LINES), "--seed", "7", "--out", str(out)],
        check=True, capture_output=True,
    )
    truth = json.loads(out.with_name(out.name + ".truth.json").read_text())
    return out.read_text(encoding="utf-8").splitlines(), truth


@pytest.fixture(scope="module")
def sshd_corpus(shared_dir, tmp_path_factory):
    return generate(shared_dir, tmp_path_factory, "sshd")


@pytest.fixture(scope="module")
def nginx_corpus(shared_dir, tmp_path_factory):
    return generate(shared_dir, tmp_path_factory, "nginx")


def test_library_loads_standalone_without_pygrok_fallback(repo_root):
    library = PatternLibrary.load([repo_root / "conf.d" / "patterns"], fallback_base=False)
    for name in library.definitions:
        library.compile_named(name, where=f"conf.d pattern {name}")
    for expected in ("USERNAME", "IP", "IPV6", "IPORHOST", "SYSLOGLINE", "HTTPDATE",
                     "COMBINEDAPACHELOG", "NGINXERROR", "HTTPD_ERRORLOG", "SSHD_FAILED_AUTH"):
        assert expected in library


@pytest.mark.parametrize(
    "pattern, text, expected",
    [
        ("IPV4", "192.168.1.254", True),
        ("IPV4", "256.1.1.1", False),
        ("IPV6", "2001:db8::1", True),
        ("IPV6", "::1", True),
        ("IPV6", "fe80::1%eth0", True),
        ("IPV6", "::ffff:10.0.0.1", True),
        ("IPV6", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", True),
        ("IPV6", "2001:db8", False),
        ("HOSTNAME", "web-01.example.org", True),
        ("HOSTNAME", "-bad", False),
        ("SYSLOGTIMESTAMP", "Nov  2 15:40:14", True),
        ("TIMESTAMP_ISO8601", "2024-03-10T06:00:55.123+00:00", True),
        ("HTTPDATE", "10/Mar/2024:06:00:00 +0000", True),
        ("LOGLEVEL", "error", True),
        ("URIPATHPARAM", "/index.php?page=2", True),
        ("NGINXERRTIME", "2024/03/10 06:00:00", True),
    ],
)
def test_base_patterns(library, pattern, text, expected):
    grok = library.compile(f"^%{{{pattern}:v}}$")
    assert (grok.match(text) == {"v": text}) is expected


def test_syslog_line_fields(library):
    grok = library.compile("^%{SYSLOGLINE}$")
    parsed = grok.match("Mar 10 06:00:55 web01 sshd[1039]: Invalid user x from 1.2.3.4 port 22")
    assert (parsed["timestamp"], parsed["logsource"], parsed["program"], parsed["pid"]) == (
        "Mar 10 06:00:55", "web01", "sshd", "1039")
    assert parsed["message"] == "Invalid user x from 1.2.3.4 port 22"
    iso = grok.match("2024-03-10T06:00:55.123+00:00 web01 CRON: job done")
    assert iso["timestamp8601"] == "2024-03-10T06:00:55.123+00:00" and iso["pid"] == ""
    assert iso["message"] == "job done" and iso["timestamp"] == ""


def test_rfc5424_line(library):
    parsed = library.compile("^%{SYSLOG5424LINE}$").match(
        '<34>1 2024-03-10T06:00:55.003Z web01 sshd 1039 ID47 [sd@1 a="b"] hello there')
    assert parsed["program"] == "sshd" and parsed["pid"] == "1039"
    assert parsed["message"] == "hello there" and parsed["structured_data"] == '[sd@1 a="b"]'


def test_sshd_corpus(library, sshd_corpus):
    lines, truth = sshd_corpus
    syslog = library.compile("^%{SYSLOGLINE}$")
    failed_auth = library.compile("^%{SSHD_FAILED_AUTH}")
    others = [library.compile(f"^%{{{name}}}") for name in sorted(library.definitions)
              if name.startswith("SSHD_") and name not in ("SSHD_FAILED_AUTH", "SSHD_USER", "SSHD_PORT")]
    failures_by_ip = Counter()
    attacker_ips = {attacker["ip"] for attacker in truth["attackers"]}
    for line in lines:
        parsed = syslog.match(line)
        assert parsed is not None, line
        if parsed["program"] != "sshd":
            continue
        failed = failed_auth.match(parsed["message"])
        if failed:
            failures_by_ip[failed["source_ip"]] += 1
        elif any(ip in parsed["message"] for ip in attacker_ips):
            # Every other sshd line of an attacker is recognised by one pattern,
            # with the attacker's address as source_ip.
            results = [grok.match(parsed["message"]) for grok in others]
            matched = [result for result in results if result]
            assert matched, parsed["message"]
            assert matched[0]["source_ip"] in attacker_ips, (parsed["message"], matched)
    for attacker in truth["attackers"]:
        attempts = sum(item["attempts"] for item in attacker["attacks"])
        assert failures_by_ip[attacker["ip"]] == attempts, attacker


def test_nginx_corpus(library, nginx_corpus):
    lines, truth = nginx_corpus
    access = library.compile("^%{NGINXACCESS}$")
    lines_by_ip = Counter()
    times_by_ip = {}
    for line in lines:
        parsed = access.match(line)
        assert parsed is not None, line
        assert parsed["status"].isdigit() and parsed["verb"]
        lines_by_ip[parsed["remote_addr"]] += 1
        stamp = marshal_time(parse_date(parsed["time_local"], current_year=2000))
        times_by_ip.setdefault(parsed["remote_addr"], []).append(stamp)
    for attacker in truth["attackers"]:
        ip = attacker["ip"]
        assert lines_by_ip[ip] >= sum(item["lines"] for item in attacker["attacks"])
        first = min(item["first"] for item in attacker["attacks"])
        assert first in times_by_ip[ip]


@pytest.mark.parametrize(
    "line, fields",
    [
        (
            '2024/03/10 06:00:00 [error] 123#0: *45 open() "/var/www/x" failed (2: No such file), '
            'client: 1.2.3.4, server: example.org, request: "GET /x HTTP/1.1", host: "example.org"',
            {"loglevel": "error", "pid": "123", "connection_id": "45", "remote_addr": "1.2.3.4",
             "target_fqdn": "example.org", "verb": "GET", "request": "/x", "http_version": "1.1"},
        ),
    ],
)
def test_nginx_error_line(library, line, fields):
    parsed = library.compile("^%{NGINXERROR}").match(line)
    for key, value in fields.items():
        assert parsed[key] == value, key


def test_apache_error_lines(library):
    grok = library.compile("^%{HTTPD_ERRORLOG}$")
    parsed = grok.match("[Sun Mar 10 06:00:00.123456 2024] [core:error] [pid 12:tid 34] "
                        "[client 1.2.3.4:5678] AH00126: Invalid URI in request")
    assert (parsed["module"], parsed["loglevel"], parsed["pid"], parsed["remote_addr"]) == (
        "core", "error", "12", "1.2.3.4")
    assert parsed["message"] == "Invalid URI in request"
    old = grok.match("[Sun Mar 10 06:00:00 2024] [error] [client 5.6.7.8] File does not exist: /x")
    assert old["remote_addr"] == "5.6.7.8" and old["message"] == "File does not exist: /x"


def test_apache_combined_with_vhost(library):
    parsed = library.compile("^%{VHOSTCOMBINEDLINE}$").match(
        'example.org:443 1.2.3.4 - bob [10/Mar/2024:06:00:00 +0100] "POST /login HTTP/2.0" 401 - "-" "curl/8"')
    assert parsed["target_fqdn"] == "example.org" and parsed["port"] == "443"
    assert parsed["remote_user"] == "bob" and parsed["body_bytes_sent"] == ""
    assert parsed["http_version"] == "2.0" and parsed["http_user_agent"] == "curl/8"


def true_capture_count(literal: str) -> int:
    """Capturing groups really opened in a regex fragment (escapes and classes skipped)."""
    count, i, in_class = 0, 0, False
    while i < len(literal):
        char = literal[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if literal[i + 1 : i + 2] == "]":
                i += 1
        elif char == "(" and (not literal.startswith("(?", i) or literal.startswith(("(?P<", "(?<"), i)):
            count += 1
        i += 1
    return count


def test_own_patterns_do_not_trip_the_capcount_heuristic(library):
    """CrowdSec's capcount heuristic miscounts fragments such as `from)` ("m)"
    looks like a flag group), shifting every later semantic. Our files must
    avoid such fragments so that their semantics read the intended groups."""
    import re

    reference = re.compile(r"%\{(\w+)(?::(\w+))?\}")
    from crowdsec_mp.engine.grok import capture_count

    tripped = []
    for name, regex in library.definitions.items():
        position = 0
        for ref in reference.finditer(regex):
            literal = regex[position : ref.start()]
            if capture_count(literal) != true_capture_count(literal):
                tripped.append((name, literal))
            position = ref.end()
    assert tripped == []
