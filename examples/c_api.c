/* Embeds jitson through its C API: compile a config, scan a small database in memory and as a
 * memory-mapped file, check the planted neighbour is found, multiply two matrices. Exit code 0 on
 * success. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen, unlink under -std=c99 */
#include <jitson/jitson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RECORD_BYTES = 2048, N_RECORDS = 10000, PLANTED = 4321 };

static uint64_t next_random(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int main(void) {
  char err[256];
  uint8_t *db = malloc((size_t)N_RECORDS * RECORD_BYTES);
  uint8_t query[RECORD_BYTES];
  uint64_t seed = 7;
  for (size_t i = 0; i < (size_t)N_RECORDS * RECORD_BYTES; i += 8) {
    uint64_t r = next_random(&seed);
    memcpy(db + i, &r, 8);
  }
  memcpy(query, db + (size_t)PLANTED * RECORD_BYTES, RECORD_BYTES);
  query[0] ^= 0x07; /* the planted record lies at distance 3 */

  jitson_engine *engine = jitson_engine_create(NULL, err, sizeof err);
  if (!engine) {
    fprintf(stderr, "engine: %s\n", err);
    return 1;
  }
  const char *config =
      "{\"version\": 1, \"record_bits\": 16384, \"max_distance\": 100, \"top_k\": 5}";
  jitson_kernel *kernel = jitson_compile(engine, config, strlen(config), err, sizeof err);
  if (!kernel) {
    fprintf(stderr, "compile: %s\n", err);
    return 1;
  }
  printf("kernel: %s\n", jitson_kernel_describe(kernel));

  jitson_hit hits[5];
  jitson_stats stats;
  int64_t n = jitson_scan(kernel, query, db, N_RECORDS, hits, 5, &stats, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "scan: %s\n", err);
    return 1;
  }
  for (int64_t i = 0; i < n; ++i)
    printf("hit %lld: index %llu distance %u\n", (long long)i, (unsigned long long)hits[i].index,
           hits[i].distance);
  printf("records %llu, evaluated in full %llu\n", (unsigned long long)stats.records,
         (unsigned long long)stats.evaluated_full);

  /* A bad config is an error with a JSON Pointer, not a crash. */
  const char *bad = "{\"version\": 1, \"record_bits\": 100, \"max_distance\": 1}";
  if (jitson_compile(engine, bad, strlen(bad), err, sizeof err) != NULL) return 1;
  printf("rejected bad config: %s\n", err);

  int ok =
      n == 1 && hits[0].index == PLANTED && hits[0].distance == 3 && stats.records == N_RECORDS;

  /* The same records as a headerless file, mapped by a handle (a .jfp file needs no options). */
  char path[] = "/tmp/jitson_example_XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (!f || fwrite(db, RECORD_BYTES, N_RECORDS, f) != N_RECORDS || fclose(f) != 0) return 1;
  jitson_db *file = jitson_db_open(path, "{\"raw_record_bits\": 16384}", err, sizeof err);
  unlink(path); /* the mapping keeps the data */
  if (!file) {
    fprintf(stderr, "db: %s\n", err);
    return 1;
  }
  n = jitson_scan_db(kernel, query, file, hits, 5, NULL, err, sizeof err);
  printf("file: %llu records, best hit %llu\n", (unsigned long long)jitson_db_records(file),
         n > 0 ? (unsigned long long)hits[0].index : 0ull);
  ok = ok && n == 1 && hits[0].index == PLANTED;
  jitson_db_close(file);

  /* GEMM with the CBLAS arguments: C (2x2) = A (2x3) * B (3x2), row-major. */
  const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
  float c[4];
  if (jitson_sgemm(JITSON_ROW_MAJOR, JITSON_NO_TRANS, JITSON_NO_TRANS, 2, 2, 3, 1.0f, a, 3, b, 2,
                   0.0f, c, 2, err, sizeof err) != 0) {
    fprintf(stderr, "sgemm: %s\n", err);
    return 1;
  }
  printf("sgemm: %g %g / %g %g\n", c[0], c[1], c[2], c[3]);
  ok = ok && c[0] == 58 && c[1] == 64 && c[2] == 139 && c[3] == 154;

  jitson_kernel_release(kernel);
  jitson_engine_destroy(engine);
  free(db);
  return ok ? 0 : 1;
}
