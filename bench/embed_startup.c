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
  /* Record i is a 64-word xorshift pattern with word 0 = i: distinct records, filled at memcpy
   * speed (the data is the host's, not part of what embedding costs). */
  uint64_t pattern[64], x = 0x9E3779B97F4A7C15u;
  for (int w = 0; w < 64; ++w) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    pattern[w] = x;
  }
  for (size_t i = 0; i < kRecords * kBytes / sizeof pattern; ++i) {
    memcpy(words + i * 64, pattern, sizeof pattern);
    words[i * 64] = i;
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
