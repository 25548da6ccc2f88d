"""fail2ban on the generated sshd corpus: speed, memory and detection against the truth file (not a test).

    python benchmarks/compare_fail2ban.py [--lines 100000] [--seed 1] [--log FILE]
                                          [--filter /etc/fail2ban/filter.d/sshd.conf]
                                          [--maxretry 5] [--findtime 600]

Needs `fail2ban-regex` on PATH (Debian: `apt-get install fail2ban`; fail2ban is not
installable from PyPI). Generates the sshd corpus with ../shared/tools/gen_corpus.py
(or uses --log FILE, whose truth file is FILE.truth.json), then runs

    fail2ban-regex -o row LOG FILTER

once, in a child process: wall time, CPU time of the child (getrusage), peak RSS
(psutil, sampled every 0.05 s). `-o row` prints one row per failure the filter
matched (IP and timestamp). fail2ban-regex only matches lines; it does not ban. The
ban decision of a jail is applied here to its output: an IP is "banned" when it has
--maxretry failures within --findtime seconds (fail2ban's sshd jail defaults:
5 in 10 minutes). Banned IPs are compared with the attacker IPs of the truth file.

The helpers `run_measured`, `load_truth`, `score`, `load_average` and `markdown_row`
are shared with compare_crowdsec.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.process_tree import watch_tree  # noqa: E402

GEN_CORPUS = REPO.parent / "shared" / "tools" / "gen_corpus.py"
MIB = 1024 * 1024


@dataclass
class Measured:
    """One measured run of a command (its whole process tree)."""

    wall_s: float
    cpu_s: float  # user + system time of the waited-for children of this script
    peak_rss_mib: float  # peak of the summed RSS of the process tree, sampled
    cpu_sampled_s: float  # cross-check of cpu_s: last sampled CPU time of every process seen in the tree
    stdout: str
    stderr: str
    returncode: int
    load_before: str
    load_after: str


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on a shared machine skews wall times."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_measured(command, *, env=None, cwd=None, sample_s: float = 0.05) -> Measured:
    """Runs command to completion, sampling the RSS of its process tree.

    stdout/stderr go to temporary files (not pipes) so a chatty child never blocks on
    a full pipe while we are sampling. CPU time is the getrusage(RUSAGE_CHILDREN)
    delta, which covers the child and every descendant it waited for."""
    load_before = load_average()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd, text=True)
        usage = watch_tree(proc, sample_s)
        wall = time.perf_counter() - started
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    return Measured(wall, cpu, usage.peak_rss / MIB, sum(usage.cpu_by_pid.values()), stdout, stderr, proc.returncode,
                    load_before, load_average())


def generate_corpus(kind: str, lines: int, seed: int, directory: Path) -> Path:
    """Writes <directory>/<kind>.log and its .truth.json with the shared generator."""
    out = directory / f"{kind}.log"
    subprocess.run([sys.executable, str(GEN_CORPUS), "--kind", kind, "--lines", str(lines), "--seed", str(seed),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def load_truth(log: Path) -> dict[str, set[str]]:
    """Attacker IP -> set of attack kinds, from <log>.truth.json written by gen_corpus.py."""
    truth_path = Path(str(log) + ".truth.json")
    data = json.loads(truth_path.read_text())
    return {entry["ip"]: {attack["attack"] for attack in entry["attacks"]} for entry in data["attackers"]}


def score(detected: set[str], truth: dict[str, set[str]]) -> dict:
    """Detected IPs vs truth: counts overall and the recall per attack kind."""
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # kind -> [detected, total]
    for ip, kinds in truth.items():
        for kind in kinds:
            per_kind[kind][1] += 1
            if ip in detected:
                per_kind[kind][0] += 1
    return {
        "detected": len(detected),
        "true_positives": len(detected & truth.keys()),
        "false_positives": sorted(detected - truth.keys()),
        "missed": sorted(truth.keys() - detected),
        "attackers": len(truth),
        "per_kind": {kind: f"{hit}/{total}" for kind, (hit, total) in sorted(per_kind.items())},
    }


def describe_score(result: dict) -> str:
    return (f"{result['true_positives']}/{result['attackers']} attacker IPs detected, "
            f"{len(result['false_positives'])} false-positive IPs; per attack kind {result['per_kind']}")


def markdown_row(tool, version, corpus, lines, measured: Measured, detection: str) -> str:
    return (f"| {tool} | {version} | {corpus} | {lines:,} | {measured.wall_s:.1f} | {lines / measured.wall_s:,.0f} "
            f"| {measured.cpu_s:.1f} ({lines / measured.cpu_s:,.0f} lines/CPU-s) | {measured.peak_rss_mib:.0f} MiB "
            f"| {detection} | {measured.load_before} |")


MARKDOWN_HEADER = ("| tool | version | corpus | lines | wall s | lines/s (wall) | CPU s | peak RSS | detected vs truth "
                   "| load avg at start (1/5/15 min) |\n|---|---|---|---|---|---|---|---|---|---|")

FAILURE_ROW = re.compile(r"^\[\s*'([^']+)',\s*([0-9.]+),")


def parse_failure_rows(stdout: str) -> list[tuple[str, float]]:
    """(ip, unix time) of each `fail2ban-regex -o row` line: "['1.2.3.4',<TAB>1700000000.0,<TAB>{...}],"."""
    failures = []
    for line in stdout.splitlines():
        found = FAILURE_ROW.match(line)
        if found:
            failures.append((found.group(1), float(found.group(2))))
    return failures


def jail_bans(failures, maxretry: int, findtime: float) -> set[str]:
    """IPs with at least `maxretry` failures inside any window of `findtime` seconds."""
    times_by_ip: dict[str, list[float]] = defaultdict(list)
    for ip, when in failures:
        times_by_ip[ip].append(when)
    banned = set()
    for ip, times in times_by_ip.items():
        times.sort()
        for index in range(maxretry - 1, len(times)):
            if times[index] - times[index - maxretry + 1] <= findtime:
                banned.add(ip)
                break
    return banned


def fail2ban_version() -> str:
    out = subprocess.run(["fail2ban-regex", "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0].split()[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", help="an existing sshd corpus (with FILE.truth.json) instead of generating one")
    parser.add_argument("--filter", default="/etc/fail2ban/filter.d/sshd.conf")
    parser.add_argument("--maxretry", type=int, default=5)
    parser.add_argument("--findtime", type=float, default=600)
    args = parser.parse_args(argv)
    if shutil.which("fail2ban-regex") is None:
        raise SystemExit("fail2ban-regex not found: apt-get install fail2ban (it is not on PyPI)")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(args.log) if args.log else generate_corpus("sshd", args.lines, args.seed, Path(tmp))
        lines = sum(1 for _ in log.open("rb"))
        command = ["fail2ban-regex", "-o", "row", str(log), args.filter]
        measured = run_measured(command)
        if measured.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({measured.returncode}): {measured.stderr[-2000:]}")
        failures = parse_failure_rows(measured.stdout)
        truth = load_truth(log)
    matched_ips = {ip for ip, _ in failures}
    banned = jail_bans(failures, args.maxretry, args.findtime)
    print(f"command: {' '.join(command)}")
    print(f"fail2ban {fail2ban_version()}: {lines} lines in {measured.wall_s:.2f}s wall = "
          f"{lines / measured.wall_s:,.0f} "
          f"lines/s; CPU {measured.cpu_s:.2f}s = {lines / measured.cpu_s:,.0f} lines/CPU-s (sampled CPU "
          f"{measured.cpu_sampled_s:.2f}s); peak RSS {measured.peak_rss_mib:.0f} MiB; "
          f"load {measured.load_before} -> {measured.load_after}")
    print(f"matched failure lines: {len(failures)} from {len(matched_ips)} distinct IPs")
    print(f"  every IP with a matched line: {describe_score(score(matched_ips, truth))}")
    jail = score(banned, truth)
    print(f"  jail maxretry={args.maxretry} findtime={args.findtime:g}s: {describe_score(jail)}")
    print(f"  missed attackers: {jail['missed']}")
    print(f"  false positives: {jail['false_positives']}")
    detection = (f"{jail['true_positives']}/{jail['attackers']} attackers, {len(jail['false_positives'])} FP "
                 f"(maxretry={args.maxretry}/{args.findtime:g}s applied to {len(failures)} matched lines)")
    print(MARKDOWN_HEADER)
    print(markdown_row("fail2ban-regex (stock sshd filter)", fail2ban_version(), f"sshd seed {args.seed}", lines,
                       measured, detection))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
