"""DataLibrary (spec/parsers.md §7, expr.md §3.4 File/RegexpInFile/FileMap/LookupFile)."""

from __future__ import annotations

import json
import logging

import pytest

from crowdsec_mp.engine.datafiles import DataLibrary
from crowdsec_mp.errors import ConfigError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_string_file_skips_comments_and_empty_lines(tmp_path):
    lib = DataLibrary()
    lib.load("a.txt", "string", write(tmp_path / "a.txt", "# c\nfoo\n\n bar \n#x\nbaz"))
    assert lib.lines("a.txt") == ["foo", " bar ", "baz"]  # no trimming


def test_loaded_once_per_name(tmp_path):
    lib = DataLibrary()
    lib.load("a.txt", "string", write(tmp_path / "one.txt", "first\n"))
    lib.load("a.txt", "string", write(tmp_path / "two.txt", "second\n"))
    assert lib.lines("a.txt") == ["first"]


def test_missing_file_is_a_warning_not_an_error(tmp_path, caplog):
    lib = DataLibrary()
    with caplog.at_level(logging.WARNING):
        lib.load("gone.txt", "string", tmp_path / "gone.txt")
    assert "gone.txt" in caplog.text
    assert lib.lines("gone.txt") == []
    assert lib.regexp_match("x", "gone.txt") is False
    assert lib.lookup("x", "gone.txt") == ""
    assert lib.rows("gone.txt") == []


def test_unknown_type_is_a_config_error_naming_file_and_field(tmp_path):
    lib = DataLibrary()
    with pytest.raises(ConfigError) as info:
        lib.load("a.txt", "csv", write(tmp_path / "a.txt", "x\n"))
    assert "a.txt" in str(info.value) and "type" in str(info.value)


def test_bad_regexp_line_is_a_config_error(tmp_path):
    lib = DataLibrary()
    with pytest.raises(ConfigError) as info:
        lib.load("r.txt", "regexp", write(tmp_path / "r.txt", "ok\n(unclosed\n"))
    assert "line 2" in str(info.value)


def test_bad_map_line_is_a_config_error(tmp_path):
    lib = DataLibrary()
    with pytest.raises(ConfigError):
        lib.load("m.json", "map", write(tmp_path / "m.json", "{not json}\n"))
    with pytest.raises(ConfigError):
        lib.load("m2.json", "map", write(tmp_path / "m2.json",
                                         '{"pattern": "x", "tag": "t", "type": "fuzzy"}\n'))


def test_regex_alias_and_any_match(tmp_path):
    lib = DataLibrary()
    lib.load("r.txt", "regex", write(tmp_path / "r.txt", "\\bcurl\\b\n^python-\n(?i)nikto\n"))
    assert lib.regexp_match("some curl/7.1", "r.txt") is True
    assert lib.regexp_match("curly", "r.txt") is False
    assert lib.regexp_match("python-requests", "r.txt") is True
    assert lib.regexp_match("my python-requests", "r.txt") is False
    assert lib.regexp_match("Mozilla NIKTO", "r.txt") is True
    # cached answers stay right
    assert lib.regexp_match("Mozilla NIKTO", "r.txt") is True
    assert lib.regexp_match("curly", "r.txt") is False


def test_combined_regexps_agree_with_each_regexp_on_the_hub_file(shared_hub):
    lib = DataLibrary()
    path = shared_hub / "data" / "bad_user_agents.regex.txt"
    lib.load("bad_user_agents.regex.txt", "regexp", path)
    regexps = lib._regexps["bad_user_agents.regex.txt"]
    assert len(regexps.patterns) > 500
    samples = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "sqlmap/1.7", "Nikto",
               "masscan/1.3", "curl/8.0", "python-requests/2.31", "Go-http-client/1.1",
               "zgrab/0.x", "", "Mozilla/5.0 (compatible; 360Spider)", "AhrefsBot/7.0"]
    samples += [p.replace("\\b", "").replace("\\", "") for p in regexps.patterns[::37]]
    for sample in samples:
        assert lib.regexp_match(sample, "bad_user_agents.regex.txt") == \
            regexps.search_each(sample), sample
    assert any(lib.regexp_match(s, "bad_user_agents.regex.txt") for s in samples)


def test_regexp_with_global_flag_is_scoped_inside_the_alternation(tmp_path):
    lib = DataLibrary()
    lib.load("r.txt", "regexp", write(tmp_path / "r.txt", "(?i)^abc\nxyz$\n"))
    assert lib.regexp_match("ABCdef", "r.txt") is True
    assert lib.regexp_match("XYZ", "r.txt") is False  # (?i) must not leak to the next line
    assert lib.regexp_match("..xyz", "r.txt") is True


def _map_file(tmp_path, rows):
    return write(tmp_path / "m.json", "\n".join(json.dumps(r) for r in rows) + "\n")


def test_lookup_priority_equals_then_contains_then_regex(tmp_path):
    rows = [
        {"tag": "regex-tag", "pattern": "^/admin", "type": "regex"},
        {"tag": "contains-late", "pattern": "php", "type": "contains"},
        {"tag": "contains-early", "pattern": "/adm", "type": "contains"},
        {"tag": "equals-tag", "pattern": "/admin/index.php", "type": "equals"},
    ]
    lib = DataLibrary()
    lib.load("m.json", "map", _map_file(tmp_path, rows))
    assert lib.lookup("/admin/index.php", "m.json") == "equals-tag"
    # "/adm" is found at position 0, "php" later: earliest position wins
    assert lib.lookup("/admin/other.php", "m.json") == "contains-early"
    assert lib.lookup("/x.php", "m.json") == "contains-late"
    assert lib.lookup("/adminx", "m.json") == "contains-early"
    assert lib.lookup("/nothing", "m.json") == ""
    assert len(lib.rows("m.json")) == 4


def test_lookup_contains_tie_broken_by_row_order(tmp_path):
    rows = [{"tag": "first", "pattern": "/wp", "type": "contains"},
            {"tag": "second", "pattern": "/wp-admin", "type": "contains"}]
    lib = DataLibrary()
    lib.load("m.json", "map", _map_file(tmp_path, rows))
    assert lib.lookup("/wp-admin/x", "m.json") == "first"


def test_lookup_regex_rows_in_order(tmp_path):
    rows = [{"tag": "a", "pattern": "x+", "type": "regex"},
            {"tag": "b", "pattern": "x", "type": "regex"}]
    lib = DataLibrary()
    lib.load("m.json", "map", _map_file(tmp_path, rows))
    assert lib.lookup("zzxzz", "m.json") == "a"


def test_hub_technology_probing_map_loads(shared_hub):
    lib = DataLibrary()
    lib.load("technology_probing.json", "map", shared_hub / "data" / "technology_probing.json")
    assert lib.lookup("/ampps-admin/index.php", "technology_probing.json") == \
        "ampps-admin-login-panel-probing"
    assert lib.lookup("/definitely/not/a/probe-zz", "technology_probing.json") == ""


def test_bots_rows(tmp_path):
    lib = DataLibrary()
    lib.load("bots.json", "bots", write(tmp_path / "bots.json", '{"name": "googlebot"}\n'))
    assert lib.rows("bots.json") == [{"name": "googlebot"}]


def test_invalid_utf8_in_data_file_does_not_crash(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"ok\n\xff\xfebad\n")
    lib = DataLibrary()
    lib.load("a.txt", "string", path)
    assert len(lib.lines("a.txt")) == 2


def test_file_lines_of_a_regexp_file_are_not_exposed(tmp_path):
    lib = DataLibrary()
    lib.load("r.txt", "regexp", write(tmp_path / "r.txt", "abc\n"))
    assert lib.lines("r.txt") == []
    assert lib.regexp_match("xabcx", "r.txt") is True


def test_patterns_with_inline_flags_are_still_combined(tmp_path):
    lib = DataLibrary()
    lib.load("r.txt", "regexp", write(tmp_path / "r.txt", "(?i)^abc\nxyz$\n\\bfoo\\b\n"))
    regexps = lib._regexps["r.txt"]
    assert len(regexps.searchers) == 1  # one alternation for the three lines
    for sample in ("ABCd", "xABC", "XYZ", "a xyz", "foo bar", "food"):
        assert lib.regexp_match(sample, "r.txt") == regexps.search_each(sample), sample
