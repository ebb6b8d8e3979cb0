/* Reading a jitson0 table: exact KNN and range search through the chunked top-k accumulator
 * (one kernel call per chunk, read with incremental blob I/O), and the plain scan. */
#include <stdlib.h>
#include <string.h>

#include "vtab.h"

typedef struct {
  sqlite3_blob *blob;
  const char *table; /* "vectors" or "blocked" */
  int64_t chunk_id;
} blob_reader;

/* Reads [offset, offset + n) of a chunk's data blob, checking the blob's size first. */
static int read_chunk(jsq_table *t, blob_reader *r, int64_t chunk_id, void *out, int n,
                      int offset) {
  int rc = SQLITE_OK;
  if (!r->blob || r->chunk_id != chunk_id) {
    if (r->blob && sqlite3_blob_reopen(r->blob, chunk_id) != SQLITE_OK) {
      sqlite3_blob_close(r->blob);
      r->blob = NULL;
    }
    if (!r->blob) {
      char *name = sqlite3_mprintf("%s_%s", t->name, r->table);
      if (!name) return SQLITE_NOMEM;
      rc = sqlite3_blob_open(t->db, t->schema, name, "data", chunk_id, 0, &r->blob);
      sqlite3_free(name);
      if (rc != SQLITE_OK) {
        sqlite3_blob_close(r->blob);
        r->blob = NULL;
        return jsq_error(t, SQLITE_CORRUPT_VTAB,
                         "jitson0 %s: shadow chunk %lld: cannot read its %s blob: %s", t->name,
                         (long long)chunk_id, r->table, sqlite3_errmsg(t->db));
      }
    }
    r->chunk_id = chunk_id;
  }
  rc = jsq_check_data(t, chunk_id, r->table, sqlite3_blob_bytes(r->blob),
                      (int)(t->chunk_records * t->bytes));
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_blob_read(r->blob, out, n, offset);
  if (rc != SQLITE_OK)
    return jsq_error(t, rc, "jitson0 %s: shadow chunk %lld: reading its %s blob: %s", t->name,
                     (long long)chunk_id, r->table, sqlite3_errmsg(t->db));
  return SQLITE_OK;
}

static int feed_error(jsq_table *t, int64_t chunk_id, const char *why) {
  return jsq_error(t, SQLITE_ERROR, "jitson0 %s: chunk %lld: %s", t->name, (long long)chunk_id,
                   why);
}

static int prepare_chunks(jsq_table *t, sqlite3_stmt **s) {
  char *sql = sqlite3_mprintf(
      "SELECT chunk_id, size, validity, rowids FROM \"%w\".\"%w_chunks\" ORDER BY chunk_id",
      t->schema, t->name);
  if (!sql) return SQLITE_NOMEM;
  int rc = sqlite3_prepare_v2(t->db, sql, -1, s, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK)
    return jsq_error(t, rc, "jitson0 %s: reading the chunks: %s", t->name, sqlite3_errmsg(t->db));
  return SQLITE_OK;
}

/* SQLITE_ROW, SQLITE_DONE, or an error in the table's message. */
static int next_chunk(jsq_table *t, sqlite3_stmt *s) {
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return rc;
  return jsq_error(t, rc, "jitson0 %s: reading the chunks: %s", t->name, sqlite3_errmsg(t->db));
}

typedef struct {
  uint8_t *data;
  uint8_t *skip;
  uint64_t *ids;
} buffers;

static int alloc_buffers(jsq_table *t, buffers *b) {
  b->data = sqlite3_malloc64((uint64_t)t->chunk_records * t->bytes);
  b->skip = sqlite3_malloc64(t->chunk_records / 8);
  b->ids = sqlite3_malloc64((uint64_t)t->chunk_records * 8);
  return b->data && b->skip && b->ids ? SQLITE_OK : SQLITE_NOMEM;
}

static void free_buffers(buffers *b) {
  sqlite3_free(b->data);
  sqlite3_free(b->skip);
  sqlite3_free(b->ids);
}

/* Records per slice of a chunk read into the scan buffer: about 256 KiB, a multiple of 8. */
static int64_t jsq_slice_records(uint32_t bytes) {
  const int64_t n = ((int64_t)(256 * 1024) / bytes) & ~(int64_t)7;
  return n < 8 ? 8 : n;
}

/* Every chunk, fed a slice at a time; deleted slots are skipped through the bitmap. */
static int feed_all(jsq_table *t, jitson_topk *acc, int blocked) {
  sqlite3_stmt *s = NULL;
  buffers b;
  blob_reader r = {NULL, blocked ? "blocked" : "vectors", -1};
  int rc = alloc_buffers(t, &b);
  if (rc == SQLITE_OK) rc = prepare_chunks(t, &s);
  char err[512];
  while (rc == SQLITE_OK && (rc = next_chunk(t, s)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    const int64_t chunk = sqlite3_column_int64(s, 0), size = sqlite3_column_int64(s, 1);
    const int vb = sqlite3_column_bytes(s, 2), rb = sqlite3_column_bytes(s, 3);
    if ((rc = jsq_check_chunk(t, chunk, size, vb, rb)) != SQLITE_OK || size == 0) continue;
    const uint8_t *validity = sqlite3_column_blob(s, 2);
    const uint8_t *rowids = sqlite3_column_blob(s, 3);
    for (uint32_t i = 0; i < t->chunk_records / 8; ++i) b.skip[i] = (uint8_t)~validity[i];
    for (int64_t i = 0; i < size; ++i) {
      int64_t id;
      memcpy(&id, rowids + i * 8, 8);
      b.ids[i] = jsq_id_to_key(id);
    }
    if (blocked) {
      const uint32_t B = t->block_records;
      const int64_t padded = (size + B - 1) / B * B;
      rc = read_chunk(t, &r, chunk, b.data, (int)(padded * t->bytes), 0);
      if (rc == SQLITE_OK && jitson_topk_feed_blocked(acc, b.data, (uint64_t)size, B, b.ids, 0,
                                                      b.skip, err, sizeof err) != 0)
        rc = feed_error(t, chunk, err);
    } else {
      /* The blob API copies out of SQLite's pages: copy a slice that stays in L2 and scan it
       * there, rather than the whole chunk through L3 or DRAM and back. Slices are whole bytes
       * of the skip bitmap (multiples of 8 records). */
      const int64_t slice = jsq_slice_records(t->bytes);
      for (int64_t at = 0; rc == SQLITE_OK && at < size; at += slice) {
        const int64_t n = size - at < slice ? size - at : slice;
        rc = read_chunk(t, &r, chunk, b.data, (int)(n * t->bytes), (int)(at * t->bytes));
        if (rc == SQLITE_OK && jitson_topk_feed(acc, b.data, (uint64_t)n, b.ids + at, 0,
                                                b.skip + at / 8, err, sizeof err) != 0)
          rc = feed_error(t, chunk, err);
      }
    }
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  sqlite3_finalize(s);
  sqlite3_blob_close(r.blob);
  free_buffers(&b);
  return rc;
}

typedef struct {
  int64_t chunk_id;
  uint32_t slot;
  int64_t rowid;
} located;

static int by_place(const void *a, const void *b) {
  const located *x = a, *y = b;
  if (x->chunk_id != y->chunk_id) return x->chunk_id < y->chunk_id ? -1 : 1;
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Only the rows of filter: each chunk holding some is fed once, its selected records gathered
 * (or, when many are selected, the whole chunk with the others skipped). */
static int feed_filtered(jsq_table *t, jitson_topk *acc, const int64_t *filter, int64_t n_filter) {
  located *at = sqlite3_malloc64((uint64_t)(n_filter ? n_filter : 1) * sizeof *at);
  buffers b;
  blob_reader r = {NULL, "vectors", -1};
  int rc = alloc_buffers(t, &b);
  if (!at) rc = SQLITE_NOMEM;
  int64_t n = 0;
  for (int64_t i = 0; rc == SQLITE_OK && i < n_filter; ++i) {
    int found;
    rc = jsq_store_locate(t, filter[i], &at[n].chunk_id, &at[n].slot, &found);
    if (found) at[n++].rowid = filter[i];
  }
  if (rc == SQLITE_OK) qsort(at, (size_t)n, sizeof *at, by_place);
  char err[512];
  for (int64_t i = 0; rc == SQLITE_OK && i < n;) {
    int64_t j = i;
    while (j < n && at[j].chunk_id == at[i].chunk_id) ++j;
    const int64_t chunk = at[i].chunk_id;
    const uint32_t last = at[j - 1].slot;
    uint64_t count = 0;
    if ((uint64_t)(j - i) * 8 >= last + 1) {
      /* dense: read slots [0, last], skip the unselected ones */
      memset(b.skip, 0xff, t->chunk_records / 8);
      memset(b.ids, 0, (size_t)(last + 1) * 8);
      for (int64_t q = i; q < j; ++q) {
        b.skip[at[q].slot / 8] &= (uint8_t) ~(1u << (at[q].slot % 8));
        b.ids[at[q].slot] = jsq_id_to_key(at[q].rowid);
      }
      count = last + 1;
      rc = read_chunk(t, &r, chunk, b.data, (int)(count * t->bytes), 0);
      if (rc == SQLITE_OK &&
          jitson_topk_feed(acc, b.data, count, b.ids, 0, b.skip, err, sizeof err) != 0)
        rc = feed_error(t, chunk, err);
    } else {
      for (int64_t q = i; rc == SQLITE_OK && q < j; ++q, ++count) {
        if (q > i && at[q].slot == at[q - 1].slot) {
          --count;
          continue;
        }
        rc = read_chunk(t, &r, chunk, b.data + count * t->bytes, (int)t->bytes,
                        (int)(at[q].slot * t->bytes));
        b.ids[count] = jsq_id_to_key(at[q].rowid);
      }
      if (rc == SQLITE_OK &&
          jitson_topk_feed(acc, b.data, count, b.ids, 0, NULL, err, sizeof err) != 0)
        rc = feed_error(t, chunk, err);
    }
    i = j;
  }
  sqlite3_blob_close(r.blob);
  free_buffers(&b);
  sqlite3_free(at);
  return rc;
}

int jsq_search(jsq_table *t, const jitson_kernel *k, const uint8_t *query, const int64_t *filter,
               int64_t n_filter, uint64_t top_k, jsq_row **out, int64_t *n_out) {
  *out = NULL;
  *n_out = 0;
  char err[512];
  jitson_topk *acc = jitson_topk_create(k, query, 1, err, sizeof err);
  if (!acc) return jsq_error(t, SQLITE_ERROR, "jitson0 %s: %s", t->name, err);
  int rc = filter ? feed_filtered(t, acc, filter, n_filter)
                  : feed_all(t, acc, t->block_records && jsq_prefers_sweep(k));
  jitson_hit *hits = NULL;
  if (rc == SQLITE_OK) {
    hits = sqlite3_malloc64((top_k ? top_k : 1) * sizeof *hits);
    if (!hits) rc = SQLITE_NOMEM;
  }
  int64_t n = 0;
  if (rc == SQLITE_OK) {
    n = jitson_topk_result(acc, 0, hits, top_k, NULL, err, sizeof err);
    if (n < 0) rc = jsq_error(t, SQLITE_ERROR, "jitson0 %s: %s", t->name, err);
  }
  if (rc == SQLITE_OK) {
    *out = sqlite3_malloc64((uint64_t)(n ? n : 1) * sizeof **out);
    if (!*out) rc = SQLITE_NOMEM;
  }
  const int metric = jitson_kernel_metric(k);
  for (int64_t i = 0; rc == SQLITE_OK && i < n; ++i) {
    (*out)[i].rowid = jsq_key_to_id(hits[i].index);
    (*out)[i].score = jsq_score_of(metric, &hits[i]);
    (*out)[i].chunk_id = -1;
    (*out)[i].slot = 0;
  }
  if (rc == SQLITE_OK) *n_out = n;
  sqlite3_free(hits);
  jitson_topk_destroy(acc);
  return rc;
}

int jsq_scan_all(jsq_table *t, jsq_row **out, int64_t *n_out) {
  *out = NULL;
  *n_out = 0;
  sqlite3_stmt *s = NULL;
  int rc = prepare_chunks(t, &s);
  int64_t n = 0, cap = 0;
  while (rc == SQLITE_OK && (rc = next_chunk(t, s)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    const int64_t chunk = sqlite3_column_int64(s, 0), size = sqlite3_column_int64(s, 1);
    const int vb = sqlite3_column_bytes(s, 2), rb = sqlite3_column_bytes(s, 3);
    if ((rc = jsq_check_chunk(t, chunk, size, vb, rb)) != SQLITE_OK) break;
    const uint8_t *validity = sqlite3_column_blob(s, 2), *rowids = sqlite3_column_blob(s, 3);
    for (int64_t i = 0; i < size; ++i) {
      if (!(validity[i / 8] & (1u << (i % 8)))) continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 1024;
        jsq_row *grown = sqlite3_realloc64(*out, (uint64_t)cap * sizeof *grown);
        if (!grown) {
          rc = SQLITE_NOMEM;
          break;
        }
        *out = grown;
      }
      memcpy(&(*out)[n].rowid, rowids + i * 8, 8);
      (*out)[n].score = jsq_no_score();
      (*out)[n].chunk_id = chunk;
      (*out)[n].slot = (uint32_t)i;
      ++n;
    }
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  sqlite3_finalize(s);
  if (rc != SQLITE_OK) {
    sqlite3_free(*out);
    *out = NULL;
    return rc;
  }
  *n_out = n;
  return SQLITE_OK;
}
