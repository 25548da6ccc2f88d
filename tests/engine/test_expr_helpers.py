"""CrowdSec helper functions (spec/expr.md §3). Expected values come from the
spec's description of the Go behaviour."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import Event, StrMap
from crowdsec_mp.engine.expr import ExprRuntimeError, compile_expr

FIXED_NOW = datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def run(source, ctx=None, **env):
    return compile_expr(source, ctx).run(env)


# -- strings ------------------------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("Upper('aé')", "AÉ"), ("Lower('AÉ')", "aé"), ("Upper('ß')", "ß"),
    ("Fields('  a \\t b\\n')", ["a", "b"]), ("Index('chicken', 'ken')", 4),
    ("Index('x', 'y')", -1), ("IndexAny('golang', 'yn')", 4), ("Join(['a', 'b'], ',')", "a,b"),
    ("Split('a,b', ',')", ["a", "b"]), ("Split('', ',')", [""]), ("Split('ab', '')", ["a", "b"]),
    ("SplitN('a,b,c', ',', 2)", ["a", "b,c"]), ("SplitN('a,b', ',', 0)", []),
    ("SplitN('a,b', ',', -1)", ["a", "b"]), ("SplitAfter('a,b', ',')", ["a,", "b"]),
    ("SplitAfterN('a,b,c', ',', 2)", ["a,", "b,c"]), ("Replace('aaa', 'a', 'b', 2)", "bba"),
    ("Replace('aaa', 'a', 'b', -1)", "bbb"), ("ReplaceAll('abc', '', '-')", "-a-b-c-"),
    ("Trim('xxaxx', 'x')", "a"), ("TrimLeft('xxax', 'x')", "ax"), ("TrimRight('xaxx', 'x')", "xa"),
    ("TrimPrefix('prefix-a', 'prefix-')", "a"), ("TrimSuffix('a.log', '.log')", "a"),
    ("TrimSpace(' \\t a \\n')", "a"), ("ToString('x')", "x"), ("ToString(1)", ""),
    ("ToString(nil)", ""), ("Atof('1.5')", 1.5), ("Atof('x')", 0.0),
    ("Get(['a', 'b'], 1)", "b"), ("Get(['a'], 5)", ""), ("KeyExists('a', {a: 1})", True),
    ("KeyExists('b', {a: 1})", False), ("LogInfo('x %d', 1)", True),
])
def test_string_helpers(source, expected):
    assert run(source) == expected


@pytest.mark.parametrize("source", ["Upper(nil)", "Lower(1)", "Split(nil, ',')",
                                    "Join([1], ',')", "Get(['a'], -1)", "Trim('a', nil)"])
def test_string_helpers_wrong_types(source):
    with pytest.raises(ExprRuntimeError):
        run(source)


@pytest.mark.parametrize("args, expected", [
    ("'%s-%d', 'a', 3", "a-3"), ("'%v %v', 1.5, nil", "1.5 <nil>"), ("'%q', 'a\"b'", '"a\\"b"'),
    ("'%.2f', 3.14159", "3.14"), ("'%x', 255", "ff"), ("'%X', 'hi'", "6869"),
    ("'%5d|%-3s|', 42, 'a'", "   42|a  |"), ("'%05d', -42", "-0042"), ("'%t', true", "true"),
    ("'%d', 'x'", "%!d(string=x)"), ("'%d %s', 1", "1 %!s(MISSING)"),
    ("'%s', 'a', 'b'", "a%!(EXTRA string=b)"), ("'100%%'", "100%"), ("'%s', 5", "%!s(int=5)"),
    ("'%v', [1, 'a']", "[1 a]"), ("'%T', 1.5", "float64"), ("'%+d', 5", "+5"),
])
def test_sprintf_go_verbs(args, expected):
    assert run(f"Sprintf({args})") == expected


@pytest.mark.parametrize("pattern, value, expected", [
    ("*", "", True), ("a*c", "abbbc", True), ("a*c", "abd", False), ("a?c", "abc", True),
    ("a?c", "ac", False), ("", "", True), ("", "a", False), ("abc", "abc", True),
    ("[ab]", "a", False), ("[ab]", "[ab]", True), ("*.exe", "C:\\x.exe", True),
    ("A*", "abc", False),
])
def test_match_glob(pattern, value, expected):
    assert run("Match(p, v)", p=pattern, v=value) is expected


@pytest.mark.parametrize("source, expected", [
    ("QueryUnescape('a%20b+c')", "a b c"), ("PathUnescape('a%20b+c')", "a b+c"),
    ("QueryUnescape('bad%zz')", "bad%zz"), ("PathUnescape('%')", "%"),
    ("QueryUnescape('%C3%A9')", "é"), ("QueryEscape('a b/é')", "a+b%2F%C3%A9"),
    ("PathEscape('a b/c:d')", "a%20b%2Fc:d"), ("B64Decode('aGVsbG8=')", "hello"),
])
def test_url_and_base64(source, expected):
    assert run(source) == expected


def test_b64decode_invalid_is_runtime_error():
    with pytest.raises(ExprRuntimeError):
        run("B64Decode('not base64!')")
    with pytest.raises(ExprRuntimeError):
        run("B64Decode('aGVsbG8')")  # missing padding


# -- JSON -----------------------------------------------------------------------------------
BLOB = ('{"a": {"b": "x\\"y", "n": 123, "t": true, "z": null, "o": {"k": 1}, '
        '"arr": [{"id": "first"}, {"id": "second"}], "u": "\\u00e9"}, "top": 1.5}')


@pytest.mark.parametrize("path, expected", [
    ("a.b", 'x\\"y'), ("a.n", "123"), ("a.t", "true"), ("a.z", "null"),
    ("a.o", '{"k": 1}'), ("a.arr[1].id", "second"), ("a.u", "\\u00e9"), ("top", "1.5"),
    ("a.missing", ""), ("a.arr[5].id", ""), ("a.b.c", ""),
])
def test_json_extract_returns_raw_text(path, expected):
    assert run("JsonExtract(blob, path)", blob=BLOB, path=path) == expected


def test_json_extract_invalid_json_is_empty():
    assert run("JsonExtract('{not json', 'a')") == ""
    assert run("JsonExtract('[1, 2]', '[1]')") == "2"


def test_json_extract_variants():
    assert run("JsonExtractUnescape(blob, 'a', 'b')", blob=BLOB) == 'x"y'
    assert run("JsonExtractUnescape(blob, 'a', 'u')", blob=BLOB) == "é"
    assert run("JsonExtractUnescape(blob, 'a', 'n')", blob=BLOB) == ""
    assert run("JsonExtractLib(blob, 'a', 'n')", blob=BLOB) == "123"
    assert run("JsonExtractSlice(blob, 'a.arr')", blob=BLOB) == [{"id": "first"},
                                                                 {"id": "second"}]
    assert run("JsonExtractSlice(blob, 'a.o')", blob=BLOB) is None
    assert run("JsonExtractObject(blob, 'a.o')", blob=BLOB) == {"k": 1.0}
    assert run("JsonExtractObject(blob, 'a.arr')", blob=BLOB) is None


def test_to_json_string_is_go_marshal():
    assert run("ToJsonString({b: [1, 'x'], a: '<&>'})") == \
        '{"a":"\\u003c\\u0026\\u003e","b":[1,"x"]}'
    assert run("ToJsonString(nil)") == "null"


def test_unmarshal_json_stores_into_the_target_map():
    evt = Event()
    evt.Line.Raw = '{"status": 200, "user": {"name": "bob"}}'
    program = compile_expr('UnmarshalJSON(evt.Line.Raw, evt.Unmarshaled, "k") in ["", nil]')
    assert program.run({"evt": evt}) is True
    assert evt.Unmarshaled["k"] == {"status": 200.0, "user": {"name": "bob"}}
    assert isinstance(evt.Unmarshaled["k"]["status"], float)
    assert compile_expr("evt.Unmarshaled.k.user.name").run({"evt": evt}) == "bob"
    evt.Line.Raw = "{broken"
    with pytest.raises(ExprRuntimeError):
        program.run({"evt": evt})


# -- key=value ----------------------------------------------------------------------------
def test_parse_kv():
    evt = Event()
    line = 'level=info msg="hello \\"world\\"" empty= path=/x a=1 a=2'
    compile_expr("ParseKV(x, evt.Unmarshaled, 'g')").run({"evt": evt, "x": line})
    parsed = evt.Unmarshaled["g"]
    assert parsed == {"level": "info", "msg": 'hello \\"world\\"', "empty": "", "path": "/x",
                      "a": "2"}
    assert compile_expr("evt.Unmarshaled.g.level").run({"evt": evt}) == "info"
    assert compile_expr("evt.Unmarshaled.g.nope").run({"evt": evt}) == ""


def test_parse_kv_errors():
    evt = Event()
    with pytest.raises(ExprRuntimeError):
        compile_expr("ParseKV('no pairs here', evt.Unmarshaled, 'g')").run({"evt": evt})
    evt.Unmarshaled["g"] = 5
    with pytest.raises(ExprRuntimeError):
        compile_expr("ParseKV('a=b', evt.Unmarshaled, 'g')").run({"evt": evt})


def test_parse_kv_lax():
    evt = Event()
    line = 'user=bob smith msg="say a=b \\"hi\\"" x="open'
    compile_expr("ParseKVLax(x, evt.Unmarshaled, 'p')").run({"evt": evt, "x": line})
    assert evt.Unmarshaled["p"] == {"user": "bob smith", "msg": 'say a=b "hi"', "x": "open"}


# -- XML ------------------------------------------------------------------------------------
WINDOWS_XML = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
    "<System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4625</EventID>"
    "</System><EventData><Data Name='TargetUserName'>bob</Data>"
    "<Data Name='IpAddress'>10.0.0.1</Data><Data Name='ProcessId'>0x1f4</Data></EventData>"
    "</Event>")


@pytest.mark.parametrize("path, expected", [
    ("/Event/System/EventID", "4625"),
    ("/Event/EventData[1]/Data[@Name='IpAddress']", "10.0.0.1"),
    ("/Event/EventData/Data[@Name='ProcessId']", "0x1f4"),
    ("/Event/EventData/Data[2]", "10.0.0.1"),
    ("/Event/EventData/Data[@Name='Nope']", ""),
    ("/Other/System", ""),
    ("//EventID", "4625"),
])
def test_xml_get_node_value(path, expected):
    assert run("XMLGetNodeValue(x, p)", x=WINDOWS_XML, p=path) == expected


def test_xml_attribute_and_invalid_xml():
    assert run("XMLGetAttributeValue(x, '/Event/System/Provider', 'Name')", x=WINDOWS_XML) == \
        "Microsoft-Windows-Security-Auditing"
    assert run("XMLGetAttributeValue(x, '/Event/System/Provider', 'Nope')", x=WINDOWS_XML) == ""
    assert run("XMLGetNodeValue('<broken', '/Event')") == ""


def test_xml_direct_text_only():
    assert run("XMLGetNodeValue('<a>head<b>x</b>tail</a>', '/a')") == "head"


# -- IP ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ip, cidr, expected", [
    ("1.2.3.4", "1.2.3.0/24", True), ("1.2.4.4", "1.2.3.0/24", False),
    ("::ffff:1.2.3.4", "1.2.3.0/24", True), ("2001:db8::1", "2001:db8::/32", True),
    ("1.2.3.4", "::/0", False), ("bad", "1.2.3.0/24", False), ("1.2.3.4", "bad", False),
    ("1.2.3.4", "1.2.3.4/33", False), ("1.2.3.4", "1.2.3.9/24", True),
])
def test_ip_in_range(ip, cidr, expected):
    assert run("IpInRange(ip, cidr)", ip=ip, cidr=cidr) is expected


@pytest.mark.parametrize("value, v4, v6", [
    ("1.2.3.4", True, False), ("::1", False, True), ("::ffff:1.2.3.4", True, False),
    ("01.2.3.4", False, False), ("fe80::1%eth0", False, False), ("[::1]", False, False),
    ("1.2.3.4:80", False, False), ("", False, False), ("256.1.1.1", False, False),
])
def test_is_ip_family(value, v4, v6):
    assert run("IsIPV4(x)", x=value) is v4
    assert run("IsIPV6(x)", x=value) is v6
    assert run("IsIP(x)", x=value) is (v4 or v6)


@pytest.mark.parametrize("ip, mask, expected", [
    ("1.2.3.4", "24", "1.2.3.0/24"), ("1.2.3.4", "/16", "1.2.0.0/16"),
    ("2001:db8::1", "64", "2001:db8::/64"), ("1.2.3.4", "64", ""), ("bad", "24", ""),
    ("1.2.3.4", "x", ""),
])
def test_ip_to_range(ip, mask, expected):
    assert run("IpToRange(ip, mask)", ip=ip, mask=mask) == expected


def test_ip_helpers_reject_nil():
    with pytest.raises(ExprRuntimeError):
        run("IpInRange(nil, '1.2.3.0/24')")


def test_network_helpers_are_offline():
    assert run("LookupHost('example.com')") == []
    assert run("CrowdsecCTI('1.2.3.4')") is None
    assert run("GetDecisionsCount('1.2.3.4')") == 0
    assert run("GetActiveDecisionsTimeLeft('1.2.3.4')") == timedelta(0)
    assert run("GeoIPEnrich('1.2.3.4')") is None
    assert run("IPToCountry('1.2.3.4')") == ""
    with pytest.raises(ExprRuntimeError):
        run("HTTPGet('http://example.com')")


# -- misc ---------------------------------------------------------------------------------------
def test_distance():
    paris_london = run("Distance('48.8566', '2.3522', '51.5074', '-0.1278')")
    assert 340 < paris_london < 350  # ~343.5 km great-circle
    assert run("Distance('0', '0', '51.5', '0')") == 0.0
    with pytest.raises(ExprRuntimeError):
        run("Distance('x', '0', '1', '1')")


def test_intervals():
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    times = [base + timedelta(seconds=s) for s in (0, 30, 10, 100)]  # unsorted on purpose
    # sorted: 0, 10, 30, 100 -> gaps 10, 20, 70
    assert run("MedianInterval(t)", t=times) == timedelta(seconds=20)
    assert run("AverageInterval(t)", t=times) == timedelta(seconds=100 / 3)
    assert run("MedianInterval(t) >= duration('20s')", t=times) is True
    with pytest.raises(ExprRuntimeError):
        run("MedianInterval(t)", t=times[:1])


def test_float_approx_equal():
    assert run("FloatApproxEqual(1.5, 1.5000001)") is True
    assert run("FloatApproxEqual(1.5, 1.6)") is False
    with pytest.raises(ExprRuntimeError):
        run("FloatApproxEqual(1, 1.0)")


def test_flatten_distinct():
    assert run("Flatten([1, [2]], 3)") == [1, 2, 3]
    assert run("Distinct(['a', 'b', 'a'])") == ["a", "b"]
    assert run("FlattenDistinct([1, [1, 2]], 2)") == [1, 2]


def test_query_parsing():
    assert run("ParseUri('/p?a=1&b=x+y&a=2')") == {"a": ["1", "2"], "b": ["x y"]}
    assert run("ParseUri('/p?a=1;b=2')") == {}
    assert run("ParseQuery('a=1;b=2&c=%41&d=%zz')") == {"a": ["1;b=2"], "c": ["A"], "d": ["%zz"]}
    assert run("ExtractQueryParam('/x?id=1&id=2', 'id')") == ["1", "2"]
    assert run("ExtractQueryParam('/x', 'id')") == []


def test_parse_unix():
    assert run("ParseUnix('1700000000.123')") == "2023-11-14T22:13:20Z"
    assert run("ParseUnix('0')") == ""
    assert run("ParseUnix('abc')") == ""


def test_time_now_uses_context_clock():
    ctx = EngineContext(clock=lambda: FIXED_NOW)
    assert run("TimeNow()", ctx) == "2024-02-03T04:05:06Z"


# -- data files and stash through the context ---------------------------------------------------
def test_data_file_helpers(tmp_path):
    (tmp_path / "ips.txt").write_text("# comment\n1.2.3.4\n\n5.6.7.8\n")
    (tmp_path / "ua.regex").write_text("(?i)curl\n^python-\n")
    (tmp_path / "tech.json").write_text(
        '{"tag": "wp", "pattern": "/wp-login.php", "type": "equals"}\n'
        '{"tag": "php", "pattern": ".php", "type": "contains"}\n')
    ctx = EngineContext(clock=lambda: FIXED_NOW)
    ctx.data.load("ips.txt", "string", tmp_path / "ips.txt")
    ctx.data.load("ua.regex", "regexp", tmp_path / "ua.regex")
    ctx.data.load("tech.json", "map", tmp_path / "tech.json")
    assert run("File('ips.txt')", ctx) == ["1.2.3.4", "5.6.7.8"]
    assert run("'5.6.7.8' in File('ips.txt')", ctx) is True
    assert run("'9.9.9.9' in File('ips.txt')", ctx) is False
    assert run("any(File('ips.txt'), {IpInRange('1.2.3.4', # + '/32')})", ctx) is True
    assert run("File('unknown.txt')", ctx) == []
    assert run("RegexpInFile('Mozilla CURL/7', 'ua.regex')", ctx) is True
    assert run("RegexpInFile('Mozilla', 'ua.regex')", ctx) is False
    assert run("LookupFile('/wp-login.php', 'tech.json')", ctx) == "wp"
    assert run("LookupFile('/index.php?x', 'tech.json')", ctx) == "php"
    assert len(run("FileMap('tech.json')", ctx)) == 2


def test_stash_helpers_use_context_clock():
    now = [FIXED_NOW]
    ctx = EngineContext(clock=lambda: now[0])
    assert run("SetInStash('pids', '42', 'bob', '30s')", ctx) is None
    assert run("GetFromStash('pids', '42')", ctx) == "bob"
    assert run("GetFromStash('pids', '43')", ctx) == ""
    now[0] = FIXED_NOW + timedelta(seconds=31)
    assert run("GetFromStash('pids', '42')", ctx) == ""
    with pytest.raises(ExprRuntimeError):
        run("SetInStash('pids', '1', 'x', 'bad ttl')", ctx)


def test_basename_via_extra_funcs():
    import os

    def basename(path):
        if not isinstance(path, str):
            raise TypeError("basename needs a string")
        return os.path.basename(path.rstrip("/")) or "."

    program = compile_expr("basename(results.Meta.datasource_path) == 'a.log'",
                           extra_funcs={"basename": basename})
    assert program.run({"results": {"Meta": StrMap(datasource_path="/x/a.log")}}) is True
    with pytest.raises(ExprRuntimeError):
        program.run({"results": {"Meta": {"datasource_path": None}}})


def test_query_maps_read_missing_keys_as_empty_lists():
    assert run("len(ParseUri('/p?a=1').nope)") == 0
    assert run("ParseQuery('a=1')['nope']") == []


def test_geoip_helpers_with_the_test_databases(shared_hub):
    from crowdsec_mp.engine.enrich.geoip import GeoIPDatabases

    databases = GeoIPDatabases.open(shared_hub / "geoip")
    ctx = EngineContext(clock=lambda: FIXED_NOW, geoip=databases)
    try:
        # 81.2.69.142/31 is London, GB in MaxMind's test City database
        assert run("IPToCountry('81.2.69.142')", ctx) == "GB"
        record = run("GeoIPEnrich('81.2.69.142')", ctx)
        assert record["country"]["iso_code"] == "GB"
        assert run("GeoIPEnrich('not an ip')", ctx) is None
        assert run("IPToCountry('10.0.0.1')", ctx) == ""
    finally:
        databases.close()


def test_match_question_mark_is_one_byte():
    assert run("Match('caf??', 'café')") is True   # é is two bytes
    assert run("Match('caf?', 'café')") is False
