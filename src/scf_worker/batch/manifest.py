"""Manifest parsing: CSV with a header row, or JSON lines, into rows to import.

Every row names a ``source``, which is an object key in the bucket or an
https:// URL. A row may also name the target ``key`` and a row ``id``. Any
other column or field is kept as metadata for the report. Problems a row shows on its own (no source,
a malformed line, an unsafe or repeated key) are found here, so they are
reported even in a dry run; whether a source exists, fits the size limit and
is media is only known when the row is processed.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from scf_worker.batch.errors import ManifestError, RowRejected
from scf_worker.storage.base import check_key
from scf_worker.storage.errors import InvalidObjectKey

# COS limits object keys to 850 bytes of UTF-8 (COS "Object Overview",
# cloud.tencent.com/document/product/436/13324).
MAX_KEY_BYTES = 850
MAX_SOURCE_CHARS = 4096
KNOWN_FIELDS = ("source", "key", "id")


@dataclass(frozen=True)
class ManifestRow:
    """One data row; ``index`` counts from 0 and ``number`` from 1, header excluded.

    ``row_id`` is the row's ``id`` field, or None when the row has none.
    """

    index: int
    row_id: str | None
    source: str | None
    key: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    problem: RowRejected | None = None

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def label(self) -> str:
        """Name the row in reports: its id, or ``row-<number>``."""
        return self.row_id if self.row_id is not None else f"row-{self.number}"

    @property
    def is_url(self) -> bool:
        return self.source is not None and "://" in self.source


def manifest_format(name: str, data: bytes) -> str:
    """Return ``csv`` or ``jsonl`` from the name's suffix, else from the first character."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "jsonl" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without a BOM), falling back to GB18030 as saved by Excel on Chinese Windows."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ManifestError("the manifest is neither UTF-8 nor GB18030 text") from None


def parse_manifest(data: bytes, name: str, max_rows: int) -> list[ManifestRow]:
    """Parse a whole manifest; raise ManifestError when no row can be read from it."""
    text = decode_text(data)
    if manifest_format(name, data) == "csv":
        raw_rows = _csv_rows(text)
    else:
        raw_rows = _jsonl_rows(text)

    rows: list[ManifestRow] = []
    seen_keys: set[str] = set()
    seen_ids: set[str] = set()
    for index, raw in enumerate(raw_rows):
        if index >= max_rows:
            raise ManifestError(f"the manifest has more than {max_rows} rows (IMPORT_MAX_ROWS)")
        row = _build_row(index, raw)
        rows.append(_check_repeats(row, seen_keys, seen_ids))
    return rows


def _csv_rows(text: str) -> list[dict[str, Any] | RowRejected]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError("the CSV manifest is empty") from None
    except csv.Error as exc:
        raise ManifestError(f"the CSV header cannot be read: {exc}") from None
    names = [name.strip() for name in header]
    if "source" not in (name.lower() for name in names):
        raise ManifestError("the CSV header has no source column")

    rows: list[dict[str, Any] | RowRejected] = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            rows.append(RowRejected("invalid_row", f"the CSV line cannot be read: {exc}"))
            continue
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(names):
            rows.append(RowRejected("invalid_row", f"the line has {len(values)} fields but the header"
                                                   f" has {len(names)}"))
            continue
        rows.append(dict(zip(names, values, strict=False)))


def _jsonl_rows(text: str) -> list[dict[str, Any] | RowRejected]:
    rows: list[dict[str, Any] | RowRejected] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(RowRejected("invalid_row", f"the line is not valid JSON ({exc.msg})"))
            continue
        if not isinstance(value, dict):
            rows.append(RowRejected("invalid_row", "the line is not a JSON object"))
            continue
        rows.append(value)
    if not rows:
        raise ManifestError("the JSON lines manifest has no rows")
    return rows


def _field(raw: dict[str, Any], name: str) -> Any:
    for key, value in raw.items():
        if isinstance(key, str) and key.strip().lower() == name:
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise RowRejected("invalid_row", "source, key and id must be strings")
    text = str(value).strip()
    return text or None


def _build_row(index: int, raw: dict[str, Any] | RowRejected) -> ManifestRow:
    if isinstance(raw, RowRejected):
        return ManifestRow(index, None, None, None, problem=raw)

    meta = {k.strip(): v for k, v in raw.items()
            if isinstance(k, str) and k.strip().lower() not in KNOWN_FIELDS and k.strip() != "meta"}
    if isinstance(raw.get("meta"), dict):
        meta.update(raw["meta"])
    try:
        source = _text(_field(raw, "source"))
        key = _text(_field(raw, "key"))
        row_id = _text(_field(raw, "id"))
    except RowRejected as exc:
        return ManifestRow(index, None, None, None, meta, problem=exc)

    row = ManifestRow(index, row_id, source, key, meta)
    problem = _static_problem(row)
    if problem is not None:
        return ManifestRow(index, row_id, source, key, meta, problem=problem)
    if source is not None and not row.is_url and source.startswith("/"):
        # People often write keys with a leading slash; COS keys never have one.
        row = ManifestRow(index, row_id, source[1:], key, meta)
    return row


def _static_problem(row: ManifestRow) -> RowRejected | None:
    if row.source is None:
        return RowRejected("missing_source", "the row has no source")
    if len(row.source) > MAX_SOURCE_CHARS:
        return RowRejected("invalid_row", f"the source is longer than {MAX_SOURCE_CHARS} characters")
    if not row.is_url:
        problem = key_problem(row.source[1:] if row.source.startswith("/") else row.source)
        if problem:
            return RowRejected("invalid_key", f"the source key {problem}")
    if row.key is not None:
        problem = key_problem(row.key)
        if problem:
            return RowRejected("invalid_key", f"the target key {problem}")
    return None


def key_problem(key: str) -> str | None:
    """Return why a key cannot be used as an object key, or None when it can."""
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"is longer than {MAX_KEY_BYTES} bytes"
    try:
        check_key(key)
    except InvalidObjectKey as exc:
        return str(exc).replace("object key ", "", 1)
    return None


def _check_repeats(row: ManifestRow, seen_keys: set[str], seen_ids: set[str]) -> ManifestRow:
    """Reject a row whose id or target key an earlier row already used."""
    if row.problem is not None:
        return row
    if row.row_id is not None:
        if row.row_id in seen_ids:
            return _rejected(row, RowRejected("duplicate_id", f"id {row.row_id} is used by an earlier row"))
        seen_ids.add(row.row_id)
    target = row.key or (None if row.is_url else row.source)
    if target is None:
        return row
    if target in seen_keys:
        return _rejected(row, RowRejected("duplicate_key", "an earlier row imports to the same key"))
    seen_keys.add(target)
    return row


def _rejected(row: ManifestRow, problem: RowRejected) -> ManifestRow:
    return ManifestRow(row.index, row.row_id, row.source, row.key, row.meta, problem=problem)
