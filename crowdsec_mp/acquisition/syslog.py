"""The `syslog` datasource: a built-in syslog server (UDP, and TCP as an extension).

Each received message is parsed as RFC5424, else RFC3164, and reassembled into
a classic syslog line, the shape the hub's `crowdsecurity/syslog-logs` parser
expects:

    <Mmm> <d> <hh:mm:ss> <hostname> <app>[<procid>]: <message>

* the day is not padded (Go layout "Jan 2 15:04:05"); a message without a
  timestamp gets the reception time (UTC);
* a missing hostname becomes "unknownhost"; a missing app name is left out,
  and "[procid]" only appears when there is a procid;
* `disable_rfc_parser: true` only strips the leading `<PRI>`.

A message that is neither RFC5424 nor RFC3164 is dropped and counted in
`counters["unparsed_messages"]` (CrowdSec drops it too). UDP datagrams are one
message each; TCP streams are framed by newline or by RFC6587 octet counting.
"""

from __future__ import annotations

import re
import select
import socket
from collections import deque
from datetime import datetime, timezone

from crowdsec_mp.acquisition.base import RawLine, Source
from crowdsec_mp.errors import BootError

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_PRI = re.compile(r"^<(\d{1,3})>")
_RFC5424_HEAD = re.compile(r"^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ")
_RFC3164_TS = re.compile(
    r"^(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2})"
    r"(?: (?P<year>\d{4}))? (?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)? "
)
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) ")
_TAG_WORD = re.compile(r"[^\s\[\]:]+(?:\[[^\]]*\])?:")
_TAG = re.compile(r"^(?P<app>[^\s\[\]:]+)(?:\[(?P<pid>[^\]]*)\])?: ?")


def _stamp(when: datetime) -> str:
    return f"{MONTHS[when.month - 1]} {when.day} {when:%H:%M:%S}"


def build_line(stamp: str, hostname: str, app: str, pid: str, message: str) -> str:
    """The classic syslog line CrowdSec reassembles from a parsed message."""
    line = f"{stamp} {hostname or 'unknownhost'}"
    if app:
        line += f" {app}"
    line += f"[{pid}]: " if pid else ": "
    return line + message


def _parse_rfc3339(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _skip_structured_data(rest: str) -> str | None:
    """Remove the STRUCTURED-DATA field; None when it is malformed."""
    if rest.startswith("-"):
        return rest[1:]
    index = 0
    while index < len(rest) and rest[index] == "[":
        index += 1
        while index < len(rest) and rest[index] != "]":
            index += 2 if rest[index] == "\\" else 1
        if index >= len(rest):
            return None
        index += 1
    return rest[index:] if index else None


def parse_rfc5424(message: str, received: datetime) -> str | None:
    head = _RFC5424_HEAD.match(message)
    if not head:
        return None
    _pri, _version, stamp, hostname, app, procid, _msgid = head.groups()
    rest = _skip_structured_data(message[head.end():])
    if rest is None:
        return None
    rest = rest[1:] if rest.startswith(" ") else rest
    rest = rest.lstrip("\ufeff")
    if stamp == "-":
        when = received
    else:
        when = _parse_rfc3339(stamp)
        if when is None:
            return None
    nil = lambda value: "" if value == "-" else value  # noqa: E731 - RFC5424 NILVALUE
    return build_line(_stamp(when), nil(hostname), nil(app), nil(procid), rest)


def parse_rfc3164(message: str, received: datetime) -> str | None:
    pri = _PRI.match(message)
    if not pri:
        return None
    rest = message[pri.end():]
    classic = _RFC3164_TS.match(rest)
    if classic:
        stamp = f"{classic['mon']} {int(classic['day'])} {classic['time']}"
        rest = rest[classic.end():]
    else:
        iso = _RFC3339.match(rest)
        if not iso:
            return None
        when = _parse_rfc3339(iso.group(1))
        if when is None:
            return None
        stamp = _stamp(when)
        rest = rest[iso.end():]
    # "HOSTNAME TAG: MSG"; the hostname is absent when the first word is already a tag.
    hostname = ""
    first, _, after = rest.partition(" ")
    if not _TAG_WORD.fullmatch(first):
        hostname, rest = first, after
    tag = _TAG.match(rest)
    if not tag:
        return build_line(stamp, hostname, "", "", rest)
    return build_line(stamp, hostname, tag["app"], tag["pid"] or "", rest[tag.end():])


def reassemble(message: str, received: datetime, disable_rfc_parser: bool = False) -> str | None:
    """One syslog message -> classic line, or None when it cannot be parsed."""
    message = message.rstrip("\r\n")
    if disable_rfc_parser:
        pri = _PRI.match(message)
        return message[pri.end():] if pri else message
    return parse_rfc5424(message, received) or parse_rfc3164(message, received)


class SyslogSource(Source):
    """Listens on `listen_addr:listen_port` (UDP or TCP); `port` is the bound port."""

    module = "syslog"

    def __init__(
        self,
        name: str,
        labels: dict,
        listen_addr: str = "127.0.0.1",
        listen_port: int = 514,
        protocol: str = "udp",
        max_message_len: int = 2048,
        disable_rfc_parser: bool = False,
        clock=lambda: datetime.now(timezone.utc),
    ):
        super().__init__(name, labels, "tail")
        self.listen_addr = listen_addr
        self.listen_port = listen_port
        self.protocol = protocol
        self.max_message_len = max_message_len
        self.disable_rfc_parser = disable_rfc_parser
        self.clock = clock
        self.counters["unparsed_messages"] = 0
        self.server: socket.socket | None = None
        self.clients: dict[socket.socket, bytearray] = {}
        self.peers: dict[socket.socket, str] = {}
        self._ready: deque[RawLine] = deque()
        self.port = listen_port

    def start(self) -> None:
        if self.server is not None:
            return
        family = socket.AF_INET6 if ":" in self.listen_addr else socket.AF_INET
        kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
        server = socket.socket(family, kind)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self.listen_addr, self.listen_port))
        except OSError as exc:
            server.close()
            raise BootError(
                f"source {self.name!r}: cannot listen on {self.listen_addr}:{self.listen_port}/"
                f"{self.protocol}: {exc.strerror or exc}"
            ) from exc
        if kind == socket.SOCK_STREAM:
            server.listen(64)
        server.setblocking(False)
        self.server = server
        self.port = server.getsockname()[1]

    def fileno_list(self) -> list[int]:
        if self.server is None:
            return []
        return [self.server.fileno()] + [client.fileno() for client in self.clients]

    def poll(self, max_lines: int = 1000) -> list[RawLine]:
        if self.server is None:
            self.start()
        while len(self._ready) < max_lines:
            readable, _, _ = select.select([self.server, *self.clients], [], [], 0)
            if not readable:
                break
            for sock in readable:
                if sock is self.server and self.protocol == "udp":
                    self._receive_datagram()
                elif sock is self.server:
                    self._accept()
                else:
                    self._receive_stream(sock)
        batch = []
        while self._ready and len(batch) < max_lines:
            batch.append(self._ready.popleft())
        return batch

    def _receive_datagram(self) -> None:
        try:
            data, peer = self.server.recvfrom(self.max_message_len)
        except BlockingIOError:
            return
        self._handle(data, peer[0])

    def _accept(self) -> None:
        try:
            client, peer = self.server.accept()
        except BlockingIOError:
            return
        client.setblocking(False)
        self.clients[client] = bytearray()
        self.peers[client] = peer[0]

    def _receive_stream(self, client: socket.socket) -> None:
        try:
            data = client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buffer = self.clients[client]
        peer = self.peers[client]
        if not data:
            if buffer:
                self._handle(bytes(buffer), peer)
            del self.clients[client]
            del self.peers[client]
            client.close()
            return
        buffer += data
        for message in self._frames(buffer):
            self._handle(message, peer)
        if len(buffer) > self.max_message_len * 4:
            # A peer that never ends its message: cut it rather than grow forever.
            self._handle(bytes(buffer[: self.max_message_len]), peer)
            self._count("errors")
            buffer.clear()

    @staticmethod
    def _frames(buffer: bytearray) -> list[bytes]:
        """Complete messages at the head of `buffer` (consumed from it)."""
        messages = []
        while buffer:
            count = re.match(rb"^(\d{1,6}) ", buffer)
            if count and buffer[count.end():count.end() + 1] == b"<":
                size = int(count.group(1))
                if len(buffer) < count.end() + size:
                    break
                messages.append(bytes(buffer[count.end():count.end() + size]))
                del buffer[: count.end() + size]
                continue
            newline = buffer.find(b"\n")
            if newline < 0:
                break
            messages.append(bytes(buffer[:newline]))
            del buffer[: newline + 1]
        return messages

    def _handle(self, data: bytes, peer: str) -> None:
        text = data[: self.max_message_len].decode("utf-8", errors="replace").strip("\x00")
        if not text.strip():
            return
        line = reassemble(text, self.clock(), self.disable_rfc_parser)
        if line is None:
            self._count("unparsed_messages")
            return
        self._ready.append(RawLine(line, peer, self.labels, self.module))
        self._count("lines_read")

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        self.peers.clear()
        if self.server is not None:
            self.server.close()
            self.server = None
