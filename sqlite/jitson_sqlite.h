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
  /* JITSON_METRIC_TANIMOTO when "metric" is the string "tanimoto" (escapes decoded), else
   * JITSON_METRIC_HAMMING (the default, or a value jitson_compile rejects) */
  int metric;
  int has_min_similarity; /* the config has a min_similarity member */
} jsq_config_fields;

typedef struct {
  uint32_t record_bits;       /* added when the config leaves it out */
  int64_t top_k;              /* >= 0: replaces the config's top_k */
  int64_t max_distance;       /* >= 0: replaces the config's max_distance */
  int drop_max_distance;      /* removes max_distance (distances, not searches) */
  const char *metric;         /* added when the config names no metric (NULL: nothing) */
  const char *min_similarity; /* a JSON number: replaces the config's min_similarity */
  int drop_min_similarity;    /* removes min_similarity (similarities, not searches) */
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

/* ---- metric.c: what a hit says under its kernel's metric ---- */
/* The value of a result row: Hamming, the masked distance (similarity -1: none); Tanimoto, the
 * similarity T = c / u (the double nearest it, 1 when u = 0) and the distance column's value,
 * the Jaccard distance 1 - T. jitson_tanimoto, jitson_jaccard_distance, jitson0 and jitson_topk
 * all compute them here, so equal inputs give bit-equal REALs everywhere. */
typedef struct {
  int64_t distance; /* Hamming; -1 for Tanimoto and for rows that are no search result */
  double similarity;
} jsq_score;
jsq_score jsq_score_of(int metric, const jitson_hit *hit);
static inline jsq_score jsq_no_score(void) {
  const jsq_score s = {-1, -1.0};
  return s;
}
static inline double jsq_jaccard_distance(double similarity) {
  return 1.0 - similarity;
}
/* The distance column (INTEGER for Hamming, REAL 1 - T for Tanimoto, NULL for no score) and the
 * similarity column (REAL T for Tanimoto, else NULL). */
void jsq_result_distance(sqlite3_context *ctx, jsq_score s);
void jsq_result_similarity(sqlite3_context *ctx, jsq_score s);
/* A bound from SQL on a similarity (T >= lo as doubles, or a Jaccard distance turned into one) as
 * a min_similarity the kernel can take: a 15-place decimal a margin below lo, far wider than any
 * rounding of c / u or 1 - T, so that the kernel keeps every row the SQL bound keeps (and maybe
 * a few more, which the exact test on the REALs then drops). Returns 0 (out untouched) when lo
 * leaves no record out. */
int jsq_similarity_floor(double lo, char *out, size_t out_len);

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
