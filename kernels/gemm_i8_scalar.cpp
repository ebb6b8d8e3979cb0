// u8 x i8 -> i32 GEMM, portable: the same k-quad packing as the VNNI kernel, exact i32 sums.
#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 8;

void pack_a(const uint8_t *src, ptrdiff_t lda, int mc, int k, uint8_t *dst) {
  pack_a_grouped<kMr, 4>(src, lda, 1, mc, k, dst);
}

void pack_b(const int8_t *src, ptrdiff_t ldb, int k, int nc, int8_t *dst, int32_t *col_sums) {
  pack_b_grouped<kNr, 4>(src, ldb, 1, k, nc, dst);
  i8_column_sums(src, ldb, k, nc, kNr, col_sums);
}

void macro(int mc, int nc, int k, const uint8_t *pa, const int8_t *pb, const I8Output &out) {
  const int k4 = round_up(k, 4);
  for (int j = 0; j < nc; j += kNr) {
    const int cols = nc - j < kNr ? nc - j : kNr;
    for (int i = 0; i < mc; i += kMr) {
      const int rows = mc - i < kMr ? mc - i : kMr;
      const uint8_t *a = pa + i * k4;
      const int8_t *b = pb + j * k4;
      // Products are at most 255 * 128 in magnitude and k <= gemm_u8i8_max_k, so the i32 sums
      // cannot overflow.
      int32_t acc[kMr * kNr] = {};
      for (int q = 0; q < k4; q += 4) {
        for (int r = 0; r < kMr; ++r)
          for (int c = 0; c < kNr; ++c)
            for (int g = 0; g < 4; ++g)
              acc[r * kNr + c] += int32_t{a[r * 4 + g]} * int32_t{b[c * 4 + g]};
        a += kMr * 4;
        b += kNr * 4;
      }
      i8_write_tile(acc, kNr, rows, cols, i, j, out);
    }
  }
}

}  // namespace

const I8Kernel i8_scalar = {.name = "u8i8 scalar 4x8",
                            .mr = kMr,
                            .nr = kNr,
                            .k_align = 4,
                            .mc_bytes = 1 << 18,
                            .nc_bytes = 1 << 20,
                            .pack_a = pack_a,
                            .pack_b = pack_b,
                            .macro = macro,
                            .needs_amx = false};

}  // namespace jitson::gemm_detail
