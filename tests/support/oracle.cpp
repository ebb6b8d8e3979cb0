#include "support/oracle.hpp"

#include <algorithm>
#include <bit>

namespace jitson::oracle {

uint64_t hamming(const uint8_t *a, const uint8_t *b, size_t n_bytes) {
  uint64_t d = 0;
  for (size_t i = 0; i < n_bytes * 8; ++i) d += bit(a, i) != bit(b, i);
  return d;
}

uint64_t hamming_masked(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n_bytes) {
  uint64_t d = 0;
  for (size_t i = 0; i < n_bytes * 8; ++i) d += bit(mask, i) && bit(a, i) != bit(b, i);
  return d;
}

EnergyConflict energy_conflict(const uint8_t *a, const uint8_t *b, size_t n_bytes) {
  EnergyConflict e;
  for (size_t i = 0; i < n_bytes * 8; ++i) {
    e.conflict += bit(a, i) != bit(b, i);
    e.energy_a += bit(a, i);
    e.energy_b += bit(b, i);
    e.agreement += bit(a, i) && bit(b, i);
  }
  return e;
}

int64_t dot_i8(const uint8_t *a, const uint8_t *b, size_t n_bytes) {
  int64_t s = 0;
  for (size_t i = 0; i < n_bytes; ++i) s += int64_t(int8_t(a[i])) * int64_t(int8_t(b[i]));
  return s;
}

static int ones(unsigned x) {
  int c = 0;
  for (; x; x >>= 1) c += x & 1;
  return c;
}

uint64_t bf16_distance(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w) {
  uint64_t d = 0;
  for (size_t i = 0; i < n_dims; ++i) {
    unsigned x = unsigned(a[i] ^ b[i]);
    d += uint64_t((x >> 15) & 1) * w.sign + uint64_t(ones((x >> 7) & 0xFF)) * w.exponent +
         uint64_t(ones(x & 0x7F)) * w.mantissa;
  }
  return d;
}

void bf16_awareness(const uint16_t *const *v, size_t n_vectors, size_t n_dims,
                    AwarenessThresholds t, uint8_t *states, uint8_t *consensus, uint8_t *exp_spread,
                    uint8_t *mantissa_noise) {
  for (size_t d = 0; d < n_dims; ++d) {
    int agree = 0, pairs = 0, max_exp = 0;
    bool noise = false;
    for (size_t i = 0; i < n_vectors; ++i) {
      for (size_t j = i + 1; j < n_vectors; ++j) {
        unsigned x = unsigned(v[i][d] ^ v[j][d]);
        ++pairs;
        agree += ((x >> 15) & 1) == 0;
        max_exp = std::max(max_exp, ones((x >> 7) & 0xFF));
        noise = noise || ones(x & 0x7F) > t.mantissa_noise;
      }
    }
    uint8_t c;
    if (pairs == 1) {
      c = agree ? 255 : 0;
    } else {
      static const uint8_t table[4] = {0, 85, 170, 255};
      c = table[agree];
    }
    uint8_t s;
    if (c < t.sign_consensus) {
      s = uint8_t(Awareness::tensioned);
    } else if (max_exp > t.exp_spread) {
      s = uint8_t(Awareness::uncertain);
    } else if (noise && max_exp == 0 && c == 255) {
      s = uint8_t(Awareness::noise);
    } else {
      s = uint8_t(Awareness::crystallized);
    }
    states[d] = s;
    if (consensus) consensus[d] = c;
    if (exp_spread) exp_spread[d] = uint8_t(max_exp);
    if (mantissa_noise) mantissa_noise[d] = noise;
  }
}

std::vector<Hit> scan(const uint8_t *query, const uint8_t *records, uint64_t n_records,
                      size_t record_bytes, std::span<const uint64_t> mask, uint32_t max_distance,
                      uint32_t top_k) {
  // Word-wise popcount (equal to the bit loop above by §1.2) so that large differential runs
  // stay fast; the per-bit definition is checked against it in test_kernels.
  const size_t words = record_bytes / 8;
  auto word = [](const uint8_t *p, size_t w) {
    uint64_t x = 0;
    for (int k = 7; k >= 0; --k) x = (x << 8) | p[8 * w + size_t(k)];
    return x;
  };
  std::vector<Hit> all;
  for (uint64_t r = 0; r < n_records; ++r) {
    const uint8_t *rec = records + r * record_bytes;
    uint64_t d = 0;
    for (size_t w = 0; w < words; ++w) {
      uint64_t m = mask.empty() ? ~uint64_t{0} : mask[w];
      d += uint64_t(std::popcount((word(query, w) ^ word(rec, w)) & m));
    }
    if (d <= max_distance) all.push_back(Hit{r, uint32_t(d), 0});
  }
  std::sort(all.begin(), all.end(), [](const Hit &x, const Hit &y) {
    return x.distance != y.distance ? x.distance < y.distance : x.index < y.index;
  });
  if (all.size() > top_k) all.resize(top_k);
  return all;
}

std::vector<Hit> scan_with_ids(const uint8_t *query, const uint8_t *records, uint64_t n_records,
                               size_t record_bytes, std::span<const uint64_t> mask,
                               uint32_t max_distance, uint32_t top_k, std::span<const uint64_t> ids,
                               const std::function<bool(uint64_t)> &keep) {
  const std::vector<Hit> all = scan(query, records, n_records, record_bytes, mask, max_distance,
                                    uint32_t(std::max<uint64_t>(n_records, 1)));
  std::vector<Hit> out;
  for (const Hit &h : all)
    if (keep(h.index)) out.push_back(Hit{ids[h.index], h.distance, 0});
  std::sort(out.begin(), out.end(), [](const Hit &x, const Hit &y) {
    return x.distance != y.distance ? x.distance < y.distance : x.index < y.index;
  });
  if (out.size() > top_k) out.resize(top_k);
  return out;
}

std::vector<Hit> tanimoto_scan(const uint8_t *query, const uint8_t *records, uint64_t n_records,
                               size_t record_bytes, std::span<const uint64_t> mask,
                               TanimotoThreshold t, uint32_t top_k, std::span<const uint64_t> ids,
                               const std::function<bool(uint64_t)> &keep) {
  struct Found {
    uint64_t id;
    uint32_t c, u;
  };
  // T = c/u with u = 0 read as 1/1.
  auto num = [](const Found &f) -> unsigned __int128 { return f.u ? f.c : 1; };
  auto den = [](const Found &f) -> unsigned __int128 { return f.u ? f.u : 1; };
  std::vector<Found> found;
  for (uint64_t r = 0; r < n_records; ++r) {
    if (keep && !keep(r)) continue;
    const uint8_t *rec = records + r * record_bytes;
    Found f{ids.empty() ? r : ids[r], 0, 0};
    for (size_t i = 0; i < record_bytes * 8; ++i) {
      const bool in = mask.empty() || ((mask[i / 64] >> (i % 64)) & 1);
      if (!in) continue;
      f.c += bit(query, i) && bit(rec, i);
      f.u += bit(query, i) || bit(rec, i);
    }
    if (num(f) * t.denominator >= t.numerator * den(f)) found.push_back(f);
  }
  std::sort(found.begin(), found.end(), [&](const Found &x, const Found &y) {
    const unsigned __int128 lhs = num(x) * den(y), rhs = num(y) * den(x);
    return lhs != rhs ? lhs > rhs : x.id < y.id;
  });
  if (found.size() > top_k) found.resize(top_k);
  std::vector<Hit> hits;
  for (const Found &f : found) hits.push_back(Hit{f.id, tanimoto_rank(f.c, f.u), f.u});
  return hits;
}

}  // namespace jitson::oracle
