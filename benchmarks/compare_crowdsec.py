"""CrowdSec vs crowdsec_mp on the same generated logs and hub items: speed, memory, detection (not a test).

    python benchmarks/compare_crowdsec.py [--kinds sshd,nginx] [--lines 100000] [--nginx-lines 20000]
                                          [--seed 1] [--combos 1x1,2x2]
                                          [--skip-crowdsec] [--skip-mp] [--keep DIR]

Needs the `crowdsec` and `cscli` binaries on PATH for the CrowdSec side (Debian:
`apt-get install crowdsec`, 1.4.6; its postinst fails without network when it
registers to the Central API, but the binaries are installed and are all we use).

Per corpus kind (sshd -> `-type syslog`, nginx -> `-type nginx`), in a temporary
directory:

1. The collections linux, nginx, base-http-scenarios and http-cve are installed
   from ../shared/hub (test data) with our own installer (plain files, as hubtest
   does), plus the hub's patterns (minus `grokky-base`, which 1.4.6 has built in)
   and data files.
2. CrowdSec 1.4.6 predates the hub snapshot. Two adaptations, both reported:
   scenario `labels` with non-string values (lists, numbers) are turned into
   strings (1.4.6 wants map[string]string; labels do not affect detection), and
   every item `crowdsec -t` still refuses is removed, one at a time, with the reason.
3. CrowdSec: a LAPI (`crowdsec -no-cs`, sqlite) is started with a machine
   registered by `cscli machines add`; then the measured run is
       crowdsec -c CFG -dsn file://LOG -type TYPE -no-api
   (time-machine replay; it exits once the file is consumed and the alerts are
   pushed). Alerts are read back with `cscli alerts list -o json`. CrowdSec
   pours events into buckets from concurrent goroutines (1.4.6 has no
   `-order-event`), so its alert count varies a little from run to run.
   `-dump-data` is not used: it deep-copies every parsed event for hubtest.
4. crowdsec_mp: for each workers x shards combo,
       python -m crowdsec_mp.daemon -c CFG -dsn file://LOG -type TYPE -no-api -dump-data DIR
   once with exactly the items CrowdSec loaded ("same items") and once with every
   item of the collections ("all items"). Alerts from DIR/alerts.jsonl.

Each run is measured as in compare_fail2ban.py (wall, CPU of the children,
peak summed RSS of the process tree, load average) and the source IPs of its
alerts are compared with the corpus truth file. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_fail2ban import (  # noqa: E402
    MARKDOWN_HEADER, REPO, describe_score, generate_corpus, load_truth, markdown_row, run_measured, score,
)

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from daemon_env import daemon_env, make_hub_config  # noqa: E402

SHARED_HUB = REPO.parent / "shared" / "hub"
COLLECTIONS = ["crowdsecurity/linux", "crowdsecurity/nginx", "crowdsecurity/base-http-scenarios",
               "crowdsecurity/http-cve"]
LOG_TYPES = {"sshd": "syslog", "nginx": "nginx"}
BUILT_IN_PATTERNS = {"grokky-base"}  # compiled into CrowdSec 1.4.6: loading it again is fatal


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def crowdsec_config(tmp: Path, conf: Path, data: Path, port: int) -> Path:
    """A CrowdSec 1.4.6 config.yaml using the items installed in `conf`."""
    patterns = conf / "patterns"
    patterns.mkdir(exist_ok=True)
    for source in sorted((SHARED_HUB / "patterns").iterdir()):
        if source.name not in BUILT_IN_PATTERNS:
            shutil.copy(source, patterns / source.name)
    (conf / "simulation.yaml").write_text("simulation: off\n")
    (conf / "profiles.yaml").write_text(yaml.safe_dump({
        "name": "default_ip_remediation", "filters": ["Alert.Remediation == true && Alert.GetScope() == \"Ip\""],
        "decisions": [{"type": "ban", "duration": "4h"}], "on_success": "break"}))
    # Only for `crowdsec -t`, which insists on one datasource; -dsn runs ignore it.
    (tmp / "empty.log").write_text("")
    (conf / "acquis-cs.yaml").write_text(yaml.safe_dump({"filenames": [str(tmp / "empty.log")],
                                                         "labels": {"type": "syslog"}}))
    config = {
        "common": {"daemonize": False, "log_media": "stdout", "log_level": "warning", "working_dir": "."},
        "config_paths": {"config_dir": f"{conf}/", "data_dir": f"{data}/",
                         "simulation_path": str(conf / "simulation.yaml"),
                         "hub_dir": f"{SHARED_HUB}/", "index_path": str(SHARED_HUB / ".index.json"),
                         "notification_dir": str(conf / "notifications"), "plugin_dir": "/usr/lib/crowdsec/plugins/"},
        "crowdsec_service": {"acquisition_path": str(conf / "acquis-cs.yaml"), "parser_routines": 1},
        "cscli": {"output": "json"},
        "db_config": {"type": "sqlite", "db_path": str(tmp / "crowdsec.db"), "log_level": "error", "use_wal": True},
        "api": {"client": {"credentials_path": str(conf / "cs_credentials.yaml")},
                "server": {"log_level": "warning", "listen_uri": f"127.0.0.1:{port}",
                           "profiles_path": str(conf / "profiles.yaml")}},
        "prometheus": {"enabled": False},
    }
    path = conf / "crowdsec.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def stringify_labels(conf: Path) -> list[str]:
    """Turns non-string scenario label values into strings (1.4.6 wants map[string]string).
    Returns the names of the scenario files changed."""
    changed = []
    for path in sorted((conf / "scenarios").glob("*.yaml")):
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        touched = False
        for doc in documents:
            labels = doc.get("labels") or {}
            for key, value in labels.items():
                if not isinstance(value, str):
                    labels[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value).lower()
                    touched = True
        if touched:
            path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
            changed.append(path.name)
    return changed


def remove_unloadable(config: Path, conf: Path, attic: Path) -> list[tuple[str, str]]:
    """Runs `crowdsec -t` until it passes, moving the item it names out of `conf` each time.
    Returns (item path relative to conf, reason) for every removed item."""
    attic.mkdir(exist_ok=True)
    removed = []
    for _ in range(200):
        out = subprocess.run(["crowdsec", "-c", str(config), "-t"], capture_output=True, text=True)
        if out.returncode == 0:
            return removed
        fatal = next((line for line in (out.stdout + out.stderr).splitlines() if "level=fatal" in line), "")
        culprit = next((word for word in fatal.replace("'", " ").split()
                        if word.startswith(str(conf)) and word.endswith(".yaml")), None)
        if culprit is None:
            raise SystemExit(f"crowdsec -t fails and names no item: {fatal or out.stderr[-2000:]}")
        item = Path(culprit)
        reason = fatal.split("msg=", 1)[-1][:300]
        removed.append((str(item.relative_to(conf)), reason))
        shutil.move(str(item), attic / f"{len(removed):03d}-{item.name}")
    raise SystemExit("crowdsec -t still failing after removing 200 items")


def register_machine(config: Path, port: int) -> None:
    """Adds machine `bench` to the config's sqlite database and writes its credentials file
    (the agent, and even `crowdsec -t`, need one)."""
    conf = yaml.safe_load(config.read_text())
    subprocess.run(["cscli", "-c", str(config), "machines", "add", "bench", "--password", "bench-password-1",
                    "-f", conf["api"]["client"]["credentials_path"], "--url", f"http://127.0.0.1:{port}"],
                   check=True, capture_output=True)


class CrowdsecLapi:
    """A `crowdsec -no-cs` LAPI serving the config's sqlite database."""

    def __init__(self, config: Path, port: int, log: Path):
        self.config, self.port, self.log = config, port, log
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(["crowdsec", "-c", str(self.config), "-no-cs"], stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"CrowdSec LAPI exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit("CrowdSec LAPI did not listen within 30 s")

    def alerts(self) -> list[dict]:
        out = subprocess.run(["cscli", "-c", str(self.config), "alerts", "list", "-o", "json", "-l", "0"],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout or "[]") or []

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def alert_ips(alerts) -> tuple[set[str], Counter]:
    """Source IPs and the count per scenario of LAPI alert objects (CrowdSec's and ours)."""
    ips, scenarios = set(), Counter()
    for alert in alerts:
        scenarios[alert.get("scenario")] += 1
        source = alert.get("source") or {}
        ip = source.get("ip") or (source.get("value") if source.get("scope") == "Ip" else None)
        if ip:
            ips.add(ip)
    return ips, scenarios


def crowdsec_version() -> str:
    out = subprocess.run(["crowdsec", "-version"], capture_output=True, text=True)
    first = (out.stdout + out.stderr).splitlines()[0]
    return first.split("version:", 1)[-1].strip()


def report(rows, tool, version, corpus, lines, measured, alerts, truth, note=""):
    ips, scenarios = alert_ips(alerts)
    result = score(ips, truth)
    print(f"  {tool} {note}: {lines} lines in {measured.wall_s:.2f}s = {lines / measured.wall_s:,.0f} lines/s; "
          f"CPU {measured.cpu_s:.2f}s (sampled {measured.cpu_sampled_s:.2f}s); "
          f"peak RSS {measured.peak_rss_mib:.0f} MiB; load {measured.load_before} -> "
          f"{measured.load_after}", flush=True)
    print(f"    {len(alerts)} alerts, {len(ips)} IPs: {describe_score(result)}")
    print(f"    per scenario: {dict(sorted(scenarios.items()))}")
    print(f"    missed: {result['missed']}")
    print(f"    false positives: {result['false_positives']}")
    detection = (f"{len(alerts)} alerts; {result['true_positives']}/{result['attackers']} attacker IPs, "
                 f"{len(result['false_positives'])} FP IPs")
    rows.append(markdown_row(f"{tool} {note}".strip(), version, corpus, lines, measured, detection))


def run_crowdsec(kind, log, tmp: Path, rows, truth, lines, corpus) -> Path:
    """Sets up and measures CrowdSec; returns the conf dir holding exactly the items it loaded."""
    base = tmp / "same-items"
    mp_config = make_hub_config(base, SHARED_HUB, COLLECTIONS)
    conf, data = mp_config.parent, base / "data"
    port = free_port()
    config = crowdsec_config(base, conf, data, port)
    register_machine(config, port)
    changed = stringify_labels(conf)
    removed = remove_unloadable(config, conf, base / "removed")
    print(f"  CrowdSec 1.4.6 adaptations: labels stringified in {len(changed)} scenario files; "
          f"{len(removed)} items removed (not loadable by 1.4.6):")
    for item, reason in removed:
        print(f"    - {item}: {reason[:160]}")
    print(f"  loaded: {sorted(p.name for p in (conf / 'scenarios').glob('*.yaml'))}")
    with CrowdsecLapi(config, port, base / "lapi.log") as lapi:
        command = ["crowdsec", "-c", str(config), "-dsn", f"file://{log}", "-type", LOG_TYPES[kind], "-no-api"]
        print(f"  command: {' '.join(command)}")
        measured = run_measured(command)
        if measured.returncode != 0:
            raise SystemExit(f"crowdsec failed ({measured.returncode}): {measured.stdout[-2000:]}")
        time.sleep(1)  # the agent has exited after pushing; give the LAPI a moment to commit
        alerts = lapi.alerts()
    report(rows, "CrowdSec", crowdsec_version(), corpus, lines, measured, alerts, truth)
    return mp_config


def run_mp(kind, log, config: Path, combos, rows, truth, lines, corpus, note):
    from crowdsec_mp import __version__

    for combo in combos:
        workers, shards = combo.split("x")
        dump = config.parent.parent / f"dump-{combo}"
        command = [sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), "-dsn", f"file://{log}",
                   "-type", LOG_TYPES[kind], "-no-api", "-dump-data", str(dump), "-workers", workers,
                   "-shards", shards, "-warning"]
        print(f"  command: {' '.join(command)}")
        measured = run_measured(command, env=daemon_env())
        if measured.returncode != 0:
            raise SystemExit(f"crowdsec_mp failed ({measured.returncode}): {measured.stderr[-2000:]}")
        alerts = [json.loads(line) for line in (dump / "alerts.jsonl").read_text().splitlines() if line.strip()]
        report(rows, "crowdsec_mp daemon", __version__, corpus, lines, measured, alerts, truth,
               f"{workers} workers x {shards} shards, {note}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="sshd,nginx")
    parser.add_argument("--lines", type=int, default=100_000, help="sshd corpus lines")
    parser.add_argument("--nginx-lines", type=int, default=20_000,
                        help="nginx corpus lines (CrowdSec 1.4.6 is slow on nginx: keep the run short)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--combos", default="1x1,2x2", help="crowdsec_mp workers x shards to run")
    parser.add_argument("--skip-crowdsec", action="store_true", help="only set up the items, do not run CrowdSec")
    parser.add_argument("--skip-mp", action="store_true")
    parser.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    if not args.skip_crowdsec and shutil.which("crowdsec") is None:
        raise SystemExit("crowdsec not found: apt-get install crowdsec (or --skip-crowdsec)")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.keep) if args.keep else Path(scratch)
        for kind in args.kinds.split(","):
            lines = args.lines if kind == "sshd" else args.nginx_lines
            tmp = root / kind
            tmp.mkdir(parents=True, exist_ok=True)
            log = generate_corpus(kind, lines, args.seed, tmp)
            truth = load_truth(log)
            corpus = f"{kind} seed {args.seed}"
            print(f"{kind}: {lines} lines, {len(truth)} attacker IPs in the truth file", flush=True)
            if args.skip_crowdsec:
                same_items = run_crowdsec_setup_only(kind, tmp)
            else:
                same_items = run_crowdsec(kind, log, tmp, rows, truth, lines, corpus)
            if not args.skip_mp:
                combos = args.combos.split(",")
                run_mp(kind, log, same_items, combos, rows, truth, lines, corpus, "same items")
                all_items = make_hub_config(tmp / "all-items", SHARED_HUB, COLLECTIONS)
                run_mp(kind, log, all_items, combos, rows, truth, lines, corpus, "all items")
    print()
    print(MARKDOWN_HEADER)
    print("\n".join(rows))
    return 0


def run_crowdsec_setup_only(kind, tmp: Path) -> Path:
    """The "same items" config without a `crowdsec` binary: nothing removed, labels untouched."""
    print("  --skip-crowdsec: 'same items' = all items (no CrowdSec to test loadability)")
    return make_hub_config(tmp / "same-items", SHARED_HUB, COLLECTIONS)


if __name__ == "__main__":
    raise SystemExit(main())
