"""The archive's hash chain: an untouched archive verifies, and each kind of damage is found where it is."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import rfc8785

from services.audit.archive import (
    GENESIS,
    MANIFEST,
    ArchiveCorrupt,
    ArchiveWriter,
    read_archive,
    replay,
    segment_name,
)
from services.audit.history import History
from services.audit.schemas import SchemaCheck
from tests.support.histories import consistent_history

SEGMENT = 4  # the reference story's 11 records make segments of 4, 4 and 3 lines


@pytest.fixture
def story():
    return consistent_history()


@pytest.fixture
def archive(tmp_path, story) -> Path:
    with ArchiveWriter(tmp_path, segment_events=SEGMENT) as writer:
        for _, event in story.records():
            writer.append(event)
    return tmp_path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def verify(directory: Path):
    reader = read_archive(directory)
    records = list(reader)
    return records, reader.breaks


def test_an_untouched_archive_yields_every_record_and_no_break(archive, story):
    records, breaks = verify(archive)
    assert breaks == []
    assert records == story.records()
    manifest = json.loads((archive / MANIFEST).read_text())
    assert [s["name"] for s in manifest["segments"]] == [segment_name(0), segment_name(4), segment_name(8)]
    assert [(s["first_offset"], s["last_offset"], s["lines"]) for s in manifest["segments"]] == [
        (0, 3, 4),
        (4, 7, 4),
        (8, 10, 3),
    ]
    assert manifest["next_offset"] == 11


def test_the_chain_is_the_documented_one(archive):
    prev = GENESIS
    for name in (segment_name(0), segment_name(4), segment_name(8)):
        for line in lines_of(archive / name):
            record = json.loads(line)
            assert list(record) == ["offset", "event", "prev", "hash"]
            assert record["prev"] == prev  # across segments too: a segment chains from the one before
            canonical = rfc8785.dumps({"offset": record["offset"], "event": record["event"]})
            prev = hashlib.sha256(prev.encode() + canonical).hexdigest()
            assert record["hash"] == prev
    assert json.loads((archive / MANIFEST).read_text())["head"] == prev


def test_one_character_edited_in_an_event_is_found_on_its_line(archive):
    path = archive / segment_name(4)
    lines = lines_of(path)
    assert b"end of mission" in lines[2]
    lines[2] = lines[2].replace(b"end of mission", b"end of misSion", 1)
    rewrite(path, lines)
    records, breaks = verify(archive)
    [chain_break] = breaks
    assert (chain_break.segment, chain_break.line_number, chain_break.offset) == (segment_name(4), 3, 6)
    assert "edited" in chain_break.detail
    assert len(records) == 11  # still read, for the History to judge its signature


def test_a_removed_line_is_found_where_it_was(archive):
    path = archive / segment_name(0)
    lines = lines_of(path)
    del lines[1]
    rewrite(path, lines)
    _, breaks = verify(archive)
    assert [(b.segment, b.line_number) for b in breaks] == [(segment_name(0), 2), (segment_name(0), 4)]
    assert "removed or reordered" in breaks[0].detail
    assert "manifest commits 4" in breaks[1].detail  # the segment is now a line short too


def test_two_swapped_lines_are_found_from_the_first(archive):
    path = archive / segment_name(4)
    lines = lines_of(path)
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(path, lines)
    _, breaks = verify(archive)
    assert breaks[0].line_number == 2 and "removed or reordered" in breaks[0].detail
    assert {b.line_number for b in breaks} == {2, 3, 4}
    assert all(b.segment == segment_name(4) and "edited" not in b.detail for b in breaks)


@pytest.mark.parametrize(("first", "line"), [(0, 4), (8, 3)])  # a closed segment, and the archive's last
def test_a_removed_last_line_is_found_by_the_manifest(archive, first, line):
    path = archive / segment_name(first)
    rewrite(path, lines_of(path)[:-1])
    _, breaks = verify(archive)
    [chain_break] = breaks  # the next segment still chains from the manifest's head: one report
    assert (chain_break.segment, chain_break.line_number) == (segment_name(first), line)
    assert chain_break.offset == first + line - 1


def test_a_removed_segment_is_found_by_the_manifest(archive):
    (archive / segment_name(4)).unlink()
    records, breaks = verify(archive)
    [chain_break] = breaks
    assert (chain_break.segment, chain_break.line_number, chain_break.offset) == (segment_name(4), None, 4)
    assert "missing" in chain_break.detail
    assert [offset for offset, _ in records] == [0, 1, 2, 3, 8, 9, 10]


def test_a_break_reaches_the_history_as_an_archive_chain_violation(archive):
    path = archive / segment_name(4)
    lines = lines_of(path)
    rewrite(path, [lines[0], lines[2], lines[3]])
    history = History(consistent_history().signers.ring, SchemaCheck.load(), complete=True)
    breaks = replay(archive, history)
    report = history.finish()
    assert breaks and report.violations_by_invariant["archive-chain"] == len(breaks)
    violation = next(v for v in report.violations if v["invariant"] == "archive-chain")
    assert violation["offset"] == 6 and f"{segment_name(4)} line 2" in violation["detail"]


def test_an_untouched_archive_replays_into_a_clean_report(archive, story):
    history = History(story.signers.ring, SchemaCheck.load(), complete=True)
    assert replay(archive, history) == []
    report = history.finish()
    assert report.ok and report.events == 10 and report.redeliveries == 1


def test_the_writer_resumes_the_chain_where_the_manifest_left_it(tmp_path, story):
    records = story.records()
    with ArchiveWriter(tmp_path, segment_events=SEGMENT) as writer:
        for _, event in records[:6]:
            writer.append(event)
    with ArchiveWriter(tmp_path, segment_events=SEGMENT) as writer:
        assert writer.next_offset == 6
        for _, event in records[6:]:
            writer.append(event)
    read, breaks = verify(tmp_path)
    assert breaks == [] and read == records
    assert sorted(p.name for p in tmp_path.glob("segment-*")) == [segment_name(0), segment_name(4), segment_name(8)]


def test_lines_never_committed_are_dropped_when_the_writer_resumes(tmp_path, story):
    records = story.records()
    with ArchiveWriter(tmp_path, segment_events=SEGMENT) as writer:
        for _, event in records[:6]:
            writer.append(event)
    with (tmp_path / segment_name(4)).open("ab") as segment:
        segment.write(b'{"offset": 6, "event": {"half": "written')  # a crash before the manifest was rewritten
    (tmp_path / segment_name(99)).write_bytes(b"{}\n")  # a segment opened and never committed
    assert verify(tmp_path)[1] == []  # a reader reads what the manifest commits
    with ArchiveWriter(tmp_path, segment_events=SEGMENT) as writer:
        for _, event in records[6:]:
            writer.append(event)
    read, breaks = verify(tmp_path)
    assert breaks == [] and read == records
    assert not (tmp_path / segment_name(99)).exists()


def test_the_writer_will_not_extend_an_archive_that_lost_its_manifest(archive):
    (archive / MANIFEST).unlink()
    with pytest.raises(ArchiveCorrupt):
        ArchiveWriter(archive)
    _, breaks = verify(archive)
    assert [b.segment for b in breaks] == [MANIFEST]  # the segments themselves still chain


def test_the_manifest_is_committed_when_a_segment_closes(tmp_path, story):
    writer = ArchiveWriter(tmp_path, segment_events=SEGMENT)
    for _, event in story.records()[:5]:
        writer.append(event)
    manifest = json.loads((tmp_path / MANIFEST).read_text())  # the first segment closed, the second is open
    assert [(s["name"], s["lines"]) for s in manifest["segments"]] == [(segment_name(0), 4)]
    writer.flush()
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert [(s["name"], s["lines"]) for s in manifest["segments"]] == [(segment_name(0), 4), (segment_name(4), 1)]
    writer.close()


def test_offsets_only_increase(tmp_path, story):
    with ArchiveWriter(tmp_path) as writer:
        assert writer.append(story.events[0], offset=10) == 10
        with pytest.raises(ValueError):
            writer.append(story.events[1], offset=10)
        assert writer.append(story.events[1]) == 11
