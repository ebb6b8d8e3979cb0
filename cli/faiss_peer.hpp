// FAISS IndexBinaryFlat as a peer for `jitson bench`, in its own shared object
// (libjitson_faiss_peer.so, cli/bench_peer/) loaded with dlopen by `jitson bench` only: FAISS
// brings OpenBLAS, LAPACK and OpenMP with it, and no other command should load them.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
// Builds an index over n records of bits/8 bytes (copied by FAISS). NULL with a message in err.
void *jitson_faiss_create(uint32_t bits, const uint8_t *records, uint64_t n, char *err,
                          size_t err_len);
// k nearest by full Hamming distance for n_queries queries, on `threads` OpenMP threads:
// distances and labels hold n_queries * k entries. 0, or -1 with a message in err.
int jitson_faiss_search(void *index, const uint8_t *queries, uint64_t n_queries, uint32_t k,
                        unsigned threads, int32_t *distances, int64_t *labels, char *err,
                        size_t err_len);
void jitson_faiss_destroy(void *index);
}
