"""file datasource: cat (.gz), tail with rotation by rename and copytruncate, discovery, positions."""

import gzip
import os

from crowdsec_mp.acquisition.file import FileSource


def drain(source, rounds=5):
    out = []
    for _ in range(rounds):
        out += source.poll(max_lines=100000)
    return out


def raw(lines):
    return [line.raw for line in lines]


def test_cat_mode_reads_plain_and_gz_files_in_name_order(tmp_path):
    (tmp_path / "a.log").write_bytes(b"a1\na2\r\n\na3")
    with gzip.open(tmp_path / "b.log.gz", "wb") as handle:
        handle.write(b"b1\nb2\n")
    source = FileSource("t", [str(tmp_path / "*")], {"type": "syslog"}, mode="cat")
    lines = drain(source)
    assert raw(lines) == ["a1", "a2", "a3", "b1", "b2"]
    assert lines[0].src == str(tmp_path / "a.log")
    assert lines[0].labels == {"type": "syslog"} and lines[0].module == "file"
    assert source.done
    assert source.counters["lines_read"] == 5


def test_cat_mode_respects_max_lines_per_poll_and_exclude(tmp_path):
    (tmp_path / "x.log").write_text("".join(f"l{i}\n" for i in range(25)))
    (tmp_path / "x.log.1").write_text("excluded\n")
    source = FileSource("t", [str(tmp_path / "x.log*")], {"type": "t"}, mode="cat",
                        exclude_regexps=[r"\.1$"])
    batches = []
    while not source.done:
        batch = source.poll(max_lines=10)
        assert len(batch) <= 10
        batches.append(batch)
    assert [len(b) for b in batches if b] == [10, 10, 5]
    assert "excluded" not in [l.raw for b in batches for l in b]


def test_cat_mode_counts_truncated_lines(tmp_path):
    (tmp_path / "big.log").write_bytes(b"x" * (1 << 20) + b"\nsmall\n")
    source = FileSource("t", [str(tmp_path / "big.log")], {"type": "t"}, mode="cat")
    lines = drain(source)
    assert [len(l.raw) for l in lines] == [65536, 5]
    assert source.counters["lines_truncated"] == 1


def test_corrupt_gz_is_reported_and_next_file_still_read(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"not gzip at all")
    (tmp_path / "b.log").write_text("fine\n")
    source = FileSource("t", [str(tmp_path / "*")], {"type": "t"}, mode="cat")
    assert raw(drain(source)) == ["fine"]
    assert source.counters["errors"] == 1 and "a.gz" in source.last_error


def tail_source(tmp_path, pattern="*.log", **kw):
    source = FileSource("t", [str(tmp_path / pattern)], {"type": "t"}, mode="tail",
                        discovery_interval=0, retire_after=kw.pop("retire_after", 0.0), **kw)
    source.start()  # files present now are tailed from their end
    return source


def test_tail_starts_at_end_and_follows_appends(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old1\nold2\n")
    source = tail_source(tmp_path)
    assert drain(source) == []
    with open(log, "a") as handle:
        handle.write("new1\nnew")
        handle.flush()
        assert raw(drain(source)) == ["new1"]  # partial line kept pending
        handle.write("2\n")
    assert raw(drain(source)) == ["new2"]


def test_tail_rotation_by_rename_loses_nothing(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("")
    source = tail_source(tmp_path, retire_after=60.0)
    writer = open(log, "a")
    writer.write("before-1\n")
    writer.flush()
    got = raw(drain(source))
    os.rename(log, tmp_path / "app.log.1")
    # The application keeps writing to the old inode until it reopens.
    writer.write("late-on-old\n")
    writer.flush()
    writer.close()
    log.write_text("after-1\nafter-2\n")
    got += raw(drain(source))
    assert got == ["before-1", "late-on-old", "after-1", "after-2"]
    assert source.counters["rotations"] == 1


def test_tail_copytruncate_shorter_file(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("")
    source = tail_source(tmp_path)
    with open(log, "a") as handle:
        handle.write("one-long-line-here\ntwo-long-line-here\n")
    got = raw(drain(source))
    with open(log, "r+") as handle:
        handle.truncate(0)
    with open(log, "a") as handle:
        handle.write("three\n")
    got += raw(drain(source))
    assert got == ["one-long-line-here", "two-long-line-here", "three"]
    assert source.counters["truncations"] == 1


def test_tail_copytruncate_refilled_beyond_offset_detected_by_head(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("")
    source = tail_source(tmp_path)
    with open(log, "a") as handle:
        handle.write("aaa\n")
    got = raw(drain(source))
    # Truncated and refilled with more bytes than we had read, between two polls.
    log.write_text("bbb\nccc\nddd\n")
    got += raw(drain(source))
    assert got == ["aaa", "bbb", "ccc", "ddd"]


def test_tail_discovers_new_files_from_their_start(tmp_path):
    source = tail_source(tmp_path)
    assert drain(source) == []
    (tmp_path / "late.log").write_text("l1\nl2\n")
    (tmp_path / "ignored.txt").write_text("no\n")
    assert raw(drain(source)) == ["l1", "l2"]


def test_saved_positions_resume_without_loss_or_duplicate(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("")
    source = tail_source(tmp_path)
    with open(log, "a") as handle:
        handle.write("one\ntwo\npartial")
    assert raw(drain(source)) == ["one", "two"]
    state = source.save_state()
    source.close()
    with open(log, "a") as handle:
        handle.write("-end\nthree\n")
    resumed = tail_source(tmp_path, positions=state)
    assert raw(drain(resumed)) == ["partial-end", "three"]


def test_saved_position_of_replaced_file_reads_new_file_from_start(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("one\n")
    source = tail_source(tmp_path, positions={})
    drain(source)
    state = source.save_state()
    source.close()
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("fresh1\nfresh2\n")
    resumed = tail_source(tmp_path, positions=state)
    assert raw(drain(resumed)) == ["fresh1", "fresh2"]
