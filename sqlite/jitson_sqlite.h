/* Shared declarations of the jitson SQLite extension (libjitson_sqlite.so). Every file includes
 * this instead of sqlite3ext.h directly: a loadable extension reaches SQLite only through the
 * sqlite3_api pointer that sqlite3_jitsonsqlite_init receives. Only the public C API of libjitson
 * (jitson/jitson.h) is used. */
#ifndef JITSON_SQLITE_H
#define JITSON_SQLITE_H

#include <sqlite3ext.h>
#include <stddef.h>
#include <stdint.h>

#include <jitson/jitson.h>

SQLITE_EXTENSION_INIT3

/* The largest record the kernels take (65,536 bits). */
#define JSQ_MAX_RECORD_BYTES 8192u
/* The config's top_k ceiling (README "Scan config"). */
#define JSQ_MAX_TOP_K 1000000

/* ---- engine.c: one engine per process, on the caller's thread ---- */
/* NULL with a message in err when the engine cannot be created. */
jitson_engine *jsq_engine(char *err, size_t err_len);
/* Compiles a complete config; NULL with "jitson config: <pointer>: <rule>" in err. */
jitson_kernel *jsq_compile(const char *text, char *err, size_t err_len);
/* True when the planner's crossover rule prefers the sweep over blocked records for this
 * kernel (the C API exposes the choice only through jitson_kernel_describe). */
int jsq_prefers_sweep(const jitson_kernel *k);

/* ---- config.c: completing the user's config text ---- */
typedef struct {
  int64_t record_bits; /* what the user's config states, -1 when absent (or not an integer) */
  int64_t top_k;
  int64_t max_distance;
} jsq_config_fields;

typedef struct {
  uint32_t record_bits;  /* added when the config leaves it out */
  int64_t top_k;         /* >= 0: replaces the config's top_k */
  int64_t max_distance;  /* >= 0: replaces the config's max_distance */
  int drop_max_distance; /* removes max_distance (distances, not searches) */
} jsq_config_edit;

/* Reads the top-level integer fields of a config (all -1 for text that is not an object). */
jsq_config_fields jsq_config_read(const char *text, size_t len);
/* The user's config (NULL: "{}") with "version": 1 and record_bits added when missing and the
 * edits applied. Text that is not a well-formed JSON object is returned unchanged, so that
 * jitson_compile names what is wrong with its JSON Pointer. sqlite3_malloc'd; NULL on OOM. */
char *jsq_config_text(const char *text, size_t len, const jsq_config_edit *edit);
/* Checks a stated record_bits against the width the data has; 0, or -1 with a message. */
int jsq_config_check_bits(const jsq_config_fields *f, uint32_t bits, const char *what, char *err,
                          size_t err_len);

/* ---- bits.c: row ids and layouts ---- */
/* SQLite row ids are signed; the accumulator orders hits by unsigned row id. Flipping the sign
 * bit maps one order onto the other, so ties still break by rowid ascending. */
static inline uint64_t jsq_id_to_key(int64_t rowid) {
  return (uint64_t)rowid ^ UINT64_C(0x8000000000000000);
}
static inline int64_t jsq_key_to_id(uint64_t key) {
  return (int64_t)(key ^ UINT64_C(0x8000000000000000));
}
/* Record i of rows (row-major, n records of bytes each) into blocks of b records (docs/FORMAT.md:
 * word w of record i at (i / b) * b * bytes + (w * b + i % b) * 8); the blocks covering
 * [first, first + n) of a chunk whose blocked copy is out are rewritten from rows. */
void jsq_rows_to_blocked(const uint8_t *rows, uint32_t first, uint32_t n, uint32_t bytes,
                         uint32_t b, uint8_t *out);

/* ---- registration ---- */
int jsq_register_distance(sqlite3 *db);
int jsq_register_vtab(sqlite3 *db);
int jsq_register_topk(sqlite3 *db);

#endif /* JITSON_SQLITE_H */
