"""Reads what `rtc-archiver export --format parquet` wrote, with pyarrow
(Apache Arrow's C++ Parquet implementation: independent of the Rust crate
that wrote it), and prints it as JSON for tests/parquet.rs to compare with
the archive exactly.

    parquet_reader.py file FILE.parquet     one file: its schema, encodings, rows
    parquet_reader.py hive DIR              a Hive-partitioned directory: files, rows

Each row is [app_id, room_id, user_ids, source, indicator, unit,
time in microseconds since the epoch, the value's IEEE 754 bits as a signed
64-bit integer] (plus the partition's date for `hive`), so that values
compare bit for bit.
"""

import json
import struct
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

IDENTITY = ["app_id", "room_id", "user_ids", "source", "indicator", "unit"]


def bits(v):
    return struct.unpack("<q", struct.pack("<d", v))[0]


def rows(table, extra=()):
    cols = {n: table.column(n).to_pylist() for n in IDENTITY + list(extra)}
    times = table.column("time").cast(pa.int64()).to_pylist()
    values = table.column("value").to_pylist()
    out = []
    for i in range(table.num_rows):
        row = [cols[n][i] for n in IDENTITY] + [times[i], bits(values[i])]
        row += [str(cols[n][i]) for n in extra]
        out.append(row)
    return out


def main():
    mode, path = sys.argv[1], sys.argv[2]
    out = {}
    if mode == "file":
        f = pq.ParquetFile(path)
        arrow = f.schema_arrow
        out["types"] = {n: str(arrow.field(n).type) for n in arrow.names}
        out["nullable"] = {n: arrow.field(n).nullable for n in arrow.names}
        out["logical"] = {
            f.schema.column(i).name: str(f.schema.column(i).logical_type)
            for i in range(len(f.schema))
        }
        md = f.metadata
        out["created_by"] = md.created_by
        out["row_groups"] = md.num_row_groups
        out["encodings"] = {}
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for i in range(rg.num_columns):
                c = rg.column(i)
                out["encodings"].setdefault(c.path_in_schema, set()).update(c.encodings)
                out.setdefault("compression", set()).add(c.compression)
        out["encodings"] = {k: sorted(v) for k, v in out["encodings"].items()}
        out["compression"] = sorted(out.get("compression", []))
        out["rows"] = rows(f.read())
    else:
        dataset = ds.dataset(path, format="parquet", partitioning="hive")
        out["files"] = sorted(dataset.files)
        out["rows"] = rows(dataset.to_table(), extra=["date"])
    print(json.dumps(out))


main()
