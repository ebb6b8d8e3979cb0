"""The extension through the real sqlite3 shell: .load, copy-paste SQL of the README, a database
file written by one process and searched by another."""
import subprocess
from fractions import Fraction

from conftest import brute_tanimoto, brute_topk, open_db, rand_records


def shell(cli, ext, db, sql):
    script = f".load {ext[:-3] if ext.endswith('.so') else ext}\n.bail on\n{sql}\n"
    p = subprocess.run([cli, "-batch", db], input=script, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_shell_readme_session(sqlite3_cli, ext, tmp_path):
    db = str(tmp_path / "cli.db")
    sql = """
CREATE VIRTUAL TABLE fps USING jitson0(bits=16384);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO fps(rowid, fp) SELECT i, randomblob(2048) FROM n;
INSERT INTO fps(rowid, fp) SELECT 5000, fp FROM fps WHERE rowid = 42;
SELECT rowid, distance FROM fps WHERE fp MATCH (SELECT fp FROM fps WHERE rowid = 42) AND k = 3;
SELECT count(*) FROM fps WHERE fp MATCH (SELECT fp FROM fps WHERE rowid = 42) AND distance <= 100;
SELECT jitson_distance(a.fp, b.fp) = 0 FROM fps a, fps b WHERE a.rowid = 42 AND b.rowid = 5000;
"""
    rc, out, err = shell(sqlite3_cli, ext, db, sql)
    assert rc == 0, err
    lines = out.split()
    assert lines[:2] == ["42|0", "5000|0"]
    assert lines[3:] == ["2", "1"]
    # another process (Python) opens the file the shell wrote
    con = open_db(ext, db)
    assert con.execute("SELECT count(*) FROM fps").fetchone() == (3001,)
    con.close()


def test_shell_against_numpy(sqlite3_cli, ext, tmp_path):
    db = str(tmp_path / "np.db")
    recs = rand_records(400, 2048, seed=12)
    con = open_db(ext, db)
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=16384, chunk_records=128)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO fps(rowid, fp) VALUES (?, ?)", [(i + 1, r.tobytes()) for i, r in enumerate(recs)])
    con.execute("COMMIT")
    con.close()
    q = recs[9]
    rc, out, err = shell(sqlite3_cli, ext, db,
                         f"SELECT rowid, distance FROM fps WHERE fp MATCH x'{q.tobytes().hex()}' AND k = 8;")
    assert rc == 0, err
    got = [tuple(map(int, line.split("|"))) for line in out.split()]
    assert got == brute_topk(list(range(1, 401)), recs, q, 8)


def test_shell_reports_errors(sqlite3_cli, ext, tmp_path):
    rc, out, err = shell(sqlite3_cli, ext, str(tmp_path / "e.db"),
                         "CREATE VIRTUAL TABLE fps USING jitson0(bits=128);\n"
                         "INSERT INTO fps(fp) VALUES (x'00');")
    assert rc != 0
    assert "fp is a BLOB of 1 bytes; the table holds records of 128 bits (16 bytes); row not inserted" in err


def test_shell_tanimoto(sqlite3_cli, ext, tmp_path):
    """A Tanimoto search and jitson_tanimoto in the shell, against exact fractions: the shell prints
    REALs with 15 significant digits, so similarities are compared at that precision."""
    db = str(tmp_path / "tani.db")
    recs = rand_records(500, 256, seed=21, density=0.04)
    recs[77] = recs[9]
    con = open_db(ext, db)
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=2048, chunk_records=64)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO fps(rowid, fp) VALUES (?, ?)", [(i + 1, r.tobytes()) for i, r in enumerate(recs)])
    con.execute("COMMIT")
    con.close()
    q = recs[9]
    rc, out, err = shell(sqlite3_cli, ext, db,
                         f"SELECT rowid, similarity FROM fps WHERE fp MATCH x'{q.tobytes().hex()}' AND k = 8 "
                         """AND config = '{"metric": "tanimoto"}';\n"""
                         f"SELECT jitson_tanimoto(fp, x'{q.tobytes().hex()}') FROM fps WHERE rowid = 78;\n"
                         f"SELECT count(*) FROM fps WHERE fp MATCH x'{q.tobytes().hex()}' "
                         """AND config = '{"metric": "tanimoto", "min_similarity": 0.1}';""")
    assert rc == 0, err
    lines = out.split()
    want = brute_tanimoto(list(range(1, 501)), recs, q, None)
    got = [line.split("|") for line in lines[:8]]
    assert [int(i) for i, _ in got] == [i for i, _ in want[:8]]
    assert [float(s) for _, s in got] == [float(f"{float(t):.15g}") for _, t in want[:8]]
    assert got[:2] == [["10", "1.0"], ["78", "1.0"]]
    assert lines[8] == "1.0"
    assert int(lines[9]) == sum(1 for _, t in want if t >= Fraction(1, 10))
