// The per-ISA kernels behind KernelTable (include/jitson/kernels.hpp), SimSIMD style:
// <metric>_<isa>, every SIMD kernel with a scalar twin of the same signature.
//
// *_scalar      baseline x86-64 (kernels/*_scalar.cpp)
// *_avx2        AVX2 POPCNT FMA BMI2 F16C, the requirement of Isa::avx2 (kernels/*_avx2.cpp)
// *_avx512      the avx2 set + AVX512F/BW/VL/DQ/VPOPCNTDQ, the requirement of Isa::avx512
// *_avx512vnni  additionally AVX512-VNNI; dispatch uses it only when the CPU reports VNNI
// The file suffix is the flag set (cmake/JitsonFlags.cmake), and tests/isa_audit.py checks the
// built library: a function using an extension must live in a file of that extension.
//
// Every kernel: any byte length, any alignment, no allocation, no I/O, and it never reads
// outside [p, p + n) of its arguments. Signatures are exactly KernelTable's function pointers.
// bf16_awareness_* need n_vectors 2 or 3 (asserted; other counts stay memory-safe).
// hamming_many_* store u32 distances: exact for n < 512 MiB per record.
#pragma once

#include <cstddef>
#include <cstdint>

#include "jitson/kernels.hpp"

namespace jitson::impl {

// scalar
uint64_t hamming_scalar(const uint8_t *a, const uint8_t *b, size_t n);
uint64_t hamming_masked_scalar(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n);
EnergyConflict energy_conflict_scalar(const uint8_t *a, const uint8_t *b, size_t n);
int64_t dot_i8_scalar(const uint8_t *a, const uint8_t *b, size_t n);
uint64_t bf16_distance_scalar(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w);
void bf16_awareness_scalar(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                           AwarenessThresholds t, uint8_t *states, uint8_t *consensus,
                           uint8_t *exp_spread, uint8_t *mantissa_noise);
void hamming_many_scalar(const uint8_t *query, const uint8_t *records, size_t stride, size_t count,
                         size_t n, uint32_t *out);
void word_popcounts_scalar(const uint8_t *records, size_t stride, size_t count, size_t n,
                           uint8_t *out);
size_t select_word_overlap_scalar(const uint8_t *query_counts, const uint8_t *counts,
                                  size_t n_words, size_t count, uint32_t need, uint32_t *selected);
void hamming_tile_scalar(const uint8_t *const *queries, size_t n_queries, const uint8_t *records,
                         size_t stride, size_t count, const TileLine *lines, size_t n_lines,
                         uint32_t *out);

// avx2
uint64_t hamming_avx2(const uint8_t *a, const uint8_t *b, size_t n);
uint64_t hamming_masked_avx2(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n);
EnergyConflict energy_conflict_avx2(const uint8_t *a, const uint8_t *b, size_t n);
int64_t dot_i8_avx2(const uint8_t *a, const uint8_t *b, size_t n);
uint64_t bf16_distance_avx2(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w);
void bf16_awareness_avx2(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                         AwarenessThresholds t, uint8_t *states, uint8_t *consensus,
                         uint8_t *exp_spread, uint8_t *mantissa_noise);
void hamming_many_avx2(const uint8_t *query, const uint8_t *records, size_t stride, size_t count,
                       size_t n, uint32_t *out);
void word_popcounts_avx2(const uint8_t *records, size_t stride, size_t count, size_t n,
                         uint8_t *out);
size_t select_word_overlap_avx2(const uint8_t *query_counts, const uint8_t *counts, size_t n_words,
                                size_t count, uint32_t need, uint32_t *selected);
void hamming_tile_avx2(const uint8_t *const *queries, size_t n_queries, const uint8_t *records,
                       size_t stride, size_t count, const TileLine *lines, size_t n_lines,
                       uint32_t *out);

// avx512
uint64_t hamming_avx512(const uint8_t *a, const uint8_t *b, size_t n);
uint64_t hamming_masked_avx512(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n);
EnergyConflict energy_conflict_avx512(const uint8_t *a, const uint8_t *b, size_t n);
int64_t dot_i8_avx512(const uint8_t *a, const uint8_t *b, size_t n);
uint64_t bf16_distance_avx512(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w);
void bf16_awareness_avx512(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                           AwarenessThresholds t, uint8_t *states, uint8_t *consensus,
                           uint8_t *exp_spread, uint8_t *mantissa_noise);
void hamming_many_avx512(const uint8_t *query, const uint8_t *records, size_t stride, size_t count,
                         size_t n, uint32_t *out);
void word_popcounts_avx512(const uint8_t *records, size_t stride, size_t count, size_t n,
                           uint8_t *out);
size_t select_word_overlap_avx512(const uint8_t *query_counts, const uint8_t *counts,
                                  size_t n_words, size_t count, uint32_t need, uint32_t *selected);
void hamming_tile_avx512(const uint8_t *const *queries, size_t n_queries, const uint8_t *records,
                         size_t stride, size_t count, const TileLine *lines, size_t n_lines,
                         uint32_t *out);

// dot_i8 with VPDPBUSD (AVX512-VNNI on top of the avx512 tier).
int64_t dot_i8_avx512vnni(const uint8_t *a, const uint8_t *b, size_t n);

}  // namespace jitson::impl
