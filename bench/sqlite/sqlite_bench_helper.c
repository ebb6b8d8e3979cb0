/* The parts of bench/sqlite/bench_sqlite.py that Python would distort, in C:
 *
 *   sqlite_bench_helper insert EXT DB JFP [plain]
 *     INSERTs every record of JFP into a new jitson0 table (or a plain rowid table) of DB, the way
 *     an application loads data: one transaction, one prepared statement, ids bound as integers
 *     and records as static blobs. Prints {"insert_s": S}.
 *   sqlite_bench_helper ceiling JFP QUERIES_JFP REPEAT
 *     The bound on any reader that must copy records out of pages before scanning them, as
 *     SQLite's blob API does: the same top-10 kernel fed 256 KiB slices of the mapped file in
 *     place, and fed the same slices after copying them page by page (64 KiB) into a buffer
 *     that stays in L2, and the copies alone (a free kernel). Alternates the three per query;
 *     prints the medians over queries and repeats: {"in_place_s": S, "copied_s": S,
 *     "copy_only_s": S}.
 * Exit status 1 with a message on stderr for any failure. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitson/jitson.h"

enum { kSliceBytes = 256 * 1024, kPageBytes = 64 * 1024, kTopK = 10 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *what, const char *why) {
  fprintf(stderr, "sqlite_bench_helper: %s: %s\n", what, why);
  return 1;
}

static int exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  fail(sql, msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  return 1;
}

static int insert(const char *ext, const char *path, const char *jfp, int plain) {
  char err[512];
  jitson_db *file = jitson_db_open(jfp, NULL, err, sizeof err);
  if (!file) return fail(jfp, err);
  const uint64_t n = jitson_db_records(file);
  const int bytes = (int)(jitson_db_record_bits(file) / 8);
  const uint8_t *data = jitson_db_data(file);
  sqlite3 *db = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK) return fail(path, sqlite3_errmsg(db));
  char *msg = NULL;
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, ext, NULL, &msg) != SQLITE_OK) return fail(ext, msg);
  char create[160];
  if (plain)
    snprintf(create, sizeof create, "CREATE TABLE fps(rowid INTEGER PRIMARY KEY, fp BLOB)");
  else
    snprintf(create, sizeof create, "CREATE VIRTUAL TABLE fps USING jitson0(bits=%u)",
             jitson_db_record_bits(file));
  if (exec(db, "PRAGMA page_size = 65536") || exec(db, create)) return 1;
  sqlite3_stmt *s = NULL;
  const double t0 = now();
  if (exec(db, "BEGIN")) return 1;
  if (sqlite3_prepare_v2(db, "INSERT INTO fps(rowid, fp) VALUES (?1, ?2)", -1, &s, NULL))
    return fail("prepare", sqlite3_errmsg(db));
  for (uint64_t i = 0; i < n; ++i) {
    sqlite3_bind_int64(s, 1, (sqlite3_int64)i + 1);
    /* static: the mapped file outlives the statement's use of the bytes */
    sqlite3_bind_blob(s, 2, data + i * (uint64_t)bytes, bytes, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("INSERT", sqlite3_errmsg(db));
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  if (exec(db, "COMMIT")) return 1;
  printf("{\"insert_s\": %.6f}\n", now() - t0);
  sqlite3_close(db);
  jitson_db_close(file);
  return 0;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One top-10 scan of the file in slices; copy != NULL copies each slice first; k == NULL
 * only copies (the floor of a copying reader with a free kernel). */
static double scan_once(const jitson_kernel *k, const uint8_t *query, const uint8_t *data,
                        uint64_t n, uint64_t bytes, uint8_t *copy, jitson_hit *hits) {
  char err[512];
  const double t0 = now();
  if (!k) {
    for (uint64_t off = 0; off < n * bytes; off += kPageBytes) {
      const uint64_t m = n * bytes - off < kPageBytes ? n * bytes - off : kPageBytes;
      memcpy(copy + off % kSliceBytes, data + off, m);
      /* keeps the copies: the compiler may not drop a store it cannot see read */
      __asm__ volatile("" : : "r"(copy) : "memory");
    }
    return now() - t0;
  }
  jitson_topk *acc = jitson_topk_create(k, query, 1, err, sizeof err);
  const uint64_t per_slice = kSliceBytes / bytes ? kSliceBytes / bytes : 1;
  for (uint64_t at = 0; acc && at < n; at += per_slice) {
    const uint64_t m = n - at < per_slice ? n - at : per_slice;
    const uint8_t *src = data + at * bytes;
    if (copy) {
      for (uint64_t off = 0; off < m * bytes; off += kPageBytes)
        memcpy(copy + off, src + off, m * bytes - off < kPageBytes ? m * bytes - off : kPageBytes);
      src = copy;
    }
    if (jitson_topk_feed(acc, src, m, NULL, at, NULL, err, sizeof err) != 0) break;
  }
  const int64_t got = acc ? jitson_topk_result(acc, 0, hits, kTopK, NULL, err, sizeof err) : -1;
  const double t = now() - t0;
  jitson_topk_destroy(acc);
  return got == kTopK ? t : -1;
}

static int ceiling(const char *jfp, const char *queries_jfp, int repeat) {
  char err[512];
  jitson_db *file = jitson_db_open(jfp, "{\"populate\": true}", err, sizeof err);
  if (!file) return fail(jfp, err);
  jitson_db *queries = jitson_db_open(queries_jfp, NULL, err, sizeof err);
  if (!queries) return fail(queries_jfp, err);
  const uint32_t bits = jitson_db_record_bits(file);
  if (jitson_db_record_bits(queries) != bits) return fail(queries_jfp, "record sizes differ");
  jitson_engine *engine = jitson_engine_create(NULL, err, sizeof err);
  if (!engine) return fail("engine", err);
  char config[128];
  snprintf(config, sizeof config, "{\"version\": 1, \"record_bits\": %u, \"top_k\": %d}", bits,
           kTopK);
  jitson_kernel *k = jitson_compile(engine, config, strlen(config), err, sizeof err);
  if (!k) return fail(config, err);
  uint8_t *copy = aligned_alloc(64, kSliceBytes + kPageBytes);
  const uint64_t nq = jitson_db_records(queries), samples = nq * (uint64_t)repeat;
  double *in_place = malloc(samples * sizeof *in_place), *copied = malloc(samples * sizeof *copied);
  double *copy_only = malloc(samples * sizeof *copy_only);
  jitson_hit hits[kTopK];
  if (!copy || !in_place || !copied || !copy_only) return fail("ceiling", "out of memory");
  const uint64_t n = jitson_db_records(file), bytes = bits / 8;
  scan_once(k, jitson_db_data(queries), jitson_db_data(file), n, bytes, copy, hits); /* warm */
  for (uint64_t i = 0; i < samples; ++i) {
    const uint8_t *q = jitson_db_data(queries) + (i % nq) * bytes;
    in_place[i] = scan_once(k, q, jitson_db_data(file), n, bytes, NULL, hits);
    copied[i] = scan_once(k, q, jitson_db_data(file), n, bytes, copy, hits);
    copy_only[i] = scan_once(NULL, q, jitson_db_data(file), n, bytes, copy, hits);
    if (in_place[i] < 0 || copied[i] < 0) return fail("ceiling", "a scan failed");
  }
  qsort(in_place, samples, sizeof *in_place, by_value);
  qsort(copied, samples, sizeof *copied, by_value);
  qsort(copy_only, samples, sizeof *copy_only, by_value);
  printf("{\"in_place_s\": %.6f, \"copied_s\": %.6f, \"copy_only_s\": %.6f}\n",
         in_place[samples / 2], copied[samples / 2], copy_only[samples / 2]);
  free(in_place);
  free(copied);
  free(copy_only);
  free(copy);
  jitson_kernel_release(k);
  jitson_engine_destroy(engine);
  jitson_db_close(queries);
  jitson_db_close(file);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "insert") == 0)
    return insert(argv[2], argv[3], argv[4], argc > 5 && strcmp(argv[5], "plain") == 0);
  if (argc == 5 && strcmp(argv[1], "ceiling") == 0 && atoi(argv[4]) > 0)
    return ceiling(argv[2], argv[3], atoi(argv[4]));
  fprintf(stderr,
          "usage: sqlite_bench_helper insert EXT DB JFP [plain]\n"
          "       sqlite_bench_helper ceiling JFP QUERIES_JFP REPEAT\n");
  return 2;
}
