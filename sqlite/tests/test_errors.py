"""Bad input never crashes: wrong lengths, malformed configs, corrupted shadow chunks."""
import sqlite3

import pytest

from conftest import rand_records


@pytest.fixture
def fps(con):
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=128, chunk_records=8)")
    recs = rand_records(20, 16, seed=1)
    con.executemany("INSERT INTO fps(rowid, fp) VALUES (?, ?)", [(i + 1, r.tobytes()) for i, r in enumerate(recs)])
    return con


def test_wrong_length_insert_is_refused(fps):
    for bad in (bytes(15), bytes(17), b""):
        with pytest.raises(sqlite3.IntegrityError, match=f"fp is a BLOB of {len(bad)} bytes; the table "
                           "holds records of 128 bits \\(16 bytes\\); row not inserted"):
            fps.execute("INSERT INTO fps(rowid, fp) VALUES (100, ?)", (bad,))
    with pytest.raises(sqlite3.IntegrityError, match="fp is not a BLOB"):
        fps.execute("INSERT INTO fps(rowid, fp) VALUES (100, 'sixteen chars...')")
    with pytest.raises(sqlite3.IntegrityError, match="fp may not be NULL"):
        fps.execute("INSERT INTO fps(rowid, fp) VALUES (100, NULL)")
    with pytest.raises(sqlite3.IntegrityError, match="row not updated"):
        fps.execute("UPDATE fps SET fp = x'00' WHERE rowid = 3")
    assert fps.execute("SELECT count(*) FROM fps WHERE rowid = 100").fetchone() == (0,)
    assert fps.execute("SELECT count(*) FROM fps").fetchone() == (20,)


@pytest.mark.parametrize("config,pointer", [
    ('{"focus": {"ranges": [[0, 999]]}}', "/focus/ranges/0: end 999 exceeds record_bits 128"),
    ('{"cascade": {"mode": "fast"}}', "/cascade/mode"),
    ('{"max_distance": 1e3}', "/max_distance"),
    ('{"record_bits": 64}', "/record_bits: 64 does not match the table's records (128 bits)"),
    ('{"version": 2}', "/version"),
    ('{"focus": }', "jitson config"),
])
def test_malformed_config_names_the_pointer(fps, config, pointer):
    with pytest.raises(sqlite3.OperationalError) as e:
        fps.execute("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 3 AND config = ?",
                    (bytes(16), config)).fetchall()
    assert pointer in str(e.value)


@pytest.mark.parametrize("query,message", [
    (bytes(15), "the query is a BLOB of 15 bytes; the table holds records of 128 bits (16 bytes)"),
    ("text", "the query is not a BLOB"),
])
def test_query_of_the_wrong_length(fps, query, message):
    with pytest.raises(sqlite3.OperationalError) as e:
        fps.execute("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 3", (query,)).fetchall()
    assert message in str(e.value)
    assert fps.execute("SELECT count(*) FROM fps WHERE fp MATCH NULL AND k = 3").fetchone() == (0,)


@pytest.mark.parametrize("sql,message", [
    ("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 0", "k = 0: k is an integer from 1 to 1000000"),
    ("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 'x'", "k = x"),
    ("SELECT rowid FROM fps WHERE fp MATCH ?", "fp MATCH needs k = N"),
    ("SELECT rowid FROM fps WHERE fp MATCH ? AND distance <= 'far'", "distance <= needs a number"),
])
def test_bad_search_arguments(fps, sql, message):
    with pytest.raises(sqlite3.OperationalError) as e:
        fps.execute(sql, (bytes(16),)).fetchall()
    assert message in str(e.value)
    with pytest.raises(sqlite3.OperationalError, match="k and config need fp MATCH"):
        fps.execute("SELECT rowid FROM fps WHERE k = 3").fetchall()


@pytest.mark.parametrize("damage,message", [
    ("UPDATE fps_vectors SET data = x'00' WHERE chunk_id = 2", "shadow chunk 2 is corrupt: its vectors blob has 1 bytes, expected 128"),
    ("UPDATE fps_chunks SET validity = zeroblob(5) WHERE chunk_id = 1", "shadow chunk 1 is corrupt"),
    ("UPDATE fps_chunks SET rowids = zeroblob(3) WHERE chunk_id = 3", "shadow chunk 3 is corrupt"),
    ("UPDATE fps_chunks SET size = 99 WHERE chunk_id = 2", "shadow chunk 2 is corrupt: size 99"),
    ("DELETE FROM fps_vectors WHERE chunk_id = 1", "shadow chunk 1: cannot read its vectors blob"),
])
def test_corrupted_chunk_is_an_error_naming_it(fps, damage, message):
    fps.execute(damage)
    with pytest.raises(sqlite3.DatabaseError) as e:
        fps.execute("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 3", (bytes(16),)).fetchall()
    assert message in str(e.value)
    # other statements fail the same way or work; none crashes
    for sql in ("SELECT count(*) FROM fps", "SELECT fp FROM fps", "DELETE FROM fps WHERE rowid = 9",
                "INSERT INTO fps(fp) VALUES (zeroblob(16))", "UPDATE fps SET fp = zeroblob(16) WHERE rowid = 2"):
        try:
            fps.execute(sql).fetchall()
        except sqlite3.DatabaseError as err:
            assert "jitson0 fps" in str(err) or "corrupt" in str(err).lower()


def test_corrupted_info_is_refused_on_connect(ext, tmp_path):
    from conftest import open_db
    path = str(tmp_path / "c.db")
    con = open_db(ext, path)
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=128)")
    con.execute("UPDATE fps_info SET value = 256 WHERE key = 'bits'")
    con.close()
    con = open_db(ext, path)
    with pytest.raises(sqlite3.DatabaseError, match="disagrees with the table's declaration"):
        con.execute("SELECT count(*) FROM fps").fetchall()
    con.close()
