"""Reads every output table directory the way users do, and checks it.

usage: check_parquet.py EXPECT_JSON

EXPECT_JSON holds {"tables": [{"dir": ..., "format": "parquet" | "csv", "rows": N,
"columns": {name: type}, "partition_by": [names]}]} where type is one of bigint, double,
string, boolean, timestamp, date. A Parquet table is read with pandas.read_parquet(dir),
pyarrow.dataset.dataset(dir, partitioning="hive") and DuckDB's read_parquet(...,
hive_partitioning = true): each reader must see every row and every column (the
partition columns from the directory names), file columns with their declared types. A
CSV table is read with pandas.read_csv of each file of the directory, pyarrow's CSV
dataset (hive partitioning) and DuckDB's read_csv(..., hive_partitioning = true): every
row and every column. Prints one line per table and reader; exits 1 on the first
mismatch.
"""

import glob
import os

import json
import sys

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

ARROW = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "date": pa.date32(),
}


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def check_pyarrow(t):
    table = ds.dataset(t["dir"], format="parquet", partitioning="hive").to_table()
    if table.num_rows != t["rows"]:
        fail(f"pyarrow {t['dir']}: {table.num_rows} rows, expected {t['rows']}")
    names = set(table.schema.names)
    if names != set(t["columns"]):
        fail(f"pyarrow {t['dir']}: columns {sorted(names)}, expected {sorted(t['columns'])}")
    for name, ty in t["columns"].items():
        if name in t["partition_by"]:
            continue
        got = table.schema.field(name).type
        if got != ARROW[ty]:
            fail(f"pyarrow {t['dir']}: column {name} is {got}, expected {ARROW[ty]}")
    return table


def check_pandas(t):
    df = pd.read_parquet(t["dir"])
    if len(df) != t["rows"]:
        fail(f"pandas {t['dir']}: {len(df)} rows, expected {t['rows']}")
    if set(df.columns) != set(t["columns"]):
        fail(f"pandas {t['dir']}: columns {sorted(df.columns)}, expected {sorted(t['columns'])}")
    for name, ty in t["columns"].items():
        if name in t["partition_by"]:
            continue
        kind = df[name].dtype.kind
        want = {"bigint": "iuf", "double": "f", "string": "OU", "boolean": "bO", "timestamp": "M", "date": "OM"}[ty]
        # Nullable integers and booleans come back as floats / objects in pandas.
        if kind not in want and not (ty in ("bigint", "boolean") and kind in "fO"):
            fail(f"pandas {t['dir']}: column {name} has dtype {df[name].dtype}, expected {ty}")
    return df


def check_duckdb(t):
    con = duckdb.connect()
    glob = t["dir"].rstrip("/") + "/**/*.parquet"
    source = f"read_parquet('{glob}', hive_partitioning = true)"
    rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    if rows != t["rows"]:
        fail(f"duckdb {t['dir']}: {rows} rows, expected {t['rows']}")
    described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    types = {row[0]: row[1] for row in described}
    if set(types) != set(t["columns"]):
        fail(f"duckdb {t['dir']}: columns {sorted(types)}, expected {sorted(t['columns'])}")
    duck = {"bigint": "BIGINT", "double": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN",
            "timestamp": "TIMESTAMP WITH TIME ZONE", "date": "DATE"}
    for name, ty in types.items():
        if name in t["partition_by"]:
            continue
        if ty != duck[t["columns"][name]]:
            fail(f"duckdb {t['dir']}: column {name} is {ty}, expected {duck[t['columns'][name]]}")


def check_csv(t):
    files = sorted(glob.glob(os.path.join(t["dir"], "**", "*.csv"), recursive=True))
    files = [f for f in files if not os.path.basename(f).startswith((".", "_"))]
    frames = [pd.read_csv(f) for f in files]
    rows = sum(len(df) for df in frames)
    if rows != t["rows"]:
        fail(f"pandas csv {t['dir']}: {rows} rows, expected {t['rows']}")
    file_columns = set(t["columns"]) - set(t["partition_by"])
    for f, df in zip(files, frames):
        if set(df.columns) != file_columns:
            fail(f"pandas csv {f}: columns {sorted(df.columns)}, expected {sorted(file_columns)}")
    print(f"ok pandas-csv {t['dir']} {rows} rows")
    table = ds.dataset(t["dir"], format="csv", partitioning="hive").to_table()
    if table.num_rows != t["rows"] or set(table.schema.names) != set(t["columns"]):
        fail(f"pyarrow csv {t['dir']}: {table.num_rows} rows, columns {sorted(table.schema.names)}")
    print(f"ok pyarrow-csv {t['dir']} {table.num_rows} rows")
    con = duckdb.connect()
    source = f"read_csv('{t['dir'].rstrip('/')}/**/*.csv', hive_partitioning = true)"
    n = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    names = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    if n != t["rows"] or names != set(t["columns"]):
        fail(f"duckdb csv {t['dir']}: {n} rows, columns {sorted(names)}")
    print(f"ok duckdb-csv {t['dir']} {n} rows")


def main():
    with open(sys.argv[1]) as f:
        expect = json.load(f)
    for t in expect["tables"]:
        if t.get("format") == "csv":
            check_csv(t)
            continue
        check_pyarrow(t)
        print(f"ok pyarrow {t['dir']} {t['rows']} rows")
        check_pandas(t)
        print(f"ok pandas {t['dir']} {t['rows']} rows")
        check_duckdb(t)
        print(f"ok duckdb {t['dir']} {t['rows']} rows")


if __name__ == "__main__":
    main()
