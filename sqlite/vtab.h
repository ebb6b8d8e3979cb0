/* The jitson0 virtual table: records in shadow tables as contiguous chunks.
 *
 *   <name>_info(key PRIMARY KEY, value)         bits, chunk_records, block_records, format
 *   <name>_chunks(chunk_id INTEGER PRIMARY KEY, size, live, validity BLOB, rowids BLOB)
 *   <name>_vectors(chunk_id INTEGER PRIMARY KEY, data BLOB)   chunk_records row-major records
 *   <name>_blocked(chunk_id INTEGER PRIMARY KEY, data BLOB)   the same in the blocked layout
 *                                                             (only with block_records)
 *   <name>_rowids(rowid INTEGER PRIMARY KEY, chunk_id, slot)  where each row lives
 *
 * A chunk's slots [0, size) have been handed out, in insertion order; validity has one bit per
 * slot (1 = the row is there), rowids one little-endian int64 per slot. Every byte lives in
 * SQLite's own tables, so transactions, ROLLBACK and crash safety are SQLite's. Record blobs are
 * read with incremental blob I/O, one chunk per kernel call. */
#ifndef JITSON_SQLITE_VTAB_H
#define JITSON_SQLITE_VTAB_H

#include "jitson_sqlite.h"

enum {
  JSQ_COL_FP,
  JSQ_COL_DISTANCE, /* Hamming: INTEGER distance; Tanimoto: REAL 1 - similarity */
  JSQ_COL_K,
  JSQ_COL_CONFIG,
  JSQ_COL_SIMILARITY, /* Tanimoto: REAL similarity; Hamming: NULL */
  JSQ_COL_ID          /* only with primary_key=NAME: the rowid under the user's name */
};

enum {
  JSQ_STMT_TAIL,
  JSQ_STMT_MAP_INSERT,
  JSQ_STMT_MAP_FIND,
  JSQ_STMT_MAP_DELETE,
  JSQ_STMT_MAP_MOVE,
  JSQ_STMT_CHUNK_INSERT,
  JSQ_STMT_VECTORS_INSERT,
  JSQ_STMT_BLOCKED_INSERT,
  JSQ_STMT_CHUNK_READ,
  JSQ_STMT_CHUNK_WRITE,
  JSQ_STMT_CHUNK_DROP,
  JSQ_STMT_VECTORS_DROP,
  JSQ_STMT_BLOCKED_DROP,
  JSQ_STMT_LIVE,
  JSQ_STMT_COUNT
};

/* Inserts are gathered in memory, one tail chunk at a time, and written when the chunk is full
 * or before anything reads or changes the table (a search, a DELETE, an UPDATE, a savepoint,
 * the commit's xSync); ROLLBACK drops them. A full chunk is thus written once, whole. */
typedef struct {
  int active;
  int is_new; /* the chunk's rows are not in the shadow tables yet */
  int64_t chunk_id;
  uint32_t base; /* slots [0, base) are stored */
  uint32_t n;    /* slots [base, base + n) are here */
  uint8_t *vectors;
  int64_t *rowids;
} jsq_pending;

typedef struct {
  sqlite3_vtab base;
  sqlite3 *db;
  char *schema;
  char *name;
  uint32_t bits, bytes, chunk_records, block_records;
  char *id_name; /* primary_key=NAME, or NULL */
  sqlite3_stmt *stmt[JSQ_STMT_COUNT];
  jsq_pending pend;
} jsq_table;

/* store.c */
int jsq_store_create(jsq_table *t);    /* the shadow tables and info rows of a new table */
int jsq_store_read_info(jsq_table *t); /* bits etc. of an existing table */
int jsq_store_drop(jsq_table *t);
void jsq_store_close(jsq_table *t); /* finalizes statements, frees the buffers */
sqlite3_stmt *jsq_stmt(jsq_table *t, int which);
int jsq_store_flush(jsq_table *t);
void jsq_store_discard(jsq_table *t);
/* REPLACE: an existing row with this id is deleted first; otherwise SQLITE_CONSTRAINT. */
/* Without has_rowid the new row gets max(rowid) + 1, returned in *rowid. */
int jsq_store_insert(jsq_table *t, int64_t *rowid, int has_rowid, const uint8_t *record,
                     int replace);
int jsq_store_delete(jsq_table *t, int64_t rowid);
int jsq_store_update(jsq_table *t, int64_t old_rowid, int64_t new_rowid, const uint8_t *record,
                     int replace);
/* SQLITE_OK with *found = 0 when the row does not exist. */
int jsq_store_locate(jsq_table *t, int64_t rowid, int64_t *chunk_id, uint32_t *slot, int *found);
int64_t jsq_store_live(jsq_table *t); /* rows in the table (after a flush), -1 on error */
/* Checks the fixed sizes of a chunk's blobs; an error naming the chunk otherwise. */
int jsq_check_chunk(jsq_table *t, int64_t chunk_id, int64_t size, int validity_bytes,
                    int rowids_bytes);
int jsq_check_data(jsq_table *t, int64_t chunk_id, const char *what, int bytes, int expected);

/* search.c */
typedef struct {
  int64_t rowid;
  jsq_score score;  /* jsq_no_score(): not a search */
  int64_t chunk_id; /* -1: not known yet (looked up when fp is read) */
  uint32_t slot;
} jsq_row;

/* The hits of one query, best first by (distance, rowid): for a Tanimoto kernel (similarity
 * descending, rowid), the order of its ranks. filter (n_filter ids, or NULL for the
 * whole table) restricts the candidates exactly. *out is sqlite3_malloc'd. */
int jsq_search(jsq_table *t, const jitson_kernel *k, const uint8_t *query, const int64_t *filter,
               int64_t n_filter, uint64_t top_k, jsq_row **out, int64_t *n_out);
/* Every row of the table in storage order. */
int jsq_scan_all(jsq_table *t, jsq_row **out, int64_t *n_out);

/* Formats an error into the table's zErrMsg and returns rc. */
int jsq_error(jsq_table *t, int rc, const char *fmt, ...);

#endif /* JITSON_SQLITE_VTAB_H */
