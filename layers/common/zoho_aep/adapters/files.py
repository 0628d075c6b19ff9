"""Export files on local disk: Zoho's zipped CSV read as a stream, the gzip CSV AEP reads written as one.

Neither side is ever held in memory: the zip is on disk (the download streams into it), its CSV member
is decompressed row by row, and each row goes straight into a gzip file that is then uploaded. Columns
are the unit's recorded ones, in their order, then ``zoho_deleted``; a column Zoho did not send is
empty. Tombstones carry the id, ``Modified_Time`` set to the deletion time and ``zoho_deleted=true``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Iterable, Sequence

from ..domain.errors import ZohoResponseInvalid
from ..domain.export import ID_COLUMN, MODIFIED_COLUMN, header

csv.field_size_limit(16 * 1024 * 1024)  # a long text field must not stop an export


def convert_page(zip_path: str, columns: Sequence[str], out_path: str) -> int:
    """Write the rows of a Bulk Read result zip to ``out_path`` as gzip CSV; returns how many there were."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ZohoResponseInvalid("Zoho's Bulk Read result is not a zip file.") from exc
    with archive:
        members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
        if len(members) != 1:
            raise ZohoResponseInvalid("Zoho's Bulk Read result does not hold exactly one CSV file.")
        with archive.open(members[0]) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            reader = csv.reader(text)
            names = next(reader, None) or []
            # Zoho documents ``id``; some answers say ``Id``: the id column is found either way.
            position = {(ID_COLUMN if n.lower() == ID_COLUMN else n): i for i, n in enumerate(names)}
            picks = [position.get(column) for column in columns]
            return _write(out_path, columns, ([_cell(row, i) for i in picks] + ["false"] for row in reader))


def write_tombstones(records: Iterable[tuple[str, str]], columns: Sequence[str], out_path: str) -> int:
    """Write one row per deleted record (id, deletion time); returns how many there were."""
    at = {c: i for i, c in enumerate(columns)}
    width = len(columns)

    def rows() -> Iterable[list[str]]:
        for record_id, deleted_time in records:
            row = [""] * width
            row[at[ID_COLUMN]] = record_id
            if MODIFIED_COLUMN in at:
                row[at[MODIFIED_COLUMN]] = deleted_time
            yield [*row, "true"]

    return _write(out_path, columns, rows())


def _cell(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _write(out_path: str, columns: Sequence[str], rows: Iterable[list[str]]) -> int:
    count = 0
    with gzip.open(out_path, "wt", encoding="utf-8", newline="", compresslevel=6) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header(columns))
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
