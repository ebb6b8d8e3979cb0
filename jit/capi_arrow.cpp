// The C API's Arrow functions (jitson/arrow.h): exception-free shells over jitson/arrow.hpp.
#include "jitson/arrow.h"

#include <string>

#include "jit/capi_internal.hpp"
#include "jitson/arrow.hpp"

namespace {

[[noreturn]] void invalid(const std::string &message) {
  throw jitson::Error(jitson::ErrorKind::invalid_argument, message);
}

void require(const void *p, const char *name) {
  if (!p) invalid(std::string(name) + " is NULL");
}

}  // namespace

extern "C" {

jitson_topk *jitson_topk_create_arrow(const jitson_kernel *k, const struct ArrowSchema *schema,
                                      const struct ArrowArray *array, char *err, size_t err_len) {
  return guarded<jitson_topk *>(err, err_len, nullptr, [&]() -> jitson_topk * {
    require(k, "kernel");
    require(schema, "queries schema");
    require(array, "queries array");
    return new jitson_topk{jitson::arrow::make_topk(k->kernel, *schema, *array)};
  });
}

int jitson_topk_feed_arrow(jitson_topk *t, const struct ArrowSchema *values_schema,
                           const struct ArrowArray *values, const struct ArrowSchema *ids_schema,
                           const struct ArrowArray *ids, uint64_t base_row, char *err,
                           size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    require(t, "accumulator");
    require(values_schema, "values schema");
    require(values, "values array");
    jitson::arrow::feed(t->acc, *values_schema, *values, ids_schema, ids, base_row);
    return 0;
  });
}

int jitson_topk_feed_arrow_stream(jitson_topk *t, struct ArrowArrayStream *stream,
                                  const char *column, const char *id_column, char *err,
                                  size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    require(t, "accumulator");
    require(stream, "stream");
    jitson::arrow::feed_stream(t->acc, *stream, column, id_column);
    return 0;
  });
}

int jitson_arrow_records(const struct ArrowSchema *schema, const struct ArrowArray *array,
                         uint32_t record_bytes, const uint8_t **records, uint64_t *n_records,
                         char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    require(schema, "schema");
    require(array, "array");
    require(records, "records");
    require(n_records, "n_records");
    const jitson::DatabaseView v = jitson::arrow::records(*schema, *array, record_bytes);
    *records = v.data;
    *n_records = v.n_records;
    return 0;
  });
}

}  // extern "C"
