/* One jitson engine per process. SQLite runs a statement on the caller's thread, so the engine
 * starts no threads ({"threads": 1}); its kernel cache is shared by every connection (the engine
 * is thread-safe) and lives until the process ends, as the extension's code does. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "jitson_sqlite.h"

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static jitson_engine *engine;

jitson_engine *jsq_engine(char *err, size_t err_len) {
  pthread_mutex_lock(&engine_lock);
  if (!engine) {
    char why[256] = "";
    engine = jitson_engine_create("{\"threads\": 1}", why, sizeof why);
    if (!engine) snprintf(err, err_len, "jitson: cannot create the engine: %s", why);
  }
  jitson_engine *e = engine;
  pthread_mutex_unlock(&engine_lock);
  return e;
}

jitson_kernel *jsq_compile(const char *text, char *err, size_t err_len) {
  jitson_engine *e = jsq_engine(err, err_len);
  if (!e) return NULL;
  char why[512] = "";
  jitson_kernel *k = jitson_compile(e, text, strlen(text), why, sizeof why);
  if (!k) snprintf(err, err_len, "jitson config: %s", why);
  return k;
}

int jsq_prefers_sweep(const jitson_kernel *k) {
  const char *d = jitson_kernel_describe(k);
  return d && strstr(d, " prefer=blocked") != NULL;
}
