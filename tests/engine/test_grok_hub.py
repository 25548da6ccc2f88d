"""The CrowdSec pattern files and every grok of the hub snapshot compile (spec §3.3).

Needs ../shared (skips with a clear message when absent).
"""

from __future__ import annotations

import pytest
import yaml

from crowdsec_mp.engine.grok import PatternLibrary


def iter_nodes(node):
    """A node and all its children, depth first (children after their parent)."""
    if not isinstance(node, dict):
        return
    yield node
    for child in node.get("nodes") or []:
        yield from iter_nodes(child)


def compile_hub_groks(library, files):
    """Add pattern_syntax and compile groks in file path order; return (count, failures)."""
    compiled, failures = 0, []
    for path in files:
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for node in iter_nodes(document):
                for name, regex in (node.get("pattern_syntax") or {}).items():
                    try:
                        library.add(name, regex, where=f"{path} pattern_syntax {name}")
                    except Exception as exc:  # collected: the test reports all of them
                        failures.append(f"{path}: pattern_syntax {name}: {exc}")
                grok = node.get("grok")
                if not isinstance(grok, dict) or not (grok.get("name") or grok.get("pattern")):
                    continue
                try:
                    if grok.get("name"):
                        library.compile_named(grok["name"], where=str(path))
                    else:
                        library.compile(grok["pattern"], where=str(path))
                    compiled += 1
                except Exception as exc:
                    failures.append(f"{path}: {exc}")
    return compiled, failures


@pytest.fixture(scope="module")
def hub_patterns(shared_hub):
    return shared_hub / "patterns"


def test_crowdsec_pattern_files_load(hub_patterns):
    library = PatternLibrary.load([hub_patterns])
    base_names = [
        line.split()[0]
        for line in (hub_patterns / "grokky-base").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(base_names) == 88  # spec §3.3: grokky's 88 base patterns
    assert set(base_names) <= set(library.definitions)
    # Every library pattern compiles on its own as well.
    for name in library.definitions:
        library.compile_named(name, where=f"pattern {name}")


def test_every_hub_parser_grok_compiles(shared_hub, hub_patterns):
    library = PatternLibrary.load([hub_patterns])
    files = sorted((shared_hub / "parsers").rglob("*.yaml"))
    compiled, failures = compile_hub_groks(library, files)
    assert failures == []
    assert compiled > 250


def test_every_hub_postoverflow_grok_compiles(shared_hub, hub_patterns):
    library = PatternLibrary.load([hub_patterns])  # postoverflows have their own host
    files = sorted((shared_hub / "postoverflows").rglob("*.yaml"))
    _, failures = compile_hub_groks(library, files)
    assert failures == []


def test_syslog_worked_example(hub_patterns):
    """spec/parsers.md §12: SYSLOGLINE on the sshd line."""
    library = PatternLibrary.load([hub_patterns])
    line = "Feb 12 14:10:21 sd-126005 sshd[16378]: Invalid user pascal from 35.188.49.176 port 53502"
    parsed = library.compile("^%{SYSLOGLINE}").match(line)
    assert parsed["timestamp"] == "Feb 12 14:10:21"
    assert parsed["logsource"] == "sd-126005"
    assert parsed["program"] == "sshd"
    assert parsed["pid"] == "16378"
    assert parsed["message"] == "Invalid user pascal from 35.188.49.176 port 53502"
    for unmatched in ("timestamp8601", "facility", "priority"):
        assert parsed[unmatched] == ""


def test_syslog_line_without_pid(hub_patterns):
    library = PatternLibrary.load([hub_patterns])
    parsed = library.compile("^%{SYSLOGLINE}").match("Nov  2 15:40:14 host sudo: hello world")
    assert parsed["pid"] == "" and parsed["program"] == "sudo" and parsed["message"] == "hello world"


def test_required_literal_prefilter_never_changes_a_result(shared_hub, hub_patterns):
    """Every hub grok on every hub-test log line (and the line's syslog message):
    GrokPattern.match equals a plain search of the same regex."""
    from crowdsec_mp.engine.regex_compat import compile_re2

    library = PatternLibrary.load([hub_patterns])
    files = sorted((shared_hub / "parsers").rglob("*.yaml"))
    compile_hub_groks(library, files)
    groks = [grok for grok in library._compiled.values() if grok.semantics]
    assert sum(1 for grok in groks if grok.required) > 100  # the prefilter is in use

    syslog = library.compile("^%{SYSLOGLINE}")
    texts = set()
    for log in sorted((shared_hub / "tests").glob("*/*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()[:3]:
            if len(line) > 200:
                continue  # keeps the test fast: Python backtracks where RE2 would not
            texts.add(line)
            parsed = syslog.match(line)
            if parsed:
                texts.add(parsed["message"])
    texts = sorted(texts)
    checked = 0
    for grok in groks:
        search = compile_re2(grok.regex).search
        for text in texts:
            if grok.required and grok.required in text:
                continue  # the prefilter lets it through: nothing to compare
            if grok.required:
                found = search(text)
                assert found is None, (grok.source, text)
                checked += 1
    assert checked > 20000
