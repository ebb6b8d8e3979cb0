"""A DuckDB table of BLOB fingerprints -> Arrow -> jitson top-k, joined back in SQL.

DuckDB hands its query result to jitson as an Arrow stream (the PyCapsule protocol); jitson scans
the BLOB column in place and returns the k nearest rows by Hamming distance, which go back into
DuckDB as a small table to join with the rest of the data.

    python examples/python/duckdb_topk.py [n_rows]
"""

import sys

import duckdb
import numpy as np

import jitson


def main(n_rows: int = 20000) -> None:
    rng = np.random.default_rng(42)
    fingerprints = rng.integers(0, 256, (n_rows, 256), dtype=np.uint8)  # 2,048-bit records
    con = duckdb.connect()
    con.execute("CREATE TABLE molecules (id BIGINT, name VARCHAR, fp BLOB)")
    # Loading through Arrow: DuckDB reads the pyarrow table by name.
    import pyarrow as pa

    source = pa.table(
        {
            "id": np.arange(n_rows, dtype=np.int64) + 1000,
            "name": [f"mol-{i}" for i in range(n_rows)],
            "fp": pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(256), n_rows, [None, pa.py_buffer(fingerprints)]
            ),
        }
    )
    con.execute("INSERT INTO molecules SELECT id, name, fp::BLOB FROM source")

    kernel = jitson.Engine().compile({"version": 1, "record_bits": 2048, "top_k": 5})
    query = fingerprints[[123]].copy()
    query[0, :4] ^= 0xFF  # 32 bits away from molecule 1123

    # The result relation is an Arrow stream; ids come from the id column.
    rel = con.sql("SELECT id, fp FROM molecules")
    distances, ids = kernel.search(query, rel, column="fp", id_column="id")

    hits = pa.table({"id": ids[0], "distance": distances[0]})
    result = con.sql(
        "SELECT h.distance, m.id, m.name FROM hits h JOIN molecules m USING (id) "
        "ORDER BY h.distance, m.id"
    ).fetchall()
    for distance, mol_id, name in result:
        print(f"{distance:5d}  {mol_id:6d}  {name}")
    assert result[0][:2] == (32, 1123), result[0]


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
