"""Morgan fingerprints of molecules (RDKit) searched with jitson by Hamming distance.

RDKit's 2,048-bit Morgan (ECFP4) bit vectors become jitson records with
numpy.packbits(bitorder="little") (jitson.pack_bits): bit i of the fingerprint is bit i of the
record. Tanimoto similarity follows from the distance and the two popcounts.

    python examples/python/rdkit_fingerprints.py
"""

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

import jitson

SMILES = [
    "CC(=O)OC1=CC=CC=C1C(=O)O",  # aspirin
    "CC(=O)NC1=CC=C(O)C=C1",  # paracetamol
    "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",  # ibuprofen
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine
    "OC(=O)C1=CC=CC=C1O",  # salicylic acid
    "COC1=CC=C(C=C1)C(C)C(=O)O",  # an ibuprofen-like acid
    "CC(C)NCC(O)COC1=CC=CC2=CC=CC=C21",  # propranolol
    "C1=CC=C(C=C1)C=O",  # benzaldehyde
]


def morgan_bits(smiles: list[str], n_bits: int = 2048) -> np.ndarray:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=bool)
    for i, s in enumerate(smiles):
        fp = gen.GetFingerprint(Chem.MolFromSmiles(s))
        DataStructs.ConvertToNumpyArray(fp, arr := np.zeros(n_bits, dtype=np.uint8))
        out[i] = arr.astype(bool)
    return out


def main() -> None:
    bits = morgan_bits(SMILES)
    records = jitson.pack_bits(bits)  # (n, 256) uint8
    kernel = jitson.Engine().compile({"version": 1, "record_bits": 2048, "top_k": 3})
    query = jitson.pack_bits(morgan_bits(["CC(=O)OC1=CC=CC=C1C(=O)OC"]))  # aspirin methyl ester
    distances, ids = kernel.search(query, records)
    counts = bits.sum(axis=1)
    q_count = int(jitson.unpack_bits(query).sum())
    for d, i in zip(distances[0], ids[0]):
        common = (q_count + counts[i] - d) // 2  # |a & b| from |a ^ b|
        tanimoto = common / (q_count + counts[i] - common)
        print(f"distance {d:4d}  tanimoto {tanimoto:.3f}  {SMILES[i]}")
    assert ids[0, 0] == 0, ids  # aspirin is the nearest


if __name__ == "__main__":
    main()
