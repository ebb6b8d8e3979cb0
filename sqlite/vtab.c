/* The jitson0 module: CREATE VIRTUAL TABLE fps USING jitson0(bits=16384 [, block_records=64]
 * [, chunk_records=1024] [, primary_key=id]).
 *
 * Columns: fp BLOB (the record), and hidden distance, k, config, similarity. What xBestIndex
 * takes over (and SQLite then never re-checks): fp MATCH :q, k = :n, config = :json,
 * distance <= :r (or <), similarity >= :t (or >), rowid = :id and rowid IN (...) (all values at
 * once: the filter), and LIMIT/OFFSET when every other constraint is one of these, so that the
 * kernel's top_k is the LIMIT. With fp MATCH the rows come ordered by (distance, rowid), so
 * ORDER BY distance [, rowid] costs nothing.
 *
 * A config with "metric": "tanimoto" makes the search a Tanimoto one: rows ordered by
 * (similarity descending, rowid) (ORDER BY similarity DESC [, rowid] costs nothing either),
 * similarity the REAL T and distance the REAL 1 - T. Its exact range bound is the config's
 * min_similarity. A SQL bound on those REALs (similarity >= :t, distance <= :r) is applied to
 * the REALs exactly as SQLite would compare them: the kernel gets a min_similarity a margin
 * below it (jsq_similarity_floor), and the rows it lets through are tested on their REALs. Both
 * bounds keep a prefix of the (similarity, rowid) order, so k and LIMIT still give the first k
 * rows that pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vtab.h"

enum {
  PLAN_MATCH = 1,
  PLAN_K = 2,
  PLAN_CONFIG = 4,
  PLAN_LE = 8,
  PLAN_LT = 16,
  PLAN_ROWID = 32,
  PLAN_LIMIT = 64,
  PLAN_OFFSET = 128,
  PLAN_ROWID_IN = 256,
  PLAN_GE = 512, /* similarity >= */
  PLAN_GT = 1024,
  PLAN_BY_SIMILARITY = 2048 /* ORDER BY similarity DESC, rowid consumed */
};

typedef struct {
  sqlite3_vtab_cursor base;
  jsq_row *rows;
  int64_t n, i;
  sqlite3_blob *blob;
  int64_t blob_chunk;
} jsq_cursor;

/* ---- declaration ---- */
static int parse_uint(const char *v, uint32_t *out) {
  char *end;
  const long long x = strtoll(v, &end, 10);
  if (end == v || *end || x < 0 || x > 0x7fffffff) return -1;
  *out = (uint32_t)x;
  return 0;
}

static int is_pow2(uint32_t x) {
  return x && !(x & (x - 1));
}

/* key=value arguments; an error message in *err (sqlite3_malloc'd). */
static int parse_args(jsq_table *t, int argc, const char *const *argv, char **err) {
  t->chunk_records = 1024;
  int have_bits = 0;
  for (int i = 3; i < argc; ++i) {
    char key[64], value[256];
    const char *eq = strchr(argv[i], '=');
    if (!eq) {
      *err = sqlite3_mprintf(
          "jitson0: argument '%s' is not key=value (bits=16384, "
          "block_records=64, chunk_records=1024, primary_key=id)",
          argv[i]);
      return SQLITE_ERROR;
    }
    if (sscanf(argv[i], " %63[A-Za-z_] =", key) != 1) key[0] = 0;
    const char *v = eq + 1;
    while (*v == ' ') ++v;
    snprintf(value, sizeof value, "%s", v);
    for (size_t n = strlen(value); n && value[n - 1] == ' '; --n) value[n - 1] = 0;
    if (strcmp(key, "bits") == 0) {
      if (parse_uint(value, &t->bits) || t->bits < 64 || t->bits > 65536 || t->bits % 64) {
        *err = sqlite3_mprintf(
            "jitson0: bits=%s: records are a multiple of 64 bits from 64 to "
            "65536",
            value);
        return SQLITE_ERROR;
      }
      have_bits = 1;
    } else if (strcmp(key, "chunk_records") == 0) {
      if (parse_uint(value, &t->chunk_records) || t->chunk_records < 8 ||
          t->chunk_records > 65536 || t->chunk_records % 8) {
        *err = sqlite3_mprintf("jitson0: chunk_records=%s: a multiple of 8 from 8 to 65536", value);
        return SQLITE_ERROR;
      }
    } else if (strcmp(key, "block_records") == 0) {
      if (parse_uint(value, &t->block_records) || !is_pow2(t->block_records) ||
          t->block_records < 8 || t->block_records > 4096) {
        *err = sqlite3_mprintf(
            "jitson0: block_records=%s: a power of two from 8 to 4096 (64 "
            "suits top-k, 256 near-duplicate search)",
            value);
        return SQLITE_ERROR;
      }
    } else if (strcmp(key, "primary_key") == 0) {
      const char *bad = NULL;
      for (const char *c = value; *c; ++c)
        if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (c > value && *c >= '0' && *c <= '9')))
          bad = c;
      if (!value[0] || bad || !sqlite3_stricmp(value, "fp") || !sqlite3_stricmp(value, "k") ||
          !sqlite3_stricmp(value, "distance") || !sqlite3_stricmp(value, "config") ||
          !sqlite3_stricmp(value, "similarity")) {
        *err = sqlite3_mprintf(
            "jitson0: primary_key=%s: a plain column name other than fp, "
            "distance, k, config and similarity",
            value);
        return SQLITE_ERROR;
      }
      t->id_name = sqlite3_mprintf("%s", value);
      if (!t->id_name) return SQLITE_NOMEM;
    } else {
      *err = sqlite3_mprintf(
          "jitson0: unknown argument '%s' (allowed: bits, block_records, "
          "chunk_records, primary_key)",
          argv[i]);
      return SQLITE_ERROR;
    }
  }
  if (!have_bits) {
    *err = sqlite3_mprintf("jitson0: bits=N is required (e.g. jitson0(bits=16384))");
    return SQLITE_ERROR;
  }
  t->bytes = t->bits / 8;
  if (t->block_records && t->chunk_records % t->block_records) {
    *err = sqlite3_mprintf("jitson0: chunk_records=%u is not a multiple of block_records=%u",
                           t->chunk_records, t->block_records);
    return SQLITE_ERROR;
  }
  if ((uint64_t)t->chunk_records * t->bytes > (64u << 20)) {
    *err = sqlite3_mprintf(
        "jitson0: chunk_records=%u records of %u bytes exceed 64 MiB per "
        "chunk blob",
        t->chunk_records, t->bytes);
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

static void free_table(jsq_table *t) {
  if (!t) return;
  jsq_store_close(t);
  sqlite3_free(t->schema);
  sqlite3_free(t->name);
  sqlite3_free(t->id_name);
  sqlite3_free(t);
}

static int connect_or_create(sqlite3 *db, int argc, const char *const *argv, sqlite3_vtab **out,
                             char **err, int create) {
  jsq_table *t = sqlite3_malloc(sizeof *t);
  if (!t) return SQLITE_NOMEM;
  memset(t, 0, sizeof *t);
  t->db = db;
  t->schema = sqlite3_mprintf("%s", argv[1]);
  t->name = sqlite3_mprintf("%s", argv[2]);
  int rc = t->schema && t->name ? parse_args(t, argc, argv, err) : SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    char *decl = t->id_name ? sqlite3_mprintf(
                                  "CREATE TABLE x(fp BLOB, distance INTEGER HIDDEN, "
                                  "k INTEGER HIDDEN, config TEXT HIDDEN, "
                                  "similarity REAL HIDDEN, \"%w\" INTEGER)",
                                  t->id_name)
                            : sqlite3_mprintf(
                                  "CREATE TABLE x(fp BLOB, distance INTEGER HIDDEN, "
                                  "k INTEGER HIDDEN, config TEXT HIDDEN, "
                                  "similarity REAL HIDDEN)");
    rc = decl ? sqlite3_declare_vtab(db, decl) : SQLITE_NOMEM;
    sqlite3_free(decl);
  }
  if (rc == SQLITE_OK) sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
  if (rc == SQLITE_OK) rc = create ? jsq_store_create(t) : jsq_store_read_info(t);
  if (rc != SQLITE_OK) {
    if (!*err && t->base.zErrMsg) *err = sqlite3_mprintf("%s", t->base.zErrMsg);
    sqlite3_free(t->base.zErrMsg);
    free_table(t);
    return rc;
  }
  *out = &t->base;
  return SQLITE_OK;
}

static int x_create(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                    char **err) {
  (void)aux;
  return connect_or_create(db, argc, argv, out, err, 1);
}

static int x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                     char **err) {
  (void)aux;
  return connect_or_create(db, argc, argv, out, err, 0);
}

static int x_disconnect(sqlite3_vtab *v) {
  free_table((jsq_table *)v);
  return SQLITE_OK;
}

static int x_destroy(sqlite3_vtab *v) {
  jsq_table *t = (jsq_table *)v;
  int rc = jsq_store_drop(t);
  if (rc == SQLITE_OK) free_table(t);
  return rc;
}

/* ---- planning ---- */
static int is_id_column(const jsq_table *t, int col) {
  return col == -1 || (t->id_name && col == JSQ_COL_ID);
}

static int x_best_index(sqlite3_vtab *v, sqlite3_index_info *info) {
  jsq_table *t = (jsq_table *)v;
  int at[9];
  for (int i = 0; i < 9; ++i) at[i] = -1;
  enum { A_MATCH, A_K, A_CONFIG, A_DIST, A_SIM, A_ROWID, A_LIMIT, A_OFFSET };
  int plan = 0, unhandled = 0;
  for (int i = 0; i < info->nConstraint; ++i) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    int slot = -1, flag = 0;
    if (c->iColumn == JSQ_COL_FP && c->op == SQLITE_INDEX_CONSTRAINT_MATCH) {
      slot = A_MATCH, flag = PLAN_MATCH;
    } else if (c->iColumn == JSQ_COL_K && c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      slot = A_K, flag = PLAN_K;
    } else if (c->iColumn == JSQ_COL_CONFIG && c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      slot = A_CONFIG, flag = PLAN_CONFIG;
    } else if (c->iColumn == JSQ_COL_DISTANCE &&
               (c->op == SQLITE_INDEX_CONSTRAINT_LE || c->op == SQLITE_INDEX_CONSTRAINT_LT)) {
      slot = A_DIST, flag = c->op == SQLITE_INDEX_CONSTRAINT_LE ? PLAN_LE : PLAN_LT;
    } else if (c->iColumn == JSQ_COL_SIMILARITY &&
               (c->op == SQLITE_INDEX_CONSTRAINT_GE || c->op == SQLITE_INDEX_CONSTRAINT_GT)) {
      slot = A_SIM, flag = c->op == SQLITE_INDEX_CONSTRAINT_GE ? PLAN_GE : PLAN_GT;
    } else if (is_id_column(t, c->iColumn) && c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      slot = A_ROWID, flag = PLAN_ROWID;
    } else if (c->op == SQLITE_INDEX_CONSTRAINT_LIMIT) {
      slot = A_LIMIT, flag = PLAN_LIMIT;
    } else if (c->op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      slot = A_OFFSET, flag = PLAN_OFFSET;
    }
    if (slot < 0 || (at[slot] >= 0 && c->usable)) {
      if (slot != A_LIMIT && slot != A_OFFSET) unhandled = 1;
      continue;
    }
    if (!c->usable) {
      /* fp MATCH, k and config only make sense together: a plan that cannot take them is
       * not a plan (a join order that binds them later is) */
      if (slot == A_MATCH || slot == A_K || slot == A_CONFIG) return SQLITE_CONSTRAINT;
      if (slot != A_LIMIT && slot != A_OFFSET) unhandled = 1;
      continue;
    }
    at[slot] = i;
    plan |= flag;
  }
  /* LIMIT is a top_k only for a search whose every other constraint is ours */
  if (!(plan & PLAN_MATCH) || unhandled) plan &= ~(PLAN_LIMIT | PLAN_OFFSET);
  if (!(plan & PLAN_MATCH)) plan &= ~(PLAN_LE | PLAN_LT | PLAN_GE | PLAN_GT);
  int argv_index = 1;
  for (int slot = A_MATCH; slot <= A_OFFSET; ++slot) {
    if (at[slot] < 0) continue;
    const int flag_of[] = {PLAN_MATCH,        PLAN_K,     PLAN_CONFIG, PLAN_LE | PLAN_LT,
                           PLAN_GE | PLAN_GT, PLAN_ROWID, PLAN_LIMIT,  PLAN_OFFSET};
    if (!(plan & flag_of[slot])) continue;
    info->aConstraintUsage[at[slot]].argvIndex = argv_index++;
    info->aConstraintUsage[at[slot]].omit = 1;
    if (slot == A_ROWID && sqlite3_vtab_in(info, at[slot], -1)) {
      sqlite3_vtab_in(info, at[slot], 1);
      plan |= PLAN_ROWID_IN;
    }
  }
  if (plan & PLAN_MATCH) {
    /* distance ascending is the order of both metrics; similarity descending that of Tanimoto,
     * and of Hamming too when it stands alone (every similarity is NULL). A Hamming search
     * under ORDER BY similarity DESC, rowid is put in rowid order by x_filter. */
    const int n = info->nOrderBy;
    const struct sqlite3_index_orderby *o = info->aOrderBy;
    const int by_distance = n >= 1 && o[0].iColumn == JSQ_COL_DISTANCE && !o[0].desc;
    const int by_similarity = n >= 1 && o[0].iColumn == JSQ_COL_SIMILARITY && o[0].desc;
    int ordered = by_distance || by_similarity;
    if (ordered && n >= 2) ordered = n == 2 && is_id_column(t, o[1].iColumn) && !o[1].desc;
    if (ordered && by_similarity && n == 2) plan |= PLAN_BY_SIMILARITY;
    info->orderByConsumed = ordered;
    info->estimatedCost = (plan & PLAN_ROWID) ? 100.0 : 10000.0;
    info->estimatedRows = 10;
  } else if (plan & PLAN_ROWID) {
    info->estimatedCost = 10.0;
    info->estimatedRows = 1;
    if (!(plan & PLAN_ROWID_IN)) info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
  } else {
    info->estimatedCost = 1e7;
    info->estimatedRows = 1000000;
  }
  info->idxNum = plan;
  return SQLITE_OK;
}

/* ---- cursors ---- */
static int x_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out) {
  (void)v;
  jsq_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->blob_chunk = -1;
  *out = &c->base;
  return SQLITE_OK;
}

static void reset_cursor(jsq_cursor *c) {
  sqlite3_free(c->rows);
  c->rows = NULL;
  c->n = c->i = 0;
}

static int x_close(sqlite3_vtab_cursor *cur) {
  jsq_cursor *c = (jsq_cursor *)cur;
  reset_cursor(c);
  sqlite3_blob_close(c->blob);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* An integer-valued SQL value (INTEGER, or a REAL with no fraction); 0 if not one. */
static int int_of(sqlite3_value *v, int64_t *out) {
  const int type = sqlite3_value_numeric_type(v);
  if (type == SQLITE_INTEGER) {
    *out = sqlite3_value_int64(v);
    return 1;
  }
  if (type == SQLITE_FLOAT) {
    const double d = sqlite3_value_double(v);
    if (d == floor(d) && fabs(d) < 9e18) {
      *out = (int64_t)d;
      return 1;
    }
  }
  return 0;
}

/* The rowid values of rowid = ? or rowid IN (...). */
static int collect_ids(sqlite3_value *v, int in, int64_t **out, int64_t *n) {
  int64_t cap = 16;
  *n = 0;
  *out = sqlite3_malloc64((uint64_t)cap * 8);
  if (!*out) return SQLITE_NOMEM;
  sqlite3_value *x = v;
  int rc = in ? sqlite3_vtab_in_first(v, &x) : SQLITE_OK;
  while (rc == SQLITE_OK && x) {
    int64_t id;
    if (int_of(x, &id)) {
      if (*n == cap) {
        cap *= 2;
        int64_t *grown = sqlite3_realloc64(*out, (uint64_t)cap * 8);
        if (!grown) return SQLITE_NOMEM;
        *out = grown;
      }
      (*out)[(*n)++] = id;
    }
    if (!in) break;
    rc = sqlite3_vtab_in_next(v, &x);
  }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

typedef struct {
  sqlite3_value *match, *k, *config, *dist, *sim, *rowid, *limit, *offset;
} plan_args;

/* The SQL bounds on a Tanimoto row's REALs, tested as SQLite compares two REALs. */
typedef struct {
  int has_sim, sim_strict, has_dist, dist_strict;
  double sim, dist;
} real_bounds;

static int passes(const real_bounds *b, jsq_score s) {
  if (b->has_sim && !(b->sim_strict ? s.similarity > b->sim : s.similarity >= b->sim)) return 0;
  const double d = jsq_jaccard_distance(s.similarity);
  return !b->has_dist || (b->dist_strict ? d < b->dist : d <= b->dist);
}

static int by_rowid(const void *a, const void *b) {
  const int64_t x = ((const jsq_row *)a)->rowid, y = ((const jsq_row *)b)->rowid;
  return x < y ? -1 : x > y;
}

/* The kernel of a search, its config completed for metric: a Hamming bound r becomes
 * max_distance, a Tanimoto one min_sim (NULL: none) min_similarity. */
static jitson_kernel *compile_search(jsq_table *t, const char *config, size_t config_len,
                                     int metric, int64_t top_k, int64_t r, const char *min_sim,
                                     char *err, size_t err_len) {
  const int tanimoto = metric == JITSON_METRIC_TANIMOTO;
  const jsq_config_edit edit = {
      t->bits, top_k, tanimoto ? -1 : r, 0, NULL, tanimoto ? min_sim : NULL, 0};
  char *text = jsq_config_text(config, config_len, &edit);
  if (!text) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  jitson_kernel *kernel = jsq_compile(text, err, err_len);
  sqlite3_free(text);
  return kernel;
}

static int search(jsq_table *t, jsq_cursor *c, int plan, const plan_args *a) {
  if (sqlite3_value_type(a->match) == SQLITE_NULL) return SQLITE_OK; /* MATCH NULL: no rows */
  if (sqlite3_value_type(a->match) != SQLITE_BLOB || sqlite3_value_bytes(a->match) != (int)t->bytes)
    return jsq_error(t, SQLITE_ERROR,
                     "jitson0 %s: the query is %s of %d bytes; the table holds records of %u "
                     "bits (%u bytes)",
                     t->name, sqlite3_value_type(a->match) == SQLITE_BLOB ? "a BLOB" : "not a BLOB",
                     sqlite3_value_bytes(a->match), t->bits, t->bytes);
  int64_t k = -1, r = -1, limit = -1;
  real_bounds bounds = {0};
  if (a->k) {
    if (!int_of(a->k, &k) || k < 1 || k > JSQ_MAX_TOP_K)
      return jsq_error(t, SQLITE_ERROR, "jitson0 %s: k = %s: k is an integer from 1 to %d", t->name,
                       sqlite3_value_text(a->k) ? (const char *)sqlite3_value_text(a->k) : "NULL",
                       JSQ_MAX_TOP_K);
  }
  if (a->dist) {
    const int type = sqlite3_value_numeric_type(a->dist);
    if (type != SQLITE_INTEGER && type != SQLITE_FLOAT)
      return jsq_error(t, SQLITE_ERROR, "jitson0 %s: distance %s needs a number", t->name,
                       plan & PLAN_LE ? "<=" : "<");
    double d = sqlite3_value_double(a->dist);
    bounds.has_dist = 1;
    bounds.dist_strict = !(plan & PLAN_LE);
    bounds.dist = d;
    d = plan & PLAN_LE ? floor(d) : ceil(d) - 1;
    if (d < 0) return SQLITE_OK; /* nothing is that close (1 - similarity is >= 0 too) */
    r = d > 65536 ? 65536 : (int64_t)d;
  }
  if (a->sim) {
    const int type = sqlite3_value_numeric_type(a->sim);
    if (type != SQLITE_INTEGER && type != SQLITE_FLOAT)
      return jsq_error(t, SQLITE_ERROR, "jitson0 %s: similarity %s needs a number", t->name,
                       plan & PLAN_GE ? ">=" : ">");
    bounds.has_sim = 1;
    bounds.sim_strict = !(plan & PLAN_GE);
    bounds.sim = sqlite3_value_double(a->sim);
  }
  if (a->limit) {
    int64_t off = 0;
    if (!int_of(a->limit, &limit) || limit < 0) limit = -1;
    if (limit >= 0 && a->offset && int_of(a->offset, &off) && off > 0) limit += off;
    if (limit == 0) return SQLITE_OK;
  }
  const char *config = a->config && sqlite3_value_type(a->config) != SQLITE_NULL
                           ? (const char *)sqlite3_value_text(a->config)
                           : NULL;
  const size_t config_len = config ? (size_t)sqlite3_value_bytes(a->config) : 0;
  const jsq_config_fields f = jsq_config_read(config, config_len);
  char err[600];
  if (jsq_config_check_bits(&f, t->bits, "the table's records", err, sizeof err) != 0)
    return jsq_error(t, SQLITE_ERROR, "jitson0 %s: %s", t->name, err);
  int64_t top_k = k;
  if (limit >= 0 && (top_k < 0 || limit < top_k)) top_k = limit;
  if (top_k < 0 && f.top_k >= 1) top_k = f.top_k;
  if (top_k < 0) {
    if (r < 0 && !bounds.has_sim && f.max_distance < 0 && !f.has_min_similarity)
      return jsq_error(t, SQLITE_ERROR,
                       "jitson0 %s: fp MATCH needs k = N, a LIMIT, distance <= r or similarity "
                       ">= t (or top_k / max_distance / min_similarity in the config)",
                       t->name);
    const int64_t live = jsq_store_live(t);
    if (live <= 0) return live < 0 ? SQLITE_ERROR : SQLITE_OK;
    top_k = live < JSQ_MAX_TOP_K ? live : JSQ_MAX_TOP_K; /* range search: every hit */
  }
  if (top_k > JSQ_MAX_TOP_K) top_k = JSQ_MAX_TOP_K;
  if (r >= 0 && f.max_distance >= 0 && f.max_distance < r) r = f.max_distance;
  /* A Tanimoto search's SQL bounds, as a min_similarity for the kernel when the config has none
   * (with one, the config's exact bound scans and the SQL bounds only test the rows). */
  char floor_text[32];
  const char *min_sim = NULL;
  if (!f.has_min_similarity) {
    double lo = bounds.has_sim ? bounds.sim : -1;
    if (bounds.has_dist && 1.0 - bounds.dist > lo) lo = 1.0 - bounds.dist;
    if (jsq_similarity_floor(lo, floor_text, sizeof floor_text)) min_sim = floor_text;
  }
  jitson_kernel *kernel =
      compile_search(t, config, config_len, f.metric, top_k, r, min_sim, err, sizeof err);
  if (!kernel) return jsq_error(t, SQLITE_ERROR, "jitson0 %s: %s", t->name, err);
  const int tanimoto = f.metric == JITSON_METRIC_TANIMOTO;
  if (jitson_kernel_metric(kernel) != f.metric) {
    jitson_kernel_release(kernel);
    return jsq_error(t, SQLITE_ERROR, "jitson0 %s: internal: the config's metric was misread",
                     t->name);
  }
  if (!tanimoto && bounds.has_sim) {
    jitson_kernel_release(kernel);
    return jsq_error(t, SQLITE_ERROR,
                     "jitson0 %s: similarity %s applies to metric \"tanimoto\" (config = "
                     "'{\"metric\": \"tanimoto\"}'); a Hamming search has no similarity and is "
                     "bounded with distance <= r",
                     t->name, plan & PLAN_GE ? ">=" : ">");
  }
  if (bounds.has_sim && (bounds.sim_strict ? bounds.sim >= 1 : bounds.sim > 1)) {
    jitson_kernel_release(kernel);
    return SQLITE_OK; /* no similarity exceeds 1 */
  }
  int64_t *ids = NULL, n_ids = 0;
  int rc = SQLITE_OK;
  if (plan & PLAN_ROWID) rc = collect_ids(a->rowid, plan & PLAN_ROWID_IN, &ids, &n_ids);
  if (rc == SQLITE_OK)
    rc = jsq_search(t, kernel, sqlite3_value_blob(a->match), (plan & PLAN_ROWID) ? ids : NULL,
                    n_ids, (uint64_t)top_k, &c->rows, &c->n);
  sqlite3_free(ids);
  jitson_kernel_release(kernel);
  if (rc == SQLITE_OK && tanimoto && (bounds.has_sim || bounds.has_dist)) {
    /* the rows past the kernel's margin; what is left is a prefix of the order, so the first
     * top_k rows of the kernel that pass are the first top_k that pass */
    int64_t kept = 0;
    for (int64_t i = 0; i < c->n; ++i)
      if (passes(&bounds, c->rows[i].score)) c->rows[kept++] = c->rows[i];
    c->n = kept;
  }
  if (rc == SQLITE_OK && !tanimoto && (plan & PLAN_BY_SIMILARITY))
    qsort(c->rows, (size_t)c->n, sizeof *c->rows, by_rowid); /* every similarity is NULL */
  return rc;
}

static int x_filter(sqlite3_vtab_cursor *cur, int plan, const char *idx_str, int argc,
                    sqlite3_value **argv) {
  (void)idx_str;
  jsq_cursor *c = (jsq_cursor *)cur;
  jsq_table *t = (jsq_table *)cur->pVtab;
  reset_cursor(c);
  int rc = jsq_store_flush(t);
  if (rc != SQLITE_OK) return rc;
  plan_args a = {0};
  int i = 0;
  if (plan & PLAN_MATCH) a.match = argv[i++];
  if (plan & PLAN_K) a.k = argv[i++];
  if (plan & PLAN_CONFIG) a.config = argv[i++];
  if (plan & (PLAN_LE | PLAN_LT)) a.dist = argv[i++];
  if (plan & (PLAN_GE | PLAN_GT)) a.sim = argv[i++];
  if (plan & PLAN_ROWID) a.rowid = argv[i++];
  if (plan & PLAN_LIMIT) a.limit = argv[i++];
  if (plan & PLAN_OFFSET) a.offset = argv[i++];
  if (i != argc)
    return jsq_error(t, SQLITE_ERROR, "jitson0 %s: internal: plan/argument mismatch", t->name);
  if (plan & PLAN_MATCH) return search(t, c, plan, &a);
  if (plan & (PLAN_K | PLAN_CONFIG))
    return jsq_error(t, SQLITE_ERROR, "jitson0 %s: k and config need fp MATCH :query", t->name);
  if (plan & PLAN_ROWID) {
    int64_t *ids = NULL, n = 0;
    rc = collect_ids(a.rowid, plan & PLAN_ROWID_IN, &ids, &n);
    if (rc == SQLITE_OK && n) {
      c->rows = sqlite3_malloc64((uint64_t)n * sizeof *c->rows);
      if (!c->rows) rc = SQLITE_NOMEM;
    }
    for (int64_t j = 0; rc == SQLITE_OK && j < n; ++j) {
      int found;
      jsq_row *row = &c->rows[c->n];
      rc = jsq_store_locate(t, ids[j], &row->chunk_id, &row->slot, &found);
      if (found) {
        row->rowid = ids[j];
        row->score = jsq_no_score();
        c->n++;
      }
    }
    sqlite3_free(ids);
    return rc;
  }
  return jsq_scan_all(t, &c->rows, &c->n);
}

static int x_next(sqlite3_vtab_cursor *cur) {
  ((jsq_cursor *)cur)->i++;
  return SQLITE_OK;
}

static int x_eof(sqlite3_vtab_cursor *cur) {
  jsq_cursor *c = (jsq_cursor *)cur;
  return c->i >= c->n;
}

static int x_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  jsq_cursor *c = (jsq_cursor *)cur;
  *out = c->rows[c->i].rowid;
  return SQLITE_OK;
}

static int read_fp(jsq_table *t, jsq_cursor *c, sqlite3_context *ctx) {
  jsq_row *row = &c->rows[c->i];
  if (row->chunk_id < 0) {
    int found, rc = jsq_store_locate(t, row->rowid, &row->chunk_id, &row->slot, &found);
    if (rc != SQLITE_OK) return rc;
    if (!found) return SQLITE_OK; /* deleted meanwhile: NULL */
  }
  if (c->blob && (c->blob_chunk != row->chunk_id || sqlite3_blob_bytes(c->blob) <= 0)) {
    if (sqlite3_blob_reopen(c->blob, row->chunk_id) != SQLITE_OK) {
      sqlite3_blob_close(c->blob);
      c->blob = NULL;
    }
  }
  char *name = NULL;
  int rc = SQLITE_OK;
  if (!c->blob) {
    name = sqlite3_mprintf("%s_vectors", t->name);
    rc = name ? sqlite3_blob_open(t->db, t->schema, name, "data", row->chunk_id, 0, &c->blob)
              : SQLITE_NOMEM;
    sqlite3_free(name);
    if (rc != SQLITE_OK) {
      sqlite3_blob_close(c->blob);
      c->blob = NULL;
      return jsq_error(t, SQLITE_CORRUPT_VTAB,
                       "jitson0 %s: shadow chunk %lld: cannot read its "
                       "vectors blob: %s",
                       t->name, (long long)row->chunk_id, sqlite3_errmsg(t->db));
    }
  }
  c->blob_chunk = row->chunk_id;
  rc = jsq_check_data(t, row->chunk_id, "vectors", sqlite3_blob_bytes(c->blob),
                      (int)(t->chunk_records * t->bytes));
  if (rc != SQLITE_OK) return rc;
  uint8_t *buf = sqlite3_malloc(t->bytes);
  if (!buf) return SQLITE_NOMEM;
  rc = sqlite3_blob_read(c->blob, buf, (int)t->bytes, (int)(row->slot * t->bytes));
  if (rc == SQLITE_ABORT) { /* the blob expired under a write: open it again */
    sqlite3_blob_close(c->blob);
    c->blob = NULL;
    sqlite3_free(buf);
    return read_fp(t, c, ctx);
  }
  if (rc != SQLITE_OK) {
    sqlite3_free(buf);
    return jsq_error(t, rc, "jitson0 %s: shadow chunk %lld: %s", t->name, (long long)row->chunk_id,
                     sqlite3_errmsg(t->db));
  }
  sqlite3_result_blob(ctx, buf, (int)t->bytes, sqlite3_free);
  return SQLITE_OK;
}

static int x_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  jsq_cursor *c = (jsq_cursor *)cur;
  jsq_table *t = (jsq_table *)cur->pVtab;
  switch (col) {
    case JSQ_COL_FP:
      if (sqlite3_vtab_nochange(ctx)) return SQLITE_OK; /* an UPDATE that leaves fp alone */
      return read_fp(t, c, ctx);
    case JSQ_COL_DISTANCE:
      jsq_result_distance(ctx, c->rows[c->i].score);
      return SQLITE_OK;
    case JSQ_COL_SIMILARITY:
      jsq_result_similarity(ctx, c->rows[c->i].score);
      return SQLITE_OK;
    case JSQ_COL_ID:
      sqlite3_result_int64(ctx, c->rows[c->i].rowid);
      return SQLITE_OK;
    default:
      return SQLITE_OK; /* k, config: NULL */
  }
}

/* ---- writes ---- */
static int check_record(jsq_table *t, sqlite3_value *v, const char *what) {
  if (sqlite3_value_type(v) == SQLITE_NULL)
    return jsq_error(t, SQLITE_CONSTRAINT, "jitson0 %s: fp may not be NULL; row not %s", t->name,
                     what);
  if (sqlite3_value_type(v) != SQLITE_BLOB || sqlite3_value_bytes(v) != (int)t->bytes)
    return jsq_error(t, SQLITE_CONSTRAINT,
                     "jitson0 %s: fp is %s of %d bytes; the table holds records of %u bits (%u "
                     "bytes); row not %s",
                     t->name, sqlite3_value_type(v) == SQLITE_BLOB ? "a BLOB" : "not a BLOB",
                     sqlite3_value_bytes(v), t->bits, t->bytes, what);
  return SQLITE_OK;
}

/* The row id an INSERT or UPDATE asks for: rowid, or the primary_key column. */
static int wanted_rowid(jsq_table *t, sqlite3_value *rowid, sqlite3_value *id, int64_t *out,
                        int *given) {
  *given = 0;
  sqlite3_value *v[2] = {rowid, id};
  for (int i = 0; i < 2; ++i) {
    if (!v[i] || sqlite3_value_type(v[i]) == SQLITE_NULL) continue;
    int64_t x;
    if (!int_of(v[i], &x))
      return jsq_error(t, SQLITE_MISMATCH, "jitson0 %s: %s must be an integer", t->name,
                       i ? t->id_name : "rowid");
    if (*given && x != *out)
      return jsq_error(t, SQLITE_CONSTRAINT, "jitson0 %s: rowid %lld and %s %lld disagree", t->name,
                       (long long)*out, t->id_name, (long long)x);
    *out = x;
    *given = 1;
  }
  return SQLITE_OK;
}

static int x_update(sqlite3_vtab *v, int argc, sqlite3_value **argv, sqlite3_int64 *out_rowid) {
  jsq_table *t = (jsq_table *)v;
  if (argc == 1) return jsq_store_delete(t, sqlite3_value_int64(argv[0]));
  const int replace = sqlite3_vtab_on_conflict(t->db) == SQLITE_REPLACE;
  sqlite3_value *fp = argv[2 + JSQ_COL_FP];
  sqlite3_value *id = t->id_name ? argv[2 + JSQ_COL_ID] : NULL;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    int rc = check_record(t, fp, "inserted");
    int64_t rowid = 0;
    int given;
    if (rc == SQLITE_OK) rc = wanted_rowid(t, argv[1], id, &rowid, &given);
    if (rc == SQLITE_OK) rc = jsq_store_insert(t, &rowid, given, sqlite3_value_blob(fp), replace);
    if (rc == SQLITE_OK) *out_rowid = rowid;
    return rc;
  }
  const int64_t old = sqlite3_value_int64(argv[0]);
  const int unchanged = sqlite3_value_nochange(fp);
  int rc = unchanged ? SQLITE_OK : check_record(t, fp, "updated");
  int64_t rowid = old;
  int given;
  /* a changed primary_key column wins over the unchanged rowid SQLite passes along */
  if (rc == SQLITE_OK && id && sqlite3_value_type(id) != SQLITE_NULL &&
      sqlite3_value_int64(id) != old && sqlite3_value_int64(argv[1]) == old)
    rc = wanted_rowid(t, NULL, id, &rowid, &given);
  else if (rc == SQLITE_OK)
    rc = wanted_rowid(t, argv[1], NULL, &rowid, &given);
  if (rc != SQLITE_OK) return rc;
  return jsq_store_update(t, old, rowid, unchanged ? NULL : sqlite3_value_blob(fp), replace);
}

/* ---- transactions: pending inserts are written before anything can observe them ---- */
static int x_begin(sqlite3_vtab *v) {
  jsq_store_discard((jsq_table *)v);
  return SQLITE_OK;
}

static int x_sync(sqlite3_vtab *v) {
  return jsq_store_flush((jsq_table *)v);
}

static int x_commit(sqlite3_vtab *v) {
  (void)v;
  return SQLITE_OK;
}

static int x_rollback(sqlite3_vtab *v) {
  jsq_store_discard((jsq_table *)v);
  return SQLITE_OK;
}

static int x_savepoint(sqlite3_vtab *v, int n) {
  (void)n;
  return jsq_store_flush((jsq_table *)v);
}

static int x_release(sqlite3_vtab *v, int n) {
  (void)v;
  (void)n;
  return SQLITE_OK;
}

static int x_rollback_to(sqlite3_vtab *v, int n) {
  (void)n;
  jsq_store_discard((jsq_table *)v);
  return SQLITE_OK;
}

static int x_rename(sqlite3_vtab *v, const char *new_name) {
  jsq_table *t = (jsq_table *)v;
  int rc = jsq_store_flush(t);
  if (rc != SQLITE_OK) return rc;
  static const char *const shadows[] = {"info", "chunks", "vectors", "blocked", "rowids"};
  for (int i = 0; i < 5 && rc == SQLITE_OK; ++i) {
    char *sql = sqlite3_mprintf("ALTER TABLE \"%w\".\"%w_%s\" RENAME TO \"%w_%s\"", t->schema,
                                t->name, shadows[i], new_name, shadows[i]);
    rc = sql ? sqlite3_exec(t->db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
  }
  if (rc != SQLITE_OK)
    return jsq_error(t, rc, "jitson0 %s: rename: %s", t->name, sqlite3_errmsg(t->db));
  jsq_store_close(t); /* statements name the old tables */
  char *name = sqlite3_mprintf("%s", new_name);
  if (!name) return SQLITE_NOMEM;
  sqlite3_free(t->name);
  t->name = name;
  return SQLITE_OK;
}

static int x_shadow_name(const char *suffix) {
  static const char *const shadows[] = {"info", "chunks", "vectors", "blocked", "rowids"};
  for (int i = 0; i < 5; ++i)
    if (sqlite3_stricmp(suffix, shadows[i]) == 0) return 1;
  return 0;
}

static sqlite3_module module = {
    .iVersion = 3,
    .xCreate = x_create,
    .xConnect = x_connect,
    .xBestIndex = x_best_index,
    .xDisconnect = x_disconnect,
    .xDestroy = x_destroy,
    .xOpen = x_open,
    .xClose = x_close,
    .xFilter = x_filter,
    .xNext = x_next,
    .xEof = x_eof,
    .xColumn = x_column,
    .xRowid = x_rowid,
    .xUpdate = x_update,
    .xBegin = x_begin,
    .xSync = x_sync,
    .xCommit = x_commit,
    .xRollback = x_rollback,
    .xRename = x_rename,
    .xSavepoint = x_savepoint,
    .xRelease = x_release,
    .xRollbackTo = x_rollback_to,
    .xShadowName = x_shadow_name,
};

int jsq_register_vtab(sqlite3 *db) {
  return sqlite3_create_module_v2(db, "jitson0", &module, NULL, NULL);
}
