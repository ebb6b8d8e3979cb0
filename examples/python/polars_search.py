"""Nearest fingerprints of a Polars DataFrame with jitson.

The DataFrame goes over as it is (the Arrow PyCapsule stream interface, no conversion): Polars
keeps Binary columns as Arrow binary_view, whose values jitson reads in place in Polars' own
buffers. The ids come from the DataFrame's own id column, and the hits join back as a Polars
DataFrame.

    python examples/python/polars_search.py [n_rows]
"""

import sys

import numpy as np
import polars as pl

import jitson


def main(n_rows: int = 20000) -> None:
    rng = np.random.default_rng(7)
    bits = rng.random((n_rows, 1024)) < 0.1  # sparse 1,024-bit fingerprints
    records = jitson.pack_bits(bits)
    df = pl.DataFrame(
        {
            "id": np.arange(n_rows, dtype=np.int64) * 10,
            "label": [f"item-{i}" for i in range(n_rows)],
            "fp": [r.tobytes() for r in records],
        }
    )
    kernel = jitson.Engine().compile({"version": 1, "record_bits": 1024, "top_k": 5})
    queries = records[[5, 17]]

    distances, ids = kernel.search(queries, df, column="fp", id_column="id")

    hits = pl.DataFrame(
        {
            "query": np.repeat(np.arange(len(queries)), ids.shape[1]),
            "id": ids.ravel(),
            "distance": distances.ravel(),
        }
    ).join(df.select("id", "label"), on="id")
    print(hits.sort("query", "distance", "id"))
    assert ids[0, 0] == 50 and ids[1, 0] == 170 and (distances[:, 0] == 0).all()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
