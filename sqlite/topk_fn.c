/* jitson_topk(config, query, 'table', 'column' [, 'id_column']): exact top-k over fingerprints
 * kept in an ordinary table, for users who do not move them into a jitson0 table. The column is
 * read with one SELECT, 1,024 values per kernel call; ids are the rowid (or id_column, an
 * integer). NULL values are no candidates; a value that is not a BLOB of the query's length is
 * an error naming its row. Rows come ordered by (distance, id).
 *
 * With "metric": "tanimoto" in the config the rows come ordered by (similarity descending, id),
 * the hidden column similarity holds the REAL similarity and distance the REAL 1 - similarity;
 * the config's min_similarity bounds the search exactly (top_k, default 10, still caps it). For
 * a Hamming config similarity is NULL. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitson_sqlite.h"

/* The hidden columns from config to id_col are the function's arguments, in order; similarity
 * comes after them so that it is none. */
enum {
  COL_ID,
  COL_DISTANCE,
  COL_CONFIG,
  COL_QUERY,
  COL_TABLE,
  COL_COLUMN,
  COL_ID_COLUMN,
  COL_SIMILARITY
};
enum { PLAN_BY_SIMILARITY = 1 << 16 }; /* ORDER BY similarity DESC, id consumed */
#define BATCH 1024

typedef struct {
  sqlite3_vtab base;
  sqlite3 *db;
} topk_vtab;

typedef struct {
  sqlite3_vtab_cursor base;
  jitson_hit *hits;
  int64_t n, i;
  int metric; /* the kernel's */
} topk_cursor;

static int t_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                     char **err) {
  (void)aux;
  (void)argc;
  (void)argv;
  (void)err;
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(id INTEGER, distance INTEGER, config HIDDEN, "
                                "query HIDDEN, tbl HIDDEN, col HIDDEN, id_col HIDDEN, "
                                "similarity REAL HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  topk_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->db = db;
  *out = &v->base;
  return SQLITE_OK;
}

static int t_disconnect(sqlite3_vtab *v) {
  sqlite3_free(v);
  return SQLITE_OK;
}

static int t_best_index(sqlite3_vtab *v, sqlite3_index_info *info) {
  (void)v;
  int at[7] = {-1, -1, -1, -1, -1, -1, -1};
  for (int i = 0; i < info->nConstraint; ++i) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (c->iColumn < COL_CONFIG || c->iColumn > COL_ID_COLUMN ||
        c->op != SQLITE_INDEX_CONSTRAINT_EQ)
      continue;
    if (!c->usable) return SQLITE_CONSTRAINT; /* wait for a join order that binds it */
    at[c->iColumn] = i;
  }
  int plan = 0, argv_index = 1;
  for (int col = COL_CONFIG; col <= COL_ID_COLUMN; ++col) {
    if (at[col] < 0) continue;
    plan |= 1 << col;
    info->aConstraintUsage[at[col]].argvIndex = argv_index++;
    info->aConstraintUsage[at[col]].omit = 1;
  }
  /* as jitson0: distance ascending for both metrics, similarity descending for Tanimoto (and
   * for Hamming, whose similarities are all NULL, with its rows then put in id order) */
  const int n = info->nOrderBy;
  const struct sqlite3_index_orderby *o = info->aOrderBy;
  const int by_distance = n >= 1 && o[0].iColumn == COL_DISTANCE && !o[0].desc;
  const int by_similarity = n >= 1 && o[0].iColumn == COL_SIMILARITY && o[0].desc;
  if (by_distance || by_similarity)
    info->orderByConsumed = n == 1 || (n == 2 && o[1].iColumn == COL_ID && !o[1].desc);
  if (info->orderByConsumed && by_similarity && n == 2) plan |= PLAN_BY_SIMILARITY;
  info->idxNum = plan;
  info->estimatedCost = 1e6;
  return SQLITE_OK;
}

static int t_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out) {
  (void)v;
  topk_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  *out = &c->base;
  return SQLITE_OK;
}

static int t_close(sqlite3_vtab_cursor *cur) {
  topk_cursor *c = (topk_cursor *)cur;
  sqlite3_free(c->hits);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int fail(sqlite3_vtab_cursor *cur, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_free(cur->pVtab->zErrMsg);
  cur->pVtab->zErrMsg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  return SQLITE_ERROR;
}

static const char *text_of(sqlite3_value *v) {
  return v && sqlite3_value_type(v) == SQLITE_TEXT ? (const char *)sqlite3_value_text(v) : NULL;
}

typedef struct {
  jitson_topk *acc;
  uint8_t *records;
  uint64_t ids[BATCH];
  uint32_t n, bytes;
} batch;

static int flush(sqlite3_vtab_cursor *cur, batch *b) {
  char err[512];
  if (b->n && jitson_topk_feed(b->acc, b->records, b->n, b->ids, 0, NULL, err, sizeof err) != 0)
    return fail(cur, "jitson_topk: %s", err);
  b->n = 0;
  return SQLITE_OK;
}

static int by_id(const void *a, const void *b) {
  /* keys order as the ids do (jsq_id_to_key) */
  const uint64_t x = ((const jitson_hit *)a)->index, y = ((const jitson_hit *)b)->index;
  return x < y ? -1 : x > y;
}

static int t_filter(sqlite3_vtab_cursor *cur, int plan, const char *idx_str, int argc,
                    sqlite3_value **argv) {
  (void)idx_str;
  topk_cursor *c = (topk_cursor *)cur;
  sqlite3_free(c->hits);
  c->hits = NULL;
  c->n = c->i = 0;
  sqlite3_value *arg[7] = {0};
  int i = 0;
  for (int col = COL_CONFIG; col <= COL_ID_COLUMN; ++col)
    if (plan & (1 << col) && i < argc) arg[col] = argv[i++];
  c->metric = JITSON_METRIC_HAMMING;
  const char *table = text_of(arg[COL_TABLE]), *column = text_of(arg[COL_COLUMN]);
  const char *id_column = text_of(arg[COL_ID_COLUMN]);
  if (!arg[COL_QUERY] || !table || !column)
    return fail(cur,
                "jitson_topk(config, query, 'table', 'column' [, 'id_column']): the query, "
                "table and column are required (table and column as text)");
  if (arg[COL_ID_COLUMN] && sqlite3_value_type(arg[COL_ID_COLUMN]) != SQLITE_NULL && !id_column)
    return fail(cur, "jitson_topk: id_column must be text");
  if (sqlite3_value_type(arg[COL_QUERY]) == SQLITE_NULL) return SQLITE_OK;
  const int qlen = sqlite3_value_bytes(arg[COL_QUERY]);
  if (sqlite3_value_type(arg[COL_QUERY]) != SQLITE_BLOB || qlen == 0 ||
      (unsigned)qlen > JSQ_MAX_RECORD_BYTES)
    return fail(cur, "jitson_topk: the query must be a BLOB of 1 to %u bytes (got %s of %d bytes)",
                JSQ_MAX_RECORD_BYTES,
                sqlite3_value_type(arg[COL_QUERY]) == SQLITE_BLOB ? "a BLOB" : "not a BLOB", qlen);
  const uint32_t bytes = ((uint32_t)qlen + 7) / 8 * 8;
  const char *config = text_of(arg[COL_CONFIG]);
  const size_t config_len = config ? (size_t)sqlite3_value_bytes(arg[COL_CONFIG]) : 0;
  jsq_config_fields f = jsq_config_read(config, config_len);
  char err[600];
  if (jsq_config_check_bits(&f, bytes * 8, "the query", err, sizeof err) != 0)
    return fail(cur, "jitson_topk: %s", err);
  const jsq_config_edit edit = {bytes * 8, -1, -1, 0, NULL, NULL, 0};
  char *text = jsq_config_text(config, config_len, &edit);
  if (!text) return SQLITE_NOMEM;
  jitson_kernel *k = jsq_compile(text, err, sizeof err);
  sqlite3_free(text);
  if (!k) return fail(cur, "jitson_topk: %s", err);
  c->metric = jitson_kernel_metric(k);

  uint8_t query[JSQ_MAX_RECORD_BYTES] = {0};
  memcpy(query, sqlite3_value_blob(arg[COL_QUERY]), (size_t)qlen);
  batch b = {0};
  b.bytes = bytes;
  b.acc = jitson_topk_create(k, query, 1, err, sizeof err);
  b.records = sqlite3_malloc64((uint64_t)BATCH * bytes);
  int rc = b.acc && b.records ? SQLITE_OK : SQLITE_NOMEM;
  if (!b.acc) rc = fail(cur, "jitson_topk: %s", err);
  if (b.records) memset(b.records, 0, (size_t)BATCH * bytes);
  sqlite3 *db = ((topk_vtab *)cur->pVtab)->db;
  sqlite3_stmt *s = NULL;
  if (rc == SQLITE_OK) {
    char *sql = id_column
                    ? sqlite3_mprintf("SELECT \"%w\", \"%w\" FROM \"%w\"", id_column, column, table)
                    : sqlite3_mprintf("SELECT rowid, \"%w\" FROM \"%w\"", column, table);
    rc = sql ? sqlite3_prepare_v2(db, sql, -1, &s, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM)
      rc = fail(cur, "jitson_topk: cannot read column '%s' of table '%s': %s", column, table,
                sqlite3_errmsg(db));
  }
  int step = SQLITE_ROW;
  while (rc == SQLITE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    sqlite3_value *idv = sqlite3_column_value(s, 0), *v = sqlite3_column_value(s, 1);
    if (sqlite3_value_type(v) == SQLITE_NULL) continue;
    if (sqlite3_value_type(idv) != SQLITE_INTEGER) {
      rc = fail(cur, "jitson_topk: table '%s': id column '%s' holds %s, not an integer", table,
                id_column ? id_column : "rowid",
                sqlite3_value_text(idv) ? (const char *)sqlite3_value_text(idv) : "NULL");
      break;
    }
    const int64_t id = sqlite3_value_int64(idv);
    if (sqlite3_value_type(v) != SQLITE_BLOB || sqlite3_value_bytes(v) != qlen) {
      rc = fail(cur,
                "jitson_topk: table '%s' column '%s' row %lld: value is %s of %d bytes; the "
                "query is %d bytes",
                table, column, (long long)id,
                sqlite3_value_type(v) == SQLITE_BLOB ? "a BLOB" : "not a BLOB",
                sqlite3_value_bytes(v), qlen);
      break;
    }
    memcpy(b.records + (size_t)b.n * bytes, sqlite3_value_blob(v), (size_t)qlen);
    b.ids[b.n++] = jsq_id_to_key(id);
    if (b.n == BATCH) rc = flush(cur, &b);
  }
  if (rc == SQLITE_OK && step != SQLITE_DONE)
    rc = fail(cur, "jitson_topk: reading table '%s': %s", table, sqlite3_errmsg(db));
  sqlite3_finalize(s);
  if (rc == SQLITE_OK) rc = flush(cur, &b);
  const uint64_t cap = f.top_k > 0 ? (uint64_t)f.top_k : 10;
  if (rc == SQLITE_OK) {
    c->hits = sqlite3_malloc64(cap * sizeof *c->hits);
    if (!c->hits) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) {
    c->n = jitson_topk_result(b.acc, 0, c->hits, cap, NULL, err, sizeof err);
    if (c->n < 0) {
      c->n = 0;
      rc = fail(cur, "jitson_topk: %s", err);
    }
  }
  if (rc == SQLITE_OK && c->metric == JITSON_METRIC_HAMMING && (plan & PLAN_BY_SIMILARITY))
    qsort(c->hits, (size_t)c->n, sizeof *c->hits, by_id); /* every similarity is NULL */
  jitson_topk_destroy(b.acc);
  sqlite3_free(b.records);
  jitson_kernel_release(k);
  return rc;
}

static int t_next(sqlite3_vtab_cursor *cur) {
  ((topk_cursor *)cur)->i++;
  return SQLITE_OK;
}

static int t_eof(sqlite3_vtab_cursor *cur) {
  topk_cursor *c = (topk_cursor *)cur;
  return c->i >= c->n;
}

static int t_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  topk_cursor *c = (topk_cursor *)cur;
  if (col == COL_ID) sqlite3_result_int64(ctx, jsq_key_to_id(c->hits[c->i].index));
  if (col == COL_DISTANCE) jsq_result_distance(ctx, jsq_score_of(c->metric, &c->hits[c->i]));
  if (col == COL_SIMILARITY) jsq_result_similarity(ctx, jsq_score_of(c->metric, &c->hits[c->i]));
  return SQLITE_OK;
}

static int t_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  *out = ((topk_cursor *)cur)->i + 1;
  return SQLITE_OK;
}

static sqlite3_module module = {
    .iVersion = 2,
    .xConnect = t_connect,
    .xBestIndex = t_best_index,
    .xDisconnect = t_disconnect,
    .xOpen = t_open,
    .xClose = t_close,
    .xFilter = t_filter,
    .xNext = t_next,
    .xEof = t_eof,
    .xColumn = t_column,
    .xRowid = t_rowid,
};

int jsq_register_topk(sqlite3 *db) {
  return sqlite3_create_module_v2(db, "jitson_topk", &module, NULL, NULL);
}
