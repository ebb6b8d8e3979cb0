/* jitson_distance(a BLOB, b BLOB [, config TEXT]): the (masked) Hamming distance of two
 * fingerprints, computed by a jitson kernel over one record. jitson_tanimoto(a, b [, config]):
 * their Tanimoto similarity T = |a & b & focus| / |(a | b) & focus| as a REAL (the double nearest
 * the fraction; 1 when the union is empty, e.g. two all-zero blobs), and
 * jitson_jaccard_distance(a, b [, config]) = 1 - T, through a kernel of metric "tanimoto" (added
 * to the config when it names none; a config of another metric is an error, as is a Tanimoto
 * config given to jitson_distance).
 *
 * SQL conventions: a NULL fingerprint gives NULL (a NULL config means no config). Anything else
 * that cannot be compared is an error, never a guess: a value that is not a BLOB, blobs of
 * different lengths, a blob longer than 8,192 bytes (65,536 bits, the widest record), a
 * malformed config. Blobs whose length is not a multiple of 8 bytes are compared as if
 * zero-padded to one, which adds nothing to any distance, intersection or union.
 *
 * The compiled kernel is kept with sqlite3_set_auxdata on the config argument (or, without a
 * config, on the second blob, usually the constant query), so a scan compiles it once. */
#include <stdio.h>
#include <string.h>

#include "jitson_sqlite.h"

typedef struct {
  jitson_kernel *kernel;
  uint32_t bytes; /* record_bytes the kernel was compiled for */
} cached_kernel;

static void free_cached(void *p) {
  cached_kernel *c = p;
  jitson_kernel_release(c->kernel);
  sqlite3_free(c);
}

enum { PAIR_DISTANCE, PAIR_TANIMOTO, PAIR_JACCARD };
static const int pair_kinds[] = {PAIR_DISTANCE, PAIR_TANIMOTO, PAIR_JACCARD};
static const char *const pair_names[] = {"jitson_distance", "jitson_tanimoto",
                                         "jitson_jaccard_distance"};

/* The kernel of a config for records of bits bits, its bound dropped (max_distance, or
 * min_similarity): a value is wanted whatever it is. The config as written is compiled first so
 * that a bad bound is still reported, and so that its metric is known. */
static jitson_kernel *compile_for(int kind, const char *config, size_t config_len, uint32_t bits,
                                  char *err, size_t err_len) {
  const int metric = kind == PAIR_DISTANCE ? JITSON_METRIC_HAMMING : JITSON_METRIC_TANIMOTO;
  const char *add_metric = metric == JITSON_METRIC_TANIMOTO ? "tanimoto" : NULL;
  if (config) {
    jsq_config_fields f = jsq_config_read(config, config_len);
    if (jsq_config_check_bits(&f, bits, "the blobs", err, err_len) != 0) return NULL;
    jsq_config_edit as_written = {bits, -1, -1, 0, add_metric, NULL, 0};
    char *text = jsq_config_text(config, config_len, &as_written);
    if (!text) {
      snprintf(err, err_len, "out of memory");
      return NULL;
    }
    jitson_kernel *k = jsq_compile(text, err, err_len);
    sqlite3_free(text);
    if (!k) return NULL;
    const int stated = jitson_kernel_metric(k);
    jitson_kernel_release(k);
    if (stated != metric) {
      snprintf(err, err_len,
               metric == JITSON_METRIC_HAMMING
                   ? "the config's metric is \"tanimoto\": jitson_tanimoto(a, b, config) gives "
                     "the similarity, jitson_jaccard_distance(a, b, config) 1 - similarity"
                   : "the config's metric is \"hamming\": leave metric out (or write "
                     "\"tanimoto\"); jitson_distance gives the Hamming distance");
      return NULL;
    }
  }
  jsq_config_edit edit = {bits, 1, -1, 1, add_metric, NULL, 1};
  char *text = jsq_config_text(config, config_len, &edit);
  if (!text) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  jitson_kernel *k = jsq_compile(text, err, err_len);
  sqlite3_free(text);
  return k;
}

static void result_of(sqlite3_context *ctx, int kind, jsq_score s) {
  if (kind == PAIR_DISTANCE)
    jsq_result_distance(ctx, s);
  else if (kind == PAIR_TANIMOTO)
    jsq_result_similarity(ctx, s);
  else
    sqlite3_result_double(ctx, jsq_jaccard_distance(s.similarity));
}

static void pair_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
    return; /* NULL */
  const int kind = *(const int *)sqlite3_user_data(ctx);
  const char *name = pair_names[kind];
  char err[600];
  for (int i = 0; i < 2; ++i) {
    if (sqlite3_value_type(argv[i]) != SQLITE_BLOB) {
      snprintf(err, sizeof err,
               "%s: argument %d is %s; fingerprints are BLOBs (X'..' literals, bytes from the "
               "application, or unhex())",
               name, i + 1, sqlite3_value_type(argv[i]) == SQLITE_TEXT ? "TEXT" : "a number");
      sqlite3_result_error(ctx, err, -1);
      return;
    }
  }
  const int na = sqlite3_value_bytes(argv[0]), nb = sqlite3_value_bytes(argv[1]);
  if (na != nb) {
    snprintf(err, sizeof err, "%s: the fingerprints differ in length (%d and %d bytes)", name, na,
             nb);
    sqlite3_result_error(ctx, err, -1);
    return;
  }
  if (na == 0) { /* no bits: distance 0, and the empty union of Tanimoto is similarity 1 */
    const jsq_score empty = {kind == PAIR_DISTANCE ? 0 : -1, kind == PAIR_DISTANCE ? -1.0 : 1.0};
    result_of(ctx, kind, empty);
    return;
  }
  if ((unsigned)na > JSQ_MAX_RECORD_BYTES) {
    snprintf(err, sizeof err,
             "%s: fingerprints of %d bytes exceed the widest record (%u bytes, 65,536 bits)", name,
             na, JSQ_MAX_RECORD_BYTES);
    sqlite3_result_error(ctx, err, -1);
    return;
  }
  const uint32_t bytes = ((uint32_t)na + 7) / 8 * 8;
  const int has_config = argc > 2 && sqlite3_value_type(argv[2]) != SQLITE_NULL;
  const int slot = has_config ? 2 : 1;
  cached_kernel *c = sqlite3_get_auxdata(ctx, slot);
  jitson_kernel *kernel = c && c->bytes == bytes ? c->kernel : NULL;
  const int fresh = kernel == NULL;
  if (fresh) {
    const char *config = has_config ? (const char *)sqlite3_value_text(argv[2]) : NULL;
    const size_t config_len = has_config ? (size_t)sqlite3_value_bytes(argv[2]) : 0;
    char why[512] = "";
    kernel = compile_for(kind, config, config_len, bytes * 8, why, sizeof why);
    if (!kernel) {
      snprintf(err, sizeof err, "%s: %s", name, why);
      sqlite3_result_error(ctx, err, -1);
      return;
    }
  }
  const uint8_t *a = sqlite3_value_blob(argv[0]), *b = sqlite3_value_blob(argv[1]);
  uint8_t pa[JSQ_MAX_RECORD_BYTES], pb[JSQ_MAX_RECORD_BYTES];
  if ((uint32_t)na != bytes) {
    memset(pa, 0, bytes);
    memset(pb, 0, bytes);
    memcpy(pa, a, (size_t)na);
    memcpy(pb, b, (size_t)na);
    a = pa;
    b = pb;
  }
  jitson_hit hit;
  char why[256] = "";
  const int64_t n = jitson_scan(kernel, a, b, 1, &hit, 1, NULL, why, sizeof why);
  if (n != 1) {
    snprintf(err, sizeof err, "%s: %s", name, n < 0 ? why : "the kernel returned no hit");
    sqlite3_result_error(ctx, err, -1);
  } else {
    result_of(ctx, kind, jsq_score_of(jitson_kernel_metric(kernel), &hit));
  }
  /* Handed over only after use: SQLite may drop auxdata at once when the argument varies. */
  if (fresh) {
    c = sqlite3_malloc(sizeof *c);
    if (!c) {
      jitson_kernel_release(kernel);
      return;
    }
    c->kernel = kernel;
    c->bytes = bytes;
    sqlite3_set_auxdata(ctx, slot, c, free_cached);
  }
}

int jsq_register_distance(sqlite3 *db) {
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = SQLITE_OK;
  for (int kind = PAIR_DISTANCE; kind <= PAIR_JACCARD && rc == SQLITE_OK; ++kind) {
    for (int nargs = 2; nargs <= 3 && rc == SQLITE_OK; ++nargs)
      rc = sqlite3_create_function_v2(db, pair_names[kind], nargs, flags, (void *)&pair_kinds[kind],
                                      pair_func, NULL, NULL, NULL);
  }
  return rc;
}
