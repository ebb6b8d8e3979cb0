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

/* ---- Chunked top-k: feed a table chunk by chunk (pages, blobs, record batches, shards) ----
 * Any split of a table into chunks, fed in any order to one accumulator or to several merged
 * ones, gives exactly the hits of one scan over the whole table, ordered by (distance, row id)
 * where row ids are the caller's (jitson_hit.index carries them). With max_distance in the config
 * this is a range search capped at the first top_k by (distance, row id). Once a query's heap is
 * full, its worst distance bounds the kernel on the next chunk. One accumulator per thread: it
 * starts no threads and runs on the caller's; merge accumulators of parallel workers or shards.
 * Functions returning int return 0 on success and -1 with a message in err. */
typedef struct jitson_topk jitson_topk;

/* n_queries queries of record_bits/8 bytes each (copied); the accumulator holds a reference to
 * the kernel, which may be released before it. */
jitson_topk *jitson_topk_create(const jitson_kernel *, const uint8_t *queries, uint64_t n_queries,
                                char *err, size_t err_len);
/* n_records row-major records. row_ids: NULL (record i is row base_row + i) or n_records ids,
 * sparse and unordered allowed. skip_bitmap: NULL or one bit per record, least significant bit
 * first (record i: byte i/8, bit i%8), 1 = skip (deleted, null, filtered out). */
int jitson_topk_feed(jitson_topk *, const uint8_t *records, uint64_t n_records,
                     const uint64_t *row_ids, uint64_t base_row, const uint8_t *skip_bitmap,
                     char *err, size_t err_len);
/* The same for records in the blocked layout (docs/FORMAT.md): blocks holds whole blocks of
 * block_records records (the last one zero-padded), n_records counted from the first block's
 * first record; the kernel's sweep scans them. */
int jitson_topk_feed_blocked(jitson_topk *, const uint8_t *blocks, uint64_t n_records,
                             uint32_t block_records, const uint64_t *row_ids, uint64_t base_row,
                             const uint8_t *skip_bitmap, char *err, size_t err_len);
/* Adds from's hits and statistics into into: same queries, kernels of the same config. */
int jitson_topk_merge(jitson_topk *into, const jitson_topk *from, char *err, size_t err_len);
/* Writes min(hits held, out_cap) hits of query (0-based) ordered by (distance, row id) and
 * returns how many, or -1. stats (may be NULL) sums the kernel statistics of every chunk. */
int64_t jitson_topk_result(const jitson_topk *, uint64_t query, jitson_hit *out, uint64_t out_cap,
                           jitson_stats *stats, char *err, size_t err_len);
/* Forgets every hit and statistic, keeping the queries and the kernel. */
void jitson_topk_reset(jitson_topk *);
void jitson_topk_destroy(jitson_topk *);

#ifdef __cplusplus
}
#endif
#endif /* JITSON_JITSON_H */
