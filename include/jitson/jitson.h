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
/* Records read where they lie, with no copy (values inside a database's pages): records[i]
 * points at record i's record_bits/8 bytes, any alignment, and must stay valid for the call.
 * Ids and skip bits as for jitson_topk_feed, by position in records; the hits equal those of
 * jitson_topk_feed over the same records gathered into one buffer. Row-entry kernels only. */
int jitson_topk_feed_gather(jitson_topk *, const uint8_t *const *records, uint64_t n_records,
                            const uint64_t *row_ids, uint64_t base_row, const uint8_t *skip_bitmap,
                            char *err, size_t err_len);
/* For a caller that lists the records it gathers (tuples in a database's pages): the bytes from
 * each record's start worth prefetching while listing them on this CPU (measured per CPU; the
 * focus's extent while most records are read whole), or 0: prefetch only the first lines and
 * leave the rest to jitson_topk_feed_gather. 0 for NULL. */
uint32_t jitson_topk_listing_prefetch_bytes(const jitson_topk *);
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

/* ---- Fingerprint files: memory-mapped database handles ----
 * A jitson_db maps a fingerprint file (docs/FORMAT.md: .jfp with a header, row-major or blocked)
 * or a headerless file of raw row-major records, read-only. Scanning a handle runs the kernel a
 * file's layout needs (the sweep for a blocked file), so C hosts need not know the format. A handle
 * is never written after open: any number of threads may use it at once. Truncating the file
 * while it is mapped makes reads fault (SIGBUS). */
typedef struct jitson_db jitson_db;

#define JITSON_LAYOUT_ROW 0
#define JITSON_LAYOUT_BLOCKED 1

/* options_json may be NULL: {"raw_record_bits": N, "populate": true|false}, as strict as the
 * engine options (an unknown field or a wrong type is an error naming its JSON Pointer).
 * raw_record_bits (a multiple of 64 up to 65536) reads the file as headerless raw records of that
 * size; populate faults every page in at open (MAP_POPULATE) instead of on first touch. Returns
 * NULL with a message naming the file and the rule for a missing or malformed file. */
jitson_db *jitson_db_open(const char *path, const char *options_json, char *err, size_t err_len);
void jitson_db_close(jitson_db *);
/* Accessors; a NULL handle gives 0 (NULL). */
uint64_t jitson_db_records(const jitson_db *);
uint32_t jitson_db_record_bits(const jitson_db *);
uint32_t jitson_db_layout(const jitson_db *);        /* JITSON_LAYOUT_ROW or _BLOCKED */
uint32_t jitson_db_block_records(const jitson_db *); /* 0 for a row-major file */
/* The mapped payload (after the header), valid until jitson_db_close: record i of a row-major
 * file at byte i * record_bits / 8; a blocked file's bytes are in the blocked layout, whole blocks
 * with the last one zero-padded (docs/FORMAT.md). NULL for an empty file. */
const uint8_t *jitson_db_data(const jitson_db *);
uint64_t jitson_db_payload_bytes(const jitson_db *);

/* jitson_scan over every record of the file; hits carry record indices. A popcount-ordered file
 * (jitson convert --order popcount; docs/FORMAT.md) is verified at open, its hits carry the
 * records' original indices, and a Tanimoto kernel reads only the buckets its popcount bound
 * admits (jitson_feed_db: positions [begin, end) in the file, ids the original indices). */
int64_t jitson_scan_db(const jitson_kernel *, const uint8_t *query, const jitson_db *,
                       jitson_hit *out, uint64_t out_cap, jitson_stats *stats, char *err,
                       size_t err_len);
/* Feeds records [begin, end) of the file as one chunk; row ids are record indices and
 * skip_bitmap (NULL or one bit per record of the range, bit 0 = record begin) skips as in
 * jitson_topk_feed. For a blocked file begin must be a multiple of block_records and end a
 * multiple of it or the file's record count: a chunk is whole blocks. A refused chunk leaves
 * the accumulator unchanged. */
int jitson_topk_feed_db(jitson_topk *, const jitson_db *, uint64_t begin, uint64_t end,
                        const uint8_t *skip_bitmap, char *err, size_t err_len);

/* ---- Batched queries: the records are read once per block for every query ----
 * n_queries queries of record_bits/8 bytes each, back to back. Query q's hits go to
 * out[q * out_cap_per_query ...], at most out_cap_per_query of them, their number to counts[q];
 * stats is NULL or n_queries entries. The hits of each query equal those of jitson_scan.
 * Returns 0, or -1 with a message in err (out and counts are then unspecified). */
int jitson_scan_batch(const jitson_kernel *, const uint8_t *queries, uint64_t n_queries,
                      const uint8_t *records, uint64_t n_records, jitson_hit *out,
                      uint64_t out_cap_per_query, uint64_t *counts, jitson_stats *stats, char *err,
                      size_t err_len);
int jitson_scan_batch_db(const jitson_kernel *, const uint8_t *queries, uint64_t n_queries,
                         const jitson_db *, jitson_hit *out, uint64_t out_cap_per_query,
                         uint64_t *counts, jitson_stats *stats, char *err, size_t err_len);

/* ---- Dense matrix multiply (GEMM) with the CBLAS argument order ----
 * The C++ jitson::sgemm and friends (jitson/gemm.hpp), returning 0, or -1 with a message naming
 * the argument and the rule it broke (e.g. "sgemm: lda = 3 is less than ...") instead of
 * throwing; arguments are checked before any memory is touched. order, trans_a, trans_b are the
 * CBLAS codes, so CBLAS enums can be passed as they are. Results are bitwise those of the C++
 * functions with default GemmOptions (the ISA's fastest kernels, jitson_gemm_set_threads'
 * threads); gemm.hpp documents the summation order that makes them reproducible. */
#define JITSON_ROW_MAJOR 101
#define JITSON_COL_MAJOR 102
#define JITSON_NO_TRANS 111
#define JITSON_TRANS 112
#define JITSON_CONJ_TRANS 113

/* C <- alpha * op(A) * op(B) + beta * C; beta == 0 overwrites C without reading it. */
int jitson_sgemm(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc, char *err, size_t err_len);
/* The same with A and B in bf16 (the upper 16 bits of an f32), f32 C. Subnormals: on CPUs with
 * AVX-512 BF16 or AMX this runs vdpbf16ps / tdpbf16ps, which treat subnormal bf16 inputs as zero
 * and flush subnormal results to zero, and sum products in pairs (error bound in gemm.hpp);
 * elsewhere it converts to f32 and is exact-rounding like jitson_sgemm.
 * jitson_gemm_bf16_exact keeps subnormals on every CPU (the exact-rounding path). */
int jitson_gemm_bf16(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                     float beta, float *c, int64_t ldc, char *err, size_t err_len);
int jitson_gemm_bf16_exact(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                           float alpha, const uint16_t *a, int64_t lda, const uint16_t *b,
                           int64_t ldb, float beta, float *c, int64_t ldc, char *err,
                           size_t err_len);
/* Row-major, no transposes: C[i,j] = sum_p u8(A[i,p]) * i8(B[p,j]), exact, C overwritten;
 * A m x k (lda >= k), B k x n (ldb >= n), C m x n (ldc >= n), k <= 65793. */
int jitson_gemm_u8i8_i32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                         const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc, char *err,
                         size_t err_len);
/* Dequantised per tensor: C[i,j] = f32(sum_p A[i,p]*B[p,j] - zero_point_a * sum_p B[p,j])
 * * (scale_a * scale_b), zero_point_a in [0, 255]. */
int jitson_gemm_u8i8_f32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                         const int8_t *b, int64_t ldb, float *c, int64_t ldc, float scale_a,
                         int32_t zero_point_a, float scale_b, char *err, size_t err_len);
/* Dequantised per channel: a_scales[m], a_zero_points[m] (in [0, 255]) per row of A, b_scales[n]
 * per column of B, evaluated left to right in f32:
 *   C[i,j] = f32(sum_p A[i,p]*B[p,j] - a_zero_points[i] * sum_p B[p,j])
 *            * a_scales[i] * b_scales[j] */
int jitson_gemm_u8i8_f32_per_channel(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                                     const int8_t *b, int64_t ldb, float *c, int64_t ldc,
                                     const float *a_scales, const int32_t *a_zero_points,
                                     const float *b_scales, char *err, size_t err_len);
/* Default thread count of every GEMM in the process; 0 = all cores (the default). */
void jitson_gemm_set_threads(unsigned threads);

/* ---- Metrics ----
 * A scan config's "metric" is "hamming" (the default) or "tanimoto". A Tanimoto kernel's hits are
 * ordered by similarity descending, then row id, like every other result: jitson_hit.distance
 * holds the similarity's rank (an integer that orders exactly) and jitson_hit.reserved the union
 * |(q | r) & focus|; decode them with jitson_tanimoto_of. */
#define JITSON_METRIC_HAMMING 0
#define JITSON_METRIC_TANIMOTO 1
/* JITSON_METRIC_HAMMING or JITSON_METRIC_TANIMOTO; -1 for a NULL kernel. */
int jitson_kernel_metric(const jitson_kernel *);
/* The intersection c = |q & r & focus|, the union u and the similarity c / u (1 when u = 0) of a
 * hit of a Tanimoto kernel. Any pointer may be NULL. Exact: c and u are integers, similarity the
 * double nearest c / u. */
void jitson_tanimoto_of(const jitson_hit *hit, uint32_t *intersection, uint32_t *union_bits,
                        double *similarity);

/* f32 <-> bf16 over arrays of n values (vectorised, the bits of the scalar rules): rounded to
 * nearest even with NaNs kept quiet, truncated (low 16 bits dropped), and back (exact). in and
 * out must not overlap; returns 0, or -1 with a message for NULL (with n > 0) or overlapping
 * arrays. */
int jitson_f32_to_bf16(const float *in, uint16_t *out, size_t n, char *err, size_t err_len);
int jitson_f32_to_bf16_truncate(const float *in, uint16_t *out, size_t n, char *err,
                                size_t err_len);
int jitson_bf16_to_f32(const uint16_t *in, float *out, size_t n, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* JITSON_JITSON_H */
