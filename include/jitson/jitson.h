/* jitson C API: stable, C99, no C++ types. Every function that can fail takes an error buffer
 * (err, err_len; may be NULL/0) and writes one line saying what was wrong. */
#ifndef JITSON_JITSON_H
#define JITSON_JITSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JITSON_VERSION_MAJOR 0
#define JITSON_VERSION_MINOR 1
#define JITSON_VERSION_PATCH 0

typedef struct jitson_engine jitson_engine;
typedef struct jitson_kernel jitson_kernel;

typedef struct {
  uint64_t index;
  uint32_t distance;
  uint32_t reserved;
} jitson_hit;

typedef struct {
  uint64_t records, evaluated_full, hits;
  uint64_t rejected_by_stage[8];
} jitson_stats;

/* options_json may be NULL: {"threads": N, "cache_bytes": N, "isa": "...", "jit": true|false} */
jitson_engine *jitson_engine_create(const char *options_json, char *err, size_t err_len);
void jitson_engine_destroy(jitson_engine *);

jitson_kernel *jitson_compile(jitson_engine *, const char *config_json, size_t config_len,
                              char *err, size_t err_len);
void jitson_kernel_release(jitson_kernel *);
/* e.g. "xbyak avx512 record_bits=16384 focus_words=256 stages=1,9,256"; valid until release */
const char *jitson_kernel_describe(const jitson_kernel *);

/* record-major database of n_records records of record_bits/8 bytes each; returns the number
 * of hits written (<= min(top_k, out_cap)), or -1 with a message in err */
int64_t jitson_scan(const jitson_kernel *, const uint8_t *query, const uint8_t *records,
                    uint64_t n_records, jitson_hit *out, uint64_t out_cap, jitson_stats *stats,
                    char *err, size_t err_len);

/* Extensions (may be added to, never changed). */
const char *jitson_version(void);
/* records [begin, end) on the calling thread; hits carry database indices */
int64_t jitson_scan_range(const jitson_kernel *, const uint8_t *query, const uint8_t *records,
                          uint64_t n_records, uint64_t begin, uint64_t end, jitson_hit *out,
                          uint64_t out_cap, jitson_stats *stats, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* JITSON_JITSON_H */
