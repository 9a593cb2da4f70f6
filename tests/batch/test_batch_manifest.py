"""Manifest parsing: CSV and JSON lines, encodings, and the problems a row shows on its own."""

from __future__ import annotations

import pytest

from scf_worker.batch import ManifestError, parse_manifest
from scf_worker.batch.manifest import manifest_format


def test_csv_rows_carry_source_key_id_and_metadata() -> None:
    data = "source,key,id,title\nlegacy/a.mp4,uploads/x/a.mp4,a-1,第一集\nhttps://cdn.example.test/b.mp4,,,\n"
    rows = parse_manifest(data.encode(), "list.csv", 100)
    assert [row.source for row in rows] == ["legacy/a.mp4", "https://cdn.example.test/b.mp4"]
    assert rows[0].key == "uploads/x/a.mp4"
    assert rows[0].label == "a-1"
    assert rows[0].meta == {"title": "第一集"}
    assert rows[1].label == "row-2"
    assert rows[1].is_url
    assert all(row.problem is None for row in rows)


def test_jsonl_rows_merge_meta_object_and_extra_fields() -> None:
    data = (b'{"source": "legacy/a.mp4", "meta": {"tags": ["x"]}, "userId": "u1"}\n\n'
            b'{"source": "legacy/b.mp4"}\n')
    rows = parse_manifest(data, "list.jsonl", 100)
    assert len(rows) == 2
    assert rows[0].meta == {"tags": ["x"], "userId": "u1"}
    assert rows[1].index == 1


def test_excel_bom_and_gb18030_csv_decode() -> None:
    text = "source,title\nlegacy/视频.mp4,标题\n"
    for data in (b"\xef\xbb\xbf" + text.encode(), text.encode("gb18030")):
        rows = parse_manifest(data, "list.csv", 100)
        assert rows[0].source == "legacy/视频.mp4"
        assert rows[0].meta == {"title": "标题"}


def test_format_follows_suffix_then_first_character() -> None:
    assert manifest_format("a.csv", b"{}") == "csv"
    assert manifest_format("a.ndjson", b"source") == "jsonl"
    assert manifest_format("posted", b'  {"source": 1}') == "jsonl"
    assert manifest_format("posted", b"source,key") == "csv"


@pytest.mark.parametrize(("line", "reason"), [
    ('{"key": "a.mp4"}', "missing_source"),
    ('{"source": ""}', "missing_source"),
    ('{"source": "  "}', "missing_source"),
    ('{"source": 12.5}', "invalid_row"),
    ('["legacy/a.mp4"]', "invalid_row"),
    ("{not json", "invalid_row"),
    ('{"source": "legacy/../etc/passwd"}', "invalid_key"),
    ('{"source": "legacy/a.mp4", "key": "a/\\u0001b"}', "invalid_key"),
    ('{"source": "legacy/a.mp4", "key": "' + "k" * 851 + '"}', "invalid_key"),
])
def test_row_problems_found_at_parse(line: str, reason: str) -> None:
    rows = parse_manifest((line + "\n").encode(), "m.jsonl", 10)
    assert rows[0].problem is not None
    assert rows[0].problem.reason == reason


def test_repeated_id_and_target_key_reject_later_rows() -> None:
    data = ("source,key,id\nlegacy/a.mp4,t/a.mp4,1\nlegacy/b.mp4,t/a.mp4,2\nlegacy/c.mp4,t/c.mp4,1\n"
            "legacy/d.mp4,,\nlegacy/d.mp4,,\n")
    rows = parse_manifest(data.encode(), "m.csv", 10)
    assert [row.problem.reason if row.problem else None for row in rows] == [
        None, "duplicate_key", "duplicate_id", None, "duplicate_key"]


def test_leading_slash_on_source_key_is_dropped() -> None:
    rows = parse_manifest(b"source\n/legacy/a.mp4\n", "m.csv", 10)
    assert rows[0].source == "legacy/a.mp4"
    assert rows[0].problem is None


def test_csv_line_with_extra_fields_is_invalid() -> None:
    rows = parse_manifest(b"source,key\nlegacy/a.mp4,t/a.mp4,extra\n", "m.csv", 10)
    assert rows[0].problem is not None
    assert rows[0].problem.reason == "invalid_row"


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"key,title\na,b\n", "m.csv", "no source column"),
    (b"", "m.csv", "empty"),
    (b"\n\n", "m.jsonl", "no rows"),
    (b"\xff\xfe\x00\xd8", "m.csv", "neither UTF-8 nor GB18030"),
])
def test_unusable_manifest_raises(data: bytes, name: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data, name, 10)


def test_row_limit_is_enforced() -> None:
    data = "source\n" + "".join(f"legacy/{i}.mp4\n" for i in range(11))
    with pytest.raises(ManifestError, match="more than 10 rows"):
        parse_manifest(data.encode(), "m.csv", 10)
