// The FAISS peer of `jitson bench`: see cli/faiss_peer.hpp.
#include "faiss_peer.hpp"

#include <omp.h>

#include <cstdio>
#include <exception>
#include <type_traits>

#include <faiss/IndexBinaryFlat.h>

namespace {

using idx_t = faiss::IndexBinary::idx_t;
static_assert(std::is_same_v<idx_t, int64_t>, "labels are FAISS ids");

template <class T, class Body>
T guarded(char *err, size_t err_len, T fallback, Body body) {
  try {
    return body();
  } catch (const std::exception &e) {
    if (err && err_len) std::snprintf(err, err_len, "faiss: %s", e.what());
  }
  return fallback;
}

}  // namespace

extern "C" void *jitson_faiss_create(uint32_t bits, const uint8_t *records, uint64_t n, char *err,
                                     size_t err_len) {
  return guarded<void *>(err, err_len, nullptr, [&]() -> void * {
    auto *index = new faiss::IndexBinaryFlat(static_cast<idx_t>(bits));
    index->add(static_cast<idx_t>(n), records);
    return index;
  });
}

extern "C" int jitson_faiss_search(void *index, const uint8_t *queries, uint64_t n_queries,
                                   uint32_t k, unsigned threads, int32_t *distances,
                                   int64_t *labels, char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    omp_set_num_threads(static_cast<int>(threads));
    // The handle comes from jitson_faiss_create, which made an IndexBinaryFlat.
    static_cast<faiss::IndexBinaryFlat *>(index)->search(static_cast<idx_t>(n_queries), queries,
                                                         static_cast<idx_t>(k), distances, labels);
    return 0;
  });
}

extern "C" void jitson_faiss_destroy(void *index) {
  delete static_cast<faiss::IndexBinaryFlat *>(index);
}
