"""Wire envelopes, event round trip, bad frames, and socket backpressure (real zmq sockets)."""

from datetime import datetime, timedelta, timezone

import msgpack
import pytest
import zmq

from crowdsec_mp.engine.event import (
    OVFLW, Alert, APIEvent, Event, Line, MetaItem, RuntimeAlert, Source, StrMap, new_log_event,
)
from crowdsec_mp.errors import ProtocolError
from crowdsec_mp.pipeline import sockets, wire


def full_event():
    evt = new_log_event("Feb 5 09:01:02 host sshd[1]: x", src="/var/log/auth.log",
                        labels={"type": "syslog"},
                        acquired_at=datetime(2024, 2, 5, 9, 1, 2, 500, tzinfo=timezone.utc))
    evt.Parsed["program"] = "sshd"
    evt.Meta["source_ip"] = "1.2.3.4"
    evt.Unmarshaled = {"__dc__": "Event", "n": 1.5, "list": [1, "a", None], "nested": {"k": True}}
    evt.Time = datetime(2024, 2, 5, 9, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    src = Source(IP="1.2.3.4", Range="1.2.3.0/24", Scope="Ip", Value="1.2.3.4", Latitude=1.5)
    alert = Alert(Scenario="crowdsecurity/ssh-bf", EventsCount=6, Source=src,
                  Events=[APIEvent(Timestamp="t", Meta=[MetaItem("source_ip", "1.2.3.4")])],
                  Meta=[MetaItem("k", "v")], Labels=["a"], Simulated=False)
    evt.Overflow = RuntimeAlert(Mapkey="abc", Sources={"1.2.3.4": src}, Alert=alert, APIAlerts=[alert])
    evt.Type = OVFLW
    return evt


def test_event_round_trip_keeps_types_and_values():
    evt = full_event()
    back = wire.event_from_wire(wire.unpack(wire.pack(wire.event_to_wire(evt))))
    assert back == evt
    assert isinstance(back.Parsed, StrMap) and back.Parsed["missing"] == ""
    assert isinstance(back.Line, Line) and isinstance(back.Line.Labels, StrMap)
    assert back.Time.utcoffset() == timedelta(hours=2)
    assert back.Line.Time.microsecond == 500
    # Free-form data is never interpreted as a class tag.
    assert back.Unmarshaled["__dc__"] == "Event"
    assert isinstance(back.Overflow.Sources["1.2.3.4"], Source)
    assert back.Overflow.Alert.Events[0].GetMeta("source_ip") == "1.2.3.4"


def test_timedelta_round_trip():
    value = {"d": timedelta(days=-1, seconds=5, microseconds=7)}
    assert wire.unpack(wire.pack(value)) == value


def test_unknown_class_or_field_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="unknown wire class"):
        wire.event_from_wire({"__dc__": "os.system"})
    with pytest.raises(ProtocolError, match="no field"):
        wire.event_from_wire({"__dc__": "Event", "Bogus": 1})
    with pytest.raises(ProtocolError):
        wire.event_from_wire({"Type": 0})


def test_envelope_round_trip_and_lines_payload():
    frame = wire.lines_message(7, [("raw", "src", {"type": "t"}, "file")])
    kind, payload = wire.decode(frame)
    assert kind == "lines" and payload["batch"] == 7
    assert wire.check_lines_payload(payload) == [("raw", "src", {"type": "t"}, "file")]


@pytest.mark.parametrize("frame, message", [
    (b"\xc1", "not a msgpack"),
    (msgpack.packb({"a": 1}), "envelope"),
    (msgpack.packb(["nope", 1, {}]), "unknown message kind"),
    (msgpack.packb(["ack", 99, {"worker": 0, "batch": 0}]), "unsupported version"),
    (msgpack.packb(["ack", 1, []]), "payload must be a map"),
    (msgpack.packb(["ack", 1, {"worker": 0}]), "lacks batch"),
])
def test_bad_frames_are_counted_and_dropped(frame, message):
    stats = wire.FrameStats()
    assert stats.decode(frame) is None
    assert stats.bad_frames == 1 and message in stats.last_error


def test_bad_line_entries_rejected():
    with pytest.raises(ProtocolError):
        wire.check_lines_payload({"lines": [["raw", "src", "notadict", "file"]]})


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def test_push_pull_over_ipc_and_blocking_at_hwm(ctx):
    run = sockets.RunDir()
    try:
        receiver = sockets.pull(ctx, run.shard_in(0), hwm=2)
        sender = sockets.push(ctx, run.shard_in(0), hwm=2)
        sent = 0
        while sockets.send_or_wait(sender, wire.encode("eof", {"batch": sent}), timeout_ms=200):
            sent += 1
            assert sent < 1000, "PUSH never blocked: HWM not applied"
        # Full: nothing was dropped, every message sent is received in order.
        received = [wire.decode(receiver.recv())[1]["batch"] for _ in range(sent)]
        assert received == list(range(sent))
        assert receiver.poll(100) == 0
    finally:
        run.cleanup()


def test_push_to_absent_peer_does_not_queue(ctx):
    run = sockets.RunDir()
    try:
        sender = sockets.push(ctx, run.parser_in(3))
        assert not sockets.send_or_wait(sender, wire.encode("stop", {}), timeout_ms=50)
    finally:
        run.cleanup()
