/* What an embedding pays to start: a C program that creates an engine, compiles one Xbyak
 * kernel and scans 1,000 records, timed as a whole process by bench_embed. Exits non-zero if
 * anything fails, so a broken run cannot pass for a fast one. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jitson/jitson.h>

int main(void) {
  enum { kRecords = 1000, kBytes = 2048 };
  static uint64_t words[kRecords * kBytes / 8];
  static uint8_t query[kBytes];
  const uint8_t *records = (const uint8_t *)words; /* byte view of the same memory */
  uint64_t x = 0x9E3779B97F4A7C15u;
  for (size_t i = 0; i < sizeof words / 8; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: any bits will do, a word at a time */
    words[i] = x;
  }
  memcpy(query, records + 500 * kBytes, kBytes);

  char err[256];
  jitson_engine *e = jitson_engine_create("{\"threads\": 1}", err, sizeof err);
  if (!e) return fprintf(stderr, "%s\n", err), 2;
  const char *cfg = "{\"version\": 1, \"record_bits\": 16384, \"top_k\": 10}";
  jitson_kernel *k = jitson_compile(e, cfg, strlen(cfg), err, sizeof err);
  if (!k) return fprintf(stderr, "%s\n", err), 2;
  jitson_hit hits[10];
  int64_t n = jitson_scan(k, query, records, kRecords, hits, 10, NULL, err, sizeof err);
  if (n != 10 || hits[0].index != 500 || hits[0].distance != 0) {
    fprintf(stderr, "unexpected result (%lld hits): %s\n", (long long)n, err);
    return 1;
  }
  jitson_kernel_release(k);
  jitson_engine_destroy(e);
  return 0;
}
