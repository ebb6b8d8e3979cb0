/* The shadow tables of a jitson0 table: creating them, and every write (inserts gathered per
 * chunk, deletes and updates in place). Layout and invariants: vtab.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vtab.h"

int jsq_error(jsq_table *t, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_free(t->base.zErrMsg);
  t->base.zErrMsg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  return rc;
}

/* The SQLite error of the last call, for the table's message. */
static int db_error(jsq_table *t, int rc, const char *doing) {
  return jsq_error(t, rc, "jitson0 %s: %s: %s", t->name, doing, sqlite3_errmsg(t->db));
}

static const char *const stmt_sql[JSQ_STMT_COUNT] = {
    [JSQ_STMT_TAIL] =
        "SELECT chunk_id, size FROM \"%w\".\"%w_chunks\" ORDER BY chunk_id DESC LIMIT 1",
    [JSQ_STMT_MAP_INSERT] =
        "INSERT INTO \"%w\".\"%w_rowids\"(rowid, chunk_id, slot) VALUES (?1, ?2, ?3)",
    [JSQ_STMT_MAP_FIND] = "SELECT chunk_id, slot FROM \"%w\".\"%w_rowids\" WHERE rowid = ?1",
    [JSQ_STMT_MAP_DELETE] = "DELETE FROM \"%w\".\"%w_rowids\" WHERE rowid = ?1",
    [JSQ_STMT_MAP_MOVE] = "UPDATE \"%w\".\"%w_rowids\" SET rowid = ?2 WHERE rowid = ?1",
    [JSQ_STMT_CHUNK_INSERT] =
        "INSERT INTO \"%w\".\"%w_chunks\"(chunk_id, size, live, validity, rowids) "
        "VALUES (?1, ?2, ?3, ?4, ?5)",
    [JSQ_STMT_VECTORS_INSERT] = "INSERT INTO \"%w\".\"%w_vectors\"(chunk_id, data) VALUES (?1, ?2)",
    [JSQ_STMT_BLOCKED_INSERT] = "INSERT INTO \"%w\".\"%w_blocked\"(chunk_id, data) VALUES (?1, ?2)",
    [JSQ_STMT_CHUNK_READ] =
        "SELECT size, live, validity, rowids FROM \"%w\".\"%w_chunks\" "
        "WHERE chunk_id = ?1",
    [JSQ_STMT_CHUNK_WRITE] =
        "UPDATE \"%w\".\"%w_chunks\" SET size = ?2, live = ?3, validity = ?4, "
        "rowids = ?5 WHERE chunk_id = ?1",
    [JSQ_STMT_CHUNK_DROP] = "DELETE FROM \"%w\".\"%w_chunks\" WHERE chunk_id = ?1",
    [JSQ_STMT_VECTORS_DROP] = "DELETE FROM \"%w\".\"%w_vectors\" WHERE chunk_id = ?1",
    [JSQ_STMT_BLOCKED_DROP] = "DELETE FROM \"%w\".\"%w_blocked\" WHERE chunk_id = ?1",
    [JSQ_STMT_LIVE] = "SELECT coalesce(sum(live), 0) FROM \"%w\".\"%w_chunks\"",
};

sqlite3_stmt *jsq_stmt(jsq_table *t, int which) {
  if (!t->stmt[which]) {
    char *sql = sqlite3_mprintf(stmt_sql[which], t->schema, t->name);
    if (!sql) return NULL;
    int rc = sqlite3_prepare_v3(t->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &t->stmt[which], NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
      db_error(t, rc, "preparing a shadow table statement");
      return NULL;
    }
  }
  return t->stmt[which];
}

/* Runs a statement that returns no row, then resets it. */
static int run(jsq_table *t, sqlite3_stmt *s, const char *doing) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return db_error(t, rc == SQLITE_ROW ? SQLITE_ERROR : rc, doing);
  return SQLITE_OK;
}

int jsq_store_create(jsq_table *t) {
  char *sql = sqlite3_mprintf(
      "CREATE TABLE \"%w\".\"%w_info\"(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
      "CREATE TABLE \"%w\".\"%w_chunks\"(chunk_id INTEGER PRIMARY KEY, size INTEGER NOT NULL,"
      " live INTEGER NOT NULL, validity BLOB NOT NULL, rowids BLOB NOT NULL);"
      "CREATE TABLE \"%w\".\"%w_vectors\"(chunk_id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
      "CREATE TABLE \"%w\".\"%w_blocked\"(chunk_id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
      "CREATE TABLE \"%w\".\"%w_rowids\"(rowid INTEGER PRIMARY KEY, chunk_id INTEGER NOT NULL,"
      " slot INTEGER NOT NULL);"
      "INSERT INTO \"%w\".\"%w_info\" VALUES ('format', 1), ('bits', %u), ('chunk_records', %u),"
      " ('block_records', %u);",
      t->schema, t->name, t->schema, t->name, t->schema, t->name, t->schema, t->name, t->schema,
      t->name, t->schema, t->name, t->bits, t->chunk_records, t->block_records);
  if (!sql) return SQLITE_NOMEM;
  char *msg = NULL;
  int rc = sqlite3_exec(t->db, sql, NULL, NULL, &msg);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) {
    jsq_error(t, rc, "jitson0 %s: creating the shadow tables: %s", t->name, msg ? msg : "");
    sqlite3_free(msg);
  }
  return rc;
}

int jsq_store_read_info(jsq_table *t) {
  char *sql = sqlite3_mprintf("SELECT key, value FROM \"%w\".\"%w_info\"", t->schema, t->name);
  if (!sql) return SQLITE_NOMEM;
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(t->db, sql, -1, &s, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) return db_error(t, rc, "reading the info shadow table");
  int64_t bits = -1, chunk = -1, block = -1;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(s, 0);
    if (!key) continue;
    if (strcmp(key, "bits") == 0) bits = sqlite3_column_int64(s, 1);
    if (strcmp(key, "chunk_records") == 0) chunk = sqlite3_column_int64(s, 1);
    if (strcmp(key, "block_records") == 0) block = sqlite3_column_int64(s, 1);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return db_error(t, rc, "reading the info shadow table");
  if (bits != t->bits || chunk != t->chunk_records || block != t->block_records) {
    return jsq_error(t, SQLITE_CORRUPT_VTAB,
                     "jitson0 %s: the info shadow table (bits=%lld, chunk_records=%lld, "
                     "block_records=%lld) disagrees with the table's declaration (bits=%u, "
                     "chunk_records=%u, block_records=%u)",
                     t->name, (long long)bits, (long long)chunk, (long long)block, t->bits,
                     t->chunk_records, t->block_records);
  }
  return SQLITE_OK;
}

int jsq_store_drop(jsq_table *t) {
  char *sql = sqlite3_mprintf(
      "DROP TABLE IF EXISTS \"%w\".\"%w_info\"; DROP TABLE IF EXISTS \"%w\".\"%w_chunks\";"
      "DROP TABLE IF EXISTS \"%w\".\"%w_vectors\"; DROP TABLE IF EXISTS \"%w\".\"%w_blocked\";"
      "DROP TABLE IF EXISTS \"%w\".\"%w_rowids\";",
      t->schema, t->name, t->schema, t->name, t->schema, t->name, t->schema, t->name, t->schema,
      t->name);
  if (!sql) return SQLITE_NOMEM;
  int rc = sqlite3_exec(t->db, sql, NULL, NULL, NULL);
  sqlite3_free(sql);
  return rc == SQLITE_OK ? rc : db_error(t, rc, "dropping the shadow tables");
}

void jsq_store_close(jsq_table *t) {
  for (int i = 0; i < JSQ_STMT_COUNT; ++i) sqlite3_finalize(t->stmt[i]);
  memset(t->stmt, 0, sizeof t->stmt);
  sqlite3_free(t->pend.vectors);
  sqlite3_free(t->pend.rowids);
  memset(&t->pend, 0, sizeof t->pend);
}

int jsq_check_chunk(jsq_table *t, int64_t chunk_id, int64_t size, int validity_bytes,
                    int rowids_bytes) {
  if (size < 0 || size > t->chunk_records || validity_bytes != (int)(t->chunk_records / 8) ||
      rowids_bytes != (int)(t->chunk_records * 8)) {
    return jsq_error(t, SQLITE_CORRUPT_VTAB,
                     "jitson0 %s: shadow chunk %lld is corrupt: size %lld, validity %d bytes, "
                     "rowids %d bytes (expected size <= %u, %u and %u bytes)",
                     t->name, (long long)chunk_id, (long long)size, validity_bytes, rowids_bytes,
                     t->chunk_records, t->chunk_records / 8, t->chunk_records * 8);
  }
  return SQLITE_OK;
}

int jsq_check_data(jsq_table *t, int64_t chunk_id, const char *what, int bytes, int expected) {
  if (bytes == expected) return SQLITE_OK;
  return jsq_error(t, SQLITE_CORRUPT_VTAB,
                   "jitson0 %s: shadow chunk %lld is corrupt: its %s blob has %d bytes, "
                   "expected %d",
                   t->name, (long long)chunk_id, what, bytes, expected);
}

/* ---- a chunk's metadata, read, changed and written back whole ---- */
typedef struct {
  int64_t id, size, live;
  uint8_t *validity;
  uint8_t *rowids;
} chunk_meta;

static int meta_read(jsq_table *t, int64_t chunk_id, chunk_meta *m) {
  sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_CHUNK_READ);
  if (!s) return SQLITE_ERROR;
  sqlite3_bind_int64(s, 1, chunk_id);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
      return jsq_error(t, SQLITE_CORRUPT_VTAB,
                       "jitson0 %s: shadow chunk %lld is missing (the rowids table points to it)",
                       t->name, (long long)chunk_id);
    return db_error(t, rc, "reading a chunk");
  }
  m->id = chunk_id;
  m->size = sqlite3_column_int64(s, 0);
  m->live = sqlite3_column_int64(s, 1);
  const int vb = sqlite3_column_bytes(s, 2), rb = sqlite3_column_bytes(s, 3);
  if ((rc = jsq_check_chunk(t, chunk_id, m->size, vb, rb)) != SQLITE_OK) {
    sqlite3_reset(s);
    return rc;
  }
  m->validity = sqlite3_malloc(vb);
  m->rowids = sqlite3_malloc(rb);
  if (!m->validity || !m->rowids) {
    sqlite3_reset(s);
    sqlite3_free(m->validity);
    sqlite3_free(m->rowids);
    return SQLITE_NOMEM;
  }
  memcpy(m->validity, sqlite3_column_blob(s, 2), (size_t)vb);
  memcpy(m->rowids, sqlite3_column_blob(s, 3), (size_t)rb);
  sqlite3_reset(s);
  return SQLITE_OK;
}

static void meta_free(chunk_meta *m) {
  sqlite3_free(m->validity);
  sqlite3_free(m->rowids);
  m->validity = NULL;
  m->rowids = NULL;
}

static int meta_write(jsq_table *t, chunk_meta *m, int insert) {
  sqlite3_stmt *s = jsq_stmt(t, insert ? JSQ_STMT_CHUNK_INSERT : JSQ_STMT_CHUNK_WRITE);
  if (!s) return SQLITE_ERROR;
  sqlite3_bind_int64(s, 1, m->id);
  sqlite3_bind_int64(s, 2, m->size);
  sqlite3_bind_int64(s, 3, m->live);
  sqlite3_bind_blob(s, 4, m->validity, (int)(t->chunk_records / 8), SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, m->rowids, (int)(t->chunk_records * 8), SQLITE_STATIC);
  int rc = run(t, s, "writing a chunk");
  sqlite3_clear_bindings(s);
  return rc;
}

static int drop_chunk(jsq_table *t, int64_t chunk_id) {
  const int which[] = {JSQ_STMT_CHUNK_DROP, JSQ_STMT_VECTORS_DROP, JSQ_STMT_BLOCKED_DROP};
  for (int i = 0; i < 3; ++i) {
    sqlite3_stmt *s = jsq_stmt(t, which[i]);
    if (!s) return SQLITE_ERROR;
    sqlite3_bind_int64(s, 1, chunk_id);
    int rc = run(t, s, "dropping an empty chunk");
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

static int open_blob(jsq_table *t, const char *table, int64_t chunk_id, int write,
                     sqlite3_blob **b) {
  char *name = sqlite3_mprintf("%s_%s", t->name, table);
  if (!name) return SQLITE_NOMEM;
  int rc = sqlite3_blob_open(t->db, t->schema, name, "data", chunk_id, write, b);
  sqlite3_free(name);
  if (rc != SQLITE_OK) {
    return jsq_error(t, rc == SQLITE_ERROR ? SQLITE_CORRUPT_VTAB : rc,
                     "jitson0 %s: shadow chunk %lld: cannot open its %s blob: %s", t->name,
                     (long long)chunk_id, table, sqlite3_errmsg(t->db));
  }
  return SQLITE_OK;
}

/* Rewrites blocks [first, last] of a chunk's blocked copy from its row-major records. */
static int refresh_blocked(jsq_table *t, int64_t chunk_id, uint32_t first, uint32_t last) {
  const uint32_t b = t->block_records;
  const size_t span = (size_t)(last - first + 1) * b * t->bytes;
  uint8_t *rows = sqlite3_malloc64(span), *blocks = sqlite3_malloc64(span);
  sqlite3_blob *vb = NULL, *bb = NULL;
  int rc = (!rows || !blocks) ? SQLITE_NOMEM : SQLITE_OK;
  if (rc == SQLITE_OK) rc = open_blob(t, "vectors", chunk_id, 0, &vb);
  if (rc == SQLITE_OK) rc = open_blob(t, "blocked", chunk_id, 1, &bb);
  const int expected = (int)(t->chunk_records * t->bytes);
  if (rc == SQLITE_OK)
    rc = jsq_check_data(t, chunk_id, "vectors", sqlite3_blob_bytes(vb), expected);
  if (rc == SQLITE_OK)
    rc = jsq_check_data(t, chunk_id, "blocked", sqlite3_blob_bytes(bb), expected);
  const int offset = (int)((size_t)first * b * t->bytes);
  if (rc == SQLITE_OK) rc = sqlite3_blob_read(vb, rows, (int)span, offset);
  if (rc == SQLITE_OK) {
    jsq_rows_to_blocked(rows, 0, (last - first + 1) * b, t->bytes, b, blocks);
    rc = sqlite3_blob_write(bb, blocks, (int)span, offset);
  }
  sqlite3_blob_close(vb);
  sqlite3_blob_close(bb);
  sqlite3_free(rows);
  sqlite3_free(blocks);
  return rc;
}

/* ---- inserts ---- */
static int start_pending(jsq_table *t) {
  jsq_pending *p = &t->pend;
  if (!p->vectors) {
    p->vectors = sqlite3_malloc64((uint64_t)t->chunk_records * t->bytes);
    p->rowids = sqlite3_malloc64((uint64_t)t->chunk_records * 8);
    if (!p->vectors || !p->rowids) return SQLITE_NOMEM;
  }
  sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_TAIL);
  if (!s) return SQLITE_ERROR;
  int rc = sqlite3_step(s);
  int64_t tail = 0, size = 0;
  if (rc == SQLITE_ROW) {
    tail = sqlite3_column_int64(s, 0);
    size = sqlite3_column_int64(s, 1);
  }
  sqlite3_reset(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(t, rc, "finding the last chunk");
  if (size < 0 || size > t->chunk_records)
    return jsq_check_chunk(t, tail, size, (int)t->chunk_records / 8, (int)t->chunk_records * 8);
  p->active = 1;
  p->n = 0;
  if (rc == SQLITE_ROW && size < t->chunk_records) {
    p->is_new = 0;
    p->chunk_id = tail;
    p->base = (uint32_t)size;
  } else {
    p->is_new = 1;
    p->chunk_id = tail + 1;
    p->base = 0;
    memset(p->vectors, 0, (size_t)t->chunk_records * t->bytes);
    memset(p->rowids, 0, (size_t)t->chunk_records * 8);
  }
  return SQLITE_OK;
}

void jsq_store_discard(jsq_table *t) {
  t->pend.active = 0;
}

static int flush_new(jsq_table *t) {
  jsq_pending *p = &t->pend;
  chunk_meta m = {p->chunk_id, p->n, p->n, sqlite3_malloc(t->chunk_records / 8), NULL};
  if (!m.validity) return SQLITE_NOMEM;
  memset(m.validity, 0, t->chunk_records / 8);
  for (uint32_t i = 0; i < p->n; ++i) m.validity[i / 8] |= (uint8_t)(1u << (i % 8));
  m.rowids = (uint8_t *)p->rowids;
  int rc = meta_write(t, &m, 1);
  sqlite3_free(m.validity);
  if (rc != SQLITE_OK) return rc;
  const int bytes = (int)(t->chunk_records * t->bytes);
  sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_VECTORS_INSERT);
  if (!s) return SQLITE_ERROR;
  sqlite3_bind_int64(s, 1, p->chunk_id);
  sqlite3_bind_blob(s, 2, p->vectors, bytes, SQLITE_STATIC);
  rc = run(t, s, "writing a chunk's records");
  sqlite3_clear_bindings(s);
  if (rc != SQLITE_OK || !t->block_records) return rc;
  uint8_t *blocks = sqlite3_malloc(bytes);
  if (!blocks) return SQLITE_NOMEM;
  memset(blocks, 0, (size_t)bytes);
  jsq_rows_to_blocked(p->vectors, 0, p->n, t->bytes, t->block_records, blocks);
  s = jsq_stmt(t, JSQ_STMT_BLOCKED_INSERT);
  if (s) {
    sqlite3_bind_int64(s, 1, p->chunk_id);
    sqlite3_bind_blob(s, 2, blocks, bytes, SQLITE_STATIC);
    rc = run(t, s, "writing a chunk's blocked records");
    sqlite3_clear_bindings(s);
  } else {
    rc = SQLITE_ERROR;
  }
  sqlite3_free(blocks);
  return rc;
}

static int flush_tail(jsq_table *t) {
  jsq_pending *p = &t->pend;
  chunk_meta m;
  int rc = meta_read(t, p->chunk_id, &m);
  if (rc != SQLITE_OK) return rc;
  if (m.size != p->base) {
    meta_free(&m);
    return jsq_error(t, SQLITE_CORRUPT_VTAB,
                     "jitson0 %s: shadow chunk %lld changed size under a pending insert", t->name,
                     (long long)p->chunk_id);
  }
  for (uint32_t i = p->base; i < p->base + p->n; ++i) m.validity[i / 8] |= (uint8_t)(1u << (i % 8));
  memcpy(m.rowids + (size_t)p->base * 8, p->rowids + p->base, (size_t)p->n * 8);
  m.size += p->n;
  m.live += p->n;
  rc = meta_write(t, &m, 0);
  meta_free(&m);
  if (rc != SQLITE_OK) return rc;
  sqlite3_blob *b = NULL;
  rc = open_blob(t, "vectors", p->chunk_id, 1, &b);
  if (rc == SQLITE_OK)
    rc = jsq_check_data(t, p->chunk_id, "vectors", sqlite3_blob_bytes(b),
                        (int)(t->chunk_records * t->bytes));
  if (rc == SQLITE_OK)
    rc = sqlite3_blob_write(b, p->vectors + (size_t)p->base * t->bytes, (int)(p->n * t->bytes),
                            (int)(p->base * t->bytes));
  sqlite3_blob_close(b);
  if (rc != SQLITE_OK || !t->block_records) return rc;
  return refresh_blocked(t, p->chunk_id, p->base / t->block_records,
                         (p->base + p->n - 1) / t->block_records);
}

int jsq_store_flush(jsq_table *t) {
  jsq_pending *p = &t->pend;
  if (!p->active) return SQLITE_OK;
  p->active = 0;
  if (p->n == 0) return SQLITE_OK;
  return p->is_new ? flush_new(t) : flush_tail(t);
}

int jsq_store_locate(jsq_table *t, int64_t rowid, int64_t *chunk_id, uint32_t *slot, int *found) {
  sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_MAP_FIND);
  if (!s) return SQLITE_ERROR;
  sqlite3_bind_int64(s, 1, rowid);
  int rc = sqlite3_step(s);
  *found = rc == SQLITE_ROW;
  if (*found) {
    *chunk_id = sqlite3_column_int64(s, 0);
    const int64_t v = sqlite3_column_int64(s, 1);
    if (v < 0 || v >= t->chunk_records) {
      sqlite3_reset(s);
      return jsq_error(t, SQLITE_CORRUPT_VTAB,
                       "jitson0 %s: the rowids shadow table puts row %lld at slot %lld of chunk "
                       "%lld, outside the chunk",
                       t->name, (long long)rowid, (long long)v, (long long)*chunk_id);
    }
    *slot = (uint32_t)v;
  }
  sqlite3_reset(s);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : db_error(t, rc, "finding a row");
}

int jsq_store_insert(jsq_table *t, int64_t *rowid_io, int has_rowid, const uint8_t *record,
                     int replace) {
  int64_t chunk, rowid = *rowid_io;
  uint32_t slot;
  int found = 0, rc = SQLITE_OK;
  /* Only REPLACE looks the id up first; otherwise the rowids table's primary key refuses a
   * taken id, which spares a B-tree search per row of a bulk load. */
  if (has_rowid && replace && (rc = jsq_store_locate(t, rowid, &chunk, &slot, &found)) != SQLITE_OK)
    return rc;
  if (found && (rc = jsq_store_delete(t, rowid)) != SQLITE_OK) return rc;
  jsq_pending *p = &t->pend;
  if (!p->active && (rc = start_pending(t)) != SQLITE_OK) return rc;
  slot = p->base + p->n;
  sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_MAP_INSERT);
  if (!s) return SQLITE_ERROR;
  if (has_rowid)
    sqlite3_bind_int64(s, 1, rowid);
  else
    sqlite3_bind_null(s, 1); /* the rowids table picks max(rowid) + 1 */
  sqlite3_bind_int64(s, 2, p->chunk_id);
  sqlite3_bind_int64(s, 3, slot);
  rc = sqlite3_step(s);
  sqlite3_reset(s);
  if ((rc & 0xff) == SQLITE_CONSTRAINT && has_rowid)
    return jsq_error(t, SQLITE_CONSTRAINT, "UNIQUE constraint failed: %s.rowid", t->name);
  if (rc != SQLITE_DONE)
    return db_error(t, rc == SQLITE_ROW ? SQLITE_ERROR : rc, "recording a row");
  if (!has_rowid) *rowid_io = rowid = sqlite3_last_insert_rowid(t->db);
  memcpy(p->vectors + (size_t)slot * t->bytes, record, t->bytes);
  p->rowids[slot] = rowid;
  if (slot + 1 == t->chunk_records) {
    p->n++;
    return jsq_store_flush(t);
  }
  p->n++;
  return SQLITE_OK;
}

int jsq_store_delete(jsq_table *t, int64_t rowid) {
  int rc = jsq_store_flush(t);
  int64_t chunk;
  uint32_t slot;
  int found;
  if (rc == SQLITE_OK) rc = jsq_store_locate(t, rowid, &chunk, &slot, &found);
  if (rc != SQLITE_OK || !found) return rc;
  chunk_meta m;
  if ((rc = meta_read(t, chunk, &m)) != SQLITE_OK) return rc;
  if (m.validity[slot / 8] & (1u << (slot % 8))) {
    m.validity[slot / 8] &= (uint8_t) ~(1u << (slot % 8));
    m.live--;
  }
  if (m.live <= 0 && m.size == t->chunk_records)
    rc = drop_chunk(t, chunk);
  else
    rc = meta_write(t, &m, 0);
  meta_free(&m);
  if (rc != SQLITE_OK) return rc;
  sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_MAP_DELETE);
  if (!s) return SQLITE_ERROR;
  sqlite3_bind_int64(s, 1, rowid);
  return run(t, s, "forgetting a row");
}

int jsq_store_update(jsq_table *t, int64_t old_rowid, int64_t new_rowid, const uint8_t *record,
                     int replace) {
  int rc = jsq_store_flush(t);
  int64_t chunk;
  uint32_t slot;
  int found;
  if (rc == SQLITE_OK) rc = jsq_store_locate(t, old_rowid, &chunk, &slot, &found);
  if (rc != SQLITE_OK) return rc;
  if (!found)
    return jsq_error(t, SQLITE_CORRUPT_VTAB, "jitson0 %s: row %lld is not in the rowids table",
                     t->name, (long long)old_rowid);
  if (new_rowid != old_rowid) {
    int64_t c2;
    uint32_t s2;
    int taken;
    if ((rc = jsq_store_locate(t, new_rowid, &c2, &s2, &taken)) != SQLITE_OK) return rc;
    if (taken) {
      if (!replace)
        return jsq_error(t, SQLITE_CONSTRAINT, "UNIQUE constraint failed: %s.rowid", t->name);
      if ((rc = jsq_store_delete(t, new_rowid)) != SQLITE_OK) return rc;
    }
    sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_MAP_MOVE);
    if (!s) return SQLITE_ERROR;
    sqlite3_bind_int64(s, 1, old_rowid);
    sqlite3_bind_int64(s, 2, new_rowid);
    if ((rc = run(t, s, "renumbering a row")) != SQLITE_OK) return rc;
    chunk_meta m;
    if ((rc = meta_read(t, chunk, &m)) != SQLITE_OK) return rc;
    memcpy(m.rowids + (size_t)slot * 8, &new_rowid, 8);
    rc = meta_write(t, &m, 0);
    meta_free(&m);
    if (rc != SQLITE_OK) return rc;
  }
  if (!record) return SQLITE_OK;
  sqlite3_blob *b = NULL;
  rc = open_blob(t, "vectors", chunk, 1, &b);
  if (rc == SQLITE_OK)
    rc = jsq_check_data(t, chunk, "vectors", sqlite3_blob_bytes(b),
                        (int)(t->chunk_records * t->bytes));
  if (rc == SQLITE_OK) rc = sqlite3_blob_write(b, record, (int)t->bytes, (int)(slot * t->bytes));
  sqlite3_blob_close(b);
  if (rc != SQLITE_OK || !t->block_records) return rc;
  return refresh_blocked(t, chunk, slot / t->block_records, slot / t->block_records);
}

int64_t jsq_store_live(jsq_table *t) {
  sqlite3_stmt *s = jsq_stmt(t, JSQ_STMT_LIVE);
  if (!s) return -1;
  int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_reset(s);
  return n;
}
