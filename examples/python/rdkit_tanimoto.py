"""Similarity search of molecules: RDKit Morgan fingerprints -> jitson Tanimoto top-k.

The molecules are the ~5,000 NCI compounds RDKit ships (RDConfig.RDDataDir/NCI/first_5K.smi).
Their 2,048-bit Morgan (radius 2, ECFP4-like) bit vectors become jitson records with
numpy.packbits(bitorder="little"): bit i of the fingerprint is bit i of the record. A kernel
compiled with "metric": "tanimoto" returns, per query, the k most similar molecules by (similarity
descending, row) with the similarity c / u as RDKit computes it, and on request the exact
intersection c and union u. The answer is checked against RDKit's BulkTanimotoSimilarity.

    python examples/python/rdkit_tanimoto.py [k]
"""

import os
import sys

import numpy as np
from rdkit import Chem, DataStructs, RDConfig, RDLogger
from rdkit.Chem import rdFingerprintGenerator

import jitson

QUERIES = {
    "aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "ibuprofen": "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",
}


def main(k: int = 5) -> None:
    RDLogger.DisableLog("rdApp.*")
    path = os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")
    with open(path) as f:
        smiles = [line.split()[0] for line in f if line.strip()]
    mols = [(s, m) for s, m in ((s, Chem.MolFromSmiles(s)) for s in smiles) if m is not None]
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    bits = np.array([gen.GetFingerprintAsNumPy(m) for _, m in mols], dtype=np.uint8)
    records = np.packbits(bits, axis=1, bitorder="little")  # (n, 256) uint8, as jitson.pack_bits
    print(f"{len(mols)} molecules from {path}")

    kernel = jitson.Engine().compile({"version": 1, "record_bits": 2048, "metric": "tanimoto", "top_k": k})
    query_mols = [Chem.MolFromSmiles(s) for s in QUERIES.values()]
    query_bits = np.array([gen.GetFingerprintAsNumPy(m) for m in query_mols], dtype=np.uint8)
    queries = np.packbits(query_bits, axis=1, bitorder="little")
    similarities, ids, common, union = kernel.search(queries, records, counts=True)

    fps = [gen.GetFingerprint(m) for _, m in mols]
    for q, name in enumerate(QUERIES):
        print(f"\n{name}: {QUERIES[name]}")
        for s, i, c, u in zip(similarities[q], ids[q], common[q], union[q]):
            print(f"  tanimoto {s:.4f} = {c:3d}/{u:3d}  row {i:4d}  {mols[i][0]}")
        # RDKit's own answer: the same rows in the same order, the same doubles.
        rdkit = np.array(DataStructs.BulkTanimotoSimilarity(gen.GetFingerprint(query_mols[q]), fps))
        order = np.lexsort((np.arange(len(fps)), -rdkit))[:k]
        assert ids[q].tolist() == order.tolist(), (ids[q], order)
        assert similarities[q].tolist() == rdkit[order].tolist()

    # A threshold instead of k: every molecule with similarity >= 0.5 to aspirin.
    lims, sims, rows = kernel.range_search(queries[:1], records, min_similarity=0.5)
    print(f"\nsimilarity >= 0.5 to aspirin: rows {rows.tolist()}, similarities {np.round(sims, 3).tolist()}")
    rdkit = np.array(DataStructs.BulkTanimotoSimilarity(gen.GetFingerprint(query_mols[0]), fps))
    kept = np.nonzero(rdkit >= 0.5)[0]
    kept = kept[np.lexsort((kept, -rdkit[kept]))]
    assert rows.tolist() == kept.tolist() and sims.tolist() == rdkit[kept].tolist()
    print("same rows, order and similarities as RDKit's BulkTanimotoSimilarity")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
