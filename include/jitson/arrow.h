/* jitson and the Arrow C data interface: scan Arrow columns of fingerprints in place.
 *
 * The ABI structs below are those of the Arrow C data interface and C stream interface
 * specifications (https://arrow.apache.org/docs/format/CDataInterface.html, CStreamInterface.html),
 * guarded by the spec's macros so this header coexists with Arrow's own abi.h in either order.
 * jitson does not depend on libarrow.
 *
 * Records come from an array of one of these value types, every value record_bits/8 bytes:
 *   fixed_size_binary  format "w:N" with N = record bytes: read in place, never copied;
 *   binary, large_binary  formats "z", "Z": read in place too, one run of values at a time
 *                      (a null value of another length, e.g. 0 bytes, ends a run); a non-null
 *                      value of another length is an error naming the row.
 *   binary_view        format "vz" (Polars' Binary, Arrow >= 15): read in place too; values back
 *                      to back in one data buffer as runs, the others (scattered, inline) by
 *                      pointer. Every view is checked before any record is read: its length,
 *                      its data buffer index and that its bytes lie inside that buffer's size
 *                      (the last buffer of the array); a null's view is never read.
 * The array's offset is honoured, null values (the validity bitmap, and the struct's own validity
 * in a record batch) are skipped. Errors name the argument, the row and, in a stream, the batch:
 *   "values row 17 (batch 3): value is 7 bytes; records are 16 bytes".
 * Arrays and schemas are the caller's: jitson reads them during the call and keeps nothing.
 * Functions returning int return 0 on success and -1 with a message in err (see jitson.h). */
#ifndef JITSON_ARROW_H
#define JITSON_ARROW_H

#include <stddef.h>
#include <stdint.h>

#include "jitson/jitson.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  /* Array type description */
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;

  /* Release callback */
  void (*release)(struct ArrowSchema *);
  /* Opaque producer-specific data */
  void *private_data;
};

struct ArrowArray {
  /* Array data description */
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;

  /* Release callback */
  void (*release)(struct ArrowArray *);
  /* Opaque producer-specific data */
  void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  /* The stream type (the same for every array); 0 or an errno-compatible code. On success the
   * schema must be released independently of the stream. */
  int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
  /* The next array (a released one when the stream has ended); 0 or an errno-compatible code.
   * On success the array must be released independently of the stream. */
  int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
  /* Details of the last error, only after a non-0 return; NULL when there are none. Valid
   * until the next operation on the stream. */
  const char *(*get_last_error)(struct ArrowArrayStream *);
  /* Releases the stream's own resources (arrays from get_next are released individually). */
  void (*release)(struct ArrowArrayStream *);
  /* Opaque producer-specific data */
  void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* Queries from an Arrow array of records (one query per row, copied); a null row is an error. */
jitson_topk *jitson_topk_create_arrow(const jitson_kernel *, const struct ArrowSchema *schema,
                                      const struct ArrowArray *array, char *err, size_t err_len);

/* Feeds one Arrow array of records. Row ids: ids[i] when ids is given (an int64 "l" or uint64 "L"
 * array of the same length without nulls or negative values; read in place), else base_row + i.
 * The array is validated whole before anything is fed: on error the accumulator is unchanged. */
int jitson_topk_feed_arrow(jitson_topk *, const struct ArrowSchema *values_schema,
                           const struct ArrowArray *values, const struct ArrowSchema *ids_schema,
                           const struct ArrowArray *ids, uint64_t base_row, char *err,
                           size_t err_len);

/* Feeds every record batch of a stream: struct batches (format "+s") and the column named column,
 * or, with column NULL, a stream whose type is directly the records type. Row ids: the row's
 * position in the stream, counted from 0 across batches, or the int64/uint64 column id_column.
 * Each batch is released after it has been fed, and the schema at the end; the stream itself
 * stays the caller's (call its release). On error, what was obtained from the stream is released,
 * the batches before the failing one stay fed (jitson_topk_reset starts over) and err carries the
 * producer's get_last_error text when get_schema or get_next failed. */
int jitson_topk_feed_arrow_stream(jitson_topk *, struct ArrowArrayStream *stream,
                                  const char *column, const char *id_column, char *err,
                                  size_t err_len);

/* The records of an array without nulls as one row-major block in the producer's memory:
 * *records points into the producer's data buffer at the array's offset (valid while the array
 * is), *n_records = its length: ready for jitson_scan, jitson_scan_range or jitson_topk_feed.
 * A null row is an error naming it (jitson_topk_feed_arrow skips nulls), and so are binary_view
 * values that do not lie back to back in one data buffer (jitson_topk_feed_arrow reads those). */
int jitson_arrow_records(const struct ArrowSchema *schema, const struct ArrowArray *array,
                         uint32_t record_bytes, const uint8_t **records, uint64_t *n_records,
                         char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* JITSON_ARROW_H */
