// What the C API's translation units (capi.cpp, capi_db.cpp, capi_gemm.cpp, capi_arrow.cpp)
// share: the opaque handles and the exception-to-message shell. Internal to jit/.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <new>

#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/jitson.h"
#include "jitson/popcount.hpp"
#include "jitson/topk.hpp"

struct jitson_kernel {
  std::shared_ptr<const jitson::Kernel> kernel;
};

struct jitson_topk {
  jitson::TopKAccumulator acc;
};

// A mapped fingerprint file; read-only after open, so one handle serves any number of threads.
struct jitson_db {
  jitson::FingerprintFile file;
  // A popcount-ordered file's order, verified at open: scans report original indices through it.
  std::optional<jitson::PopcountOrder> order;
};

// Internal linkage, as when these lived in capi.cpp alone: each C API file gets its own copy and
// nothing here becomes a symbol of libjitson.
namespace {

inline void set_error(char *err, size_t err_len, const char *message) {
  if (err && err_len > 0) std::snprintf(err, err_len, "%s", message);
}

inline void clear_error(char *err, size_t err_len) {
  if (err && err_len > 0) err[0] = '\0';
}

// Runs body, turning every exception into an error message and the fallback value: no exception
// may cross the C boundary.
template <class T, class Body>
T guarded(char *err, size_t err_len, T fallback, Body body) {
  try {
    clear_error(err, err_len);
    return body();
  } catch (const std::bad_alloc &) {
    set_error(err, err_len, "out of memory");
  } catch (const std::exception &e) {
    set_error(err, err_len, e.what());
  } catch (...) {
    set_error(err, err_len, "unknown error");
  }
  return fallback;
}

inline void copy_stats(const jitson::ScanStats &s, jitson_stats *out) {
  if (!out) return;
  out->records = s.records;
  out->evaluated_full = s.evaluated_full;
  out->hits = s.hits;
  for (int i = 0; i < 8; ++i) out->rejected_by_stage[i] = s.rejected_by_stage[size_t(i)];
}

}  // namespace
