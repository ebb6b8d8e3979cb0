/* Entry point of libjitson_sqlite.so: `.load libjitson_sqlite` in the sqlite3 shell (SQLite
 * derives sqlite3_jitsonsqlite_init from the file name) or sqlite3_load_extension(). */
#include "jitson_sqlite.h"

SQLITE_EXTENSION_INIT1

static void version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3_result_text(ctx, jitson_version(), -1, SQLITE_STATIC);
}

/* jitson_explain(config): what a config compiles to (backend, ISA, stages, and prefer=row|blocked,
 * the planner's choice for tables with block_records). */
static void explain_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *config = (const char *)sqlite3_value_text(argv[0]);
  if (!config) return;
  char err[600];
  jitson_kernel *k = jsq_compile(config, err, sizeof err);
  if (!k) {
    sqlite3_result_error(ctx, err, -1);
    return;
  }
  sqlite3_result_text(ctx, jitson_kernel_describe(k), -1, SQLITE_TRANSIENT);
  jitson_kernel_release(k);
}

#define JSQ_EXPORT __attribute__((visibility("default")))

JSQ_EXPORT int sqlite3_jitsonsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  if (sqlite3_libversion_number() < 3038000) {
    *err = sqlite3_mprintf("jitson: SQLite %s is too old; the extension needs 3.38 or newer",
                           sqlite3_libversion());
    return SQLITE_ERROR;
  }
  int rc = sqlite3_create_function_v2(db, "jitson_version", 0,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                      version_func, NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function_v2(db, "jitson_explain", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL,
                                    explain_func, NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = jsq_register_distance(db);
  if (rc == SQLITE_OK) rc = jsq_register_vtab(db);
  if (rc == SQLITE_OK) rc = jsq_register_topk(db);
  if (rc != SQLITE_OK)
    *err = sqlite3_mprintf("jitson: registering the functions failed: %s", sqlite3_errmsg(db));
  return rc;
}

JSQ_EXPORT int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  return sqlite3_jitsonsqlite_init(db, err, api);
}
