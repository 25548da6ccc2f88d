"""syslog server (real UDP/TCP sockets) and journalctl source (real child process)."""

import socket
import stat
import time
from datetime import datetime, timezone

import pytest

from crowdsec_mp.acquisition.journalctl import JournalctlSource
from crowdsec_mp.acquisition.syslog import SyslogSource, reassemble
from crowdsec_mp.errors import BootError

RECEIVED = datetime(2024, 3, 5, 6, 7, 8, tzinfo=timezone.utc)


@pytest.mark.parametrize("message, expected", [
    ("<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
     "Oct 11 22:14:15 mymachine su[123]: 'su root' failed"),
    ("<13>Feb  5 09:01:02 host sshd: Invalid user x", "Feb 5 09:01:02 host sshd: Invalid user x"),
    ("<13>Feb  5 09:01:02 sshd[9]: no host", "Feb 5 09:01:02 unknownhost sshd[9]: no host"),
    ("<13>2024-02-05T09:01:02+01:00 host app[7]: iso", "Feb 5 09:01:02 host app[7]: iso"),
    ("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
     '[exampleSDID@32473 iut="3" eventSource="App\\]lication"] An application event',
     "Oct 11 22:14:15 mymachine.example.com evntslog: An application event"),
    ("<34>1 2003-10-11T22:14:15Z host sshd 4321 - - \ufeffFailed password",
     "Oct 11 22:14:15 host sshd[4321]: Failed password"),
    ("<34>1 - - - - - - no header values", "Mar 5 06:07:08 unknownhost: no header values"),
])
def test_reassembled_as_classic_syslog_line(message, expected):
    assert reassemble(message, RECEIVED) == expected


def test_unparseable_message_is_none_and_rfc_parser_can_be_disabled():
    assert reassemble("no priority at all", RECEIVED) is None
    assert reassemble("<13>not a date here", RECEIVED) is None
    assert reassemble("<13>anything goes", RECEIVED, disable_rfc_parser=True) == "anything goes"


def poll_until(source, count, timeout=5.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += source.poll()
        time.sleep(0.01)
    return got


def test_udp_listener_receives_and_counts_unparsed():
    source = SyslogSource("s", {"type": "syslog"}, listen_port=0, protocol="udp")
    source.start()
    try:
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.sendto(b"<13>Feb  5 09:01:02 host sshd[1]: one", ("127.0.0.1", source.port))
        client.sendto(b"garbage \xff", ("127.0.0.1", source.port))
        client.sendto(b"<13>Feb  5 09:01:03 host sshd[1]: two", ("127.0.0.1", source.port))
        client.close()
        got = poll_until(source, 2)
        assert [l.raw for l in got] == ["Feb 5 09:01:02 host sshd[1]: one", "Feb 5 09:01:03 host sshd[1]: two"]
        assert got[0].module == "syslog" and got[0].src == "127.0.0.1" and got[0].labels == {"type": "syslog"}
        deadline = time.monotonic() + 2
        while source.counters["unparsed_messages"] < 1 and time.monotonic() < deadline:
            source.poll()
        assert source.counters["unparsed_messages"] == 1
    finally:
        source.close()


def test_tcp_listener_newline_and_octet_counting_framing():
    source = SyslogSource("s", {"type": "syslog"}, listen_port=0, protocol="tcp")
    source.start()
    try:
        client = socket.create_connection(("127.0.0.1", source.port))
        first = b"<13>Feb  5 09:01:02 host a: framed by count"
        client.sendall(b"%d " % len(first) + first + b"<13>Feb  5 09:01:03 host b: by newline\n")
        client.sendall(b"<13>Feb  5 09:01:04 host c: last without newline")
        client.close()
        got = poll_until(source, 3)
        assert [l.raw for l in got] == [
            "Feb 5 09:01:02 host a: framed by count",
            "Feb 5 09:01:03 host b: by newline",
            "Feb 5 09:01:04 host c: last without newline",
        ]
    finally:
        source.close()


def test_port_in_use_is_a_boot_error():
    first = SyslogSource("a", {"type": "t"}, listen_port=0, protocol="tcp")
    first.start()
    try:
        second = SyslogSource("b", {"type": "t"}, listen_port=first.port, protocol="tcp")
        with pytest.raises(BootError, match="cannot listen"):
            second.start()
    finally:
        first.close()


def fake_journalctl(tmp_path, body):
    script = tmp_path / "journalctl"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_journalctl_cat_mode_reads_child_output(tmp_path):
    args_file = tmp_path / "args"
    binary = fake_journalctl(tmp_path, f'echo "$@" > {args_file}\nprintf "l1\\n\\nl2\\r\\nl3"\n')
    source = JournalctlSource("j", ["_SYSTEMD_UNIT=ssh.service"], {"type": "syslog"}, mode="cat",
                              journalctl_bin=binary)
    got = []
    deadline = time.monotonic() + 5
    while not source.done and time.monotonic() < deadline:
        got += source.poll()
        time.sleep(0.01)
    source.close()
    assert [l.raw for l in got] == ["l1", "l2", "l3"]
    assert got[0].src == "journalctl-_SYSTEMD_UNIT=ssh.service" and got[0].module == "journalctl"
    assert args_file.read_text().split() == ["-o", "short", "_SYSTEMD_UNIT=ssh.service"]
    assert source.last_error == ""


def test_journalctl_tail_mode_uses_follow_and_reports_failure(tmp_path):
    binary = fake_journalctl(tmp_path, 'echo "$@"\necho "boom" >&2\nexit 1\n')
    source = JournalctlSource("j", ["_UID=0"], {"type": "syslog"}, journalctl_bin=binary)
    got = []
    deadline = time.monotonic() + 5
    while not source.done and time.monotonic() < deadline:
        got += source.poll()
        time.sleep(0.01)
    source.close()
    assert [l.raw for l in got] == ["--follow -n 0 -o short _UID=0"]
    assert "status 1" in source.last_error and "boom" in source.last_error


def test_missing_journalctl_binary_is_a_boot_error():
    source = JournalctlSource("j", ["_UID=0"], {"type": "t"}, journalctl_bin="/nonexistent/journalctl")
    with pytest.raises(BootError, match="not found"):
        source.start()
