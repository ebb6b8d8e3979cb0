// The precompiled runtime on numpy arrays: GEMM in three precisions, f32 <-> bf16, CPU facts.
// Inputs are read in place (a row stride becomes the leading dimension, so slices of rows and
// columns cost no copy); outputs are written in place or allocated. The GIL is released while
// the library runs.
#include <cstring>
#include <string>

#include "common.hpp"
#include "jitson/bf16.hpp"
#include "jitson/cpu.hpp"
#include "jitson/gemm.hpp"

namespace jitson::py {

namespace {

template <typename T>
nb::ndarray<nb::numpy, T> zeros(std::vector<size_t> shape) {
  size_t n = 1;
  for (size_t s : shape) n *= s;
  auto *heap = new std::vector<T>(n, T{});
  nb::capsule owner(heap, [](void *p) noexcept { delete static_cast<std::vector<T> *>(p); });
  return nb::ndarray<nb::numpy, T>(heap->data(), shape.size(), shape.data(), owner);
}

// A 2-D matrix read in place: elements contiguous within a row, rows `ld` elements apart.
struct Matrix {
  std::unique_ptr<Buffer> buffer;
  int64_t rows = 0, cols = 0, ld = 0;
  template <typename T>
  T *data() const {
    return static_cast<T *>(buffer->data());
  }
};

Matrix matrix(nb::handle object, char code, const char *dtype, const char *what, bool writable) {
  Matrix m;
  m.buffer = std::make_unique<Buffer>(object, writable, what);
  const Buffer &b = *m.buffer;
  b.require_code(code, dtype);
  if (b.ndim() != 2) {
    value_error(std::string(what) + ": expected a 2-D array, got " + std::to_string(b.ndim()) +
                " dimensions");
  }
  m.rows = b.shape(0);
  m.cols = b.shape(1);
  const int64_t item = b.view().itemsize;
  if (m.cols > 1 && b.stride(1) != item) {
    value_error(std::string(what) +
                ": elements of a row must be contiguous (a row stride is fine, a column stride "
                "is not): pass numpy.ascontiguousarray(x)");
  }
  const int64_t s0 = b.stride(0);
  if (m.rows > 1 && (s0 <= 0 || s0 % item != 0 || s0 / item < m.cols)) {
    value_error(std::string(what) + ": rows must be stored in order, at least one row apart");
  }
  m.ld = std::max<int64_t>({m.rows > 1 ? s0 / item : m.cols, m.cols, 1});
  return m;
}

bool overlaps(const Matrix &a, const Matrix &c) {
  const auto *a0 = static_cast<const char *>(a.buffer->data());
  const auto *c0 = static_cast<const char *>(c.buffer->data());
  const int64_t item_a = a.buffer->view().itemsize, item_c = c.buffer->view().itemsize;
  const char *a1 = a0 + ((a.rows - 1) * a.ld + a.cols) * item_a;
  const char *c1 = c0 + ((c.rows - 1) * c.ld + c.cols) * item_c;
  return a.rows > 0 && c.rows > 0 && a0 < c1 && c0 < a1;
}

GemmOptions gemm_options(std::optional<int64_t> threads) {
  GemmOptions o;
  if (threads) {
    if (*threads < 1 || *threads > 4096) value_error("threads must be in [1, 4096] or None");
    o.threads = static_cast<unsigned>(*threads);
  }
  return o;
}

// op(A) m x k, op(B) k x n, checked; C given (writable, m x n) or allocated.
struct GemmShape {
  int64_t m, n, k;
};
GemmShape gemm_shape(const Matrix &a, const Matrix &b, bool ta, bool tb) {
  const int64_t m = ta ? a.cols : a.rows, ka = ta ? a.rows : a.cols;
  const int64_t kb = tb ? b.cols : b.rows, n = tb ? b.rows : b.cols;
  if (ka != kb) {
    value_error("shapes do not match: op(a) is " + std::to_string(m) + " x " + std::to_string(ka) +
                ", op(b) is " + std::to_string(kb) + " x " + std::to_string(n));
  }
  return {m, n, ka};
}

template <typename T>
nb::object output(nb::handle c, char code, const char *dtype, int64_t m, int64_t n, float beta,
                  Matrix &cm) {
  nb::object result;
  if (c.is_none()) {
    if (beta != 0.0f) value_error("beta != 0 needs an output array c to read");
    result = nb::cast(zeros<T>({static_cast<size_t>(m), static_cast<size_t>(n)}));
  } else {
    result = nb::borrow(c);
  }
  cm = matrix(result, code, dtype, "c", true);
  if (cm.rows != m || cm.cols != n) {
    value_error("c: expected shape (" + std::to_string(m) + ", " + std::to_string(n) + "), got (" +
                std::to_string(cm.rows) + ", " + std::to_string(cm.cols) + ")");
  }
  return result;
}

template <typename T>
nb::object gemm_float(nb::handle a, nb::handle b, nb::handle c, float alpha, float beta, bool ta,
                      bool tb, std::optional<int64_t> threads, char code, const char *dtype,
                      bool bf16) {
  Matrix am = matrix(a, code, dtype, "a", false), bm = matrix(b, code, dtype, "b", false);
  const GemmShape s = gemm_shape(am, bm, ta, tb);
  Matrix cm;
  nb::object result = output<float>(c, 'f', "float32", s.m, s.n, beta, cm);
  if (overlaps(am, cm) || overlaps(bm, cm)) value_error("c must not overlap a or b");
  const GemmOptions o = gemm_options(threads);
  const auto tra = ta ? GemmTranspose::transpose : GemmTranspose::none;
  const auto trb = tb ? GemmTranspose::transpose : GemmTranspose::none;
  nb::gil_scoped_release release;
  if (bf16) {
    gemm_bf16(GemmOrder::row_major, tra, trb, s.m, s.n, s.k, alpha, am.data<uint16_t>(), am.ld,
              bm.data<uint16_t>(), bm.ld, beta, cm.data<float>(), cm.ld, o);
  } else {
    sgemm(GemmOrder::row_major, tra, trb, s.m, s.n, s.k, alpha, am.data<float>(), am.ld,
          bm.data<float>(), bm.ld, beta, cm.data<float>(), cm.ld, o);
  }
  return result;
}

// An elementwise conversion: x (any shape, C-contiguous) into out (same size) or a new array of
// x's shape.
template <typename In, typename Out, typename Fn>
nb::object convert(nb::handle x, nb::handle out, char in_code, const char *in_dtype, char out_code,
                   const char *out_dtype, Fn fn) {
  Buffer xb(x, false, "x");
  xb.require_code(in_code, in_dtype);
  xb.require_c_contiguous();
  const size_t n = static_cast<size_t>(xb.view().len) / sizeof(In);
  nb::object result;
  if (out.is_none()) {
    std::vector<size_t> shape;
    for (int i = 0; i < xb.ndim(); ++i) shape.push_back(static_cast<size_t>(xb.shape(i)));
    result = nb::cast(zeros<Out>(shape));
  } else {
    result = nb::borrow(out);
  }
  Buffer ob(result, true, "out");
  ob.require_code(out_code, out_dtype);
  ob.require_c_contiguous();
  if (static_cast<size_t>(ob.view().len) / sizeof(Out) != n) {
    value_error("out: expected " + std::to_string(n) + " elements, got " +
                std::to_string(ob.view().len / sizeof(Out)));
  }
  const auto *xp = static_cast<const char *>(xb.data());
  const auto *op = static_cast<const char *>(ob.data());
  if (n > 0 && xp < op + ob.view().len && op < xp + xb.view().len) {
    value_error("out must not overlap x");
  }
  nb::gil_scoped_release release;
  fn(std::span<const In>(static_cast<const In *>(xb.data()), n),
     std::span<Out>(static_cast<Out *>(ob.data()), n));
  return result;
}

nb::dict cpu_info() {
  const CpuFeatures &f = cpu_features();
  nb::dict features;
  features["popcnt"] = f.popcnt;
  features["bmi2"] = f.bmi2;
  features["fma"] = f.fma;
  features["f16c"] = f.f16c;
  features["avx2"] = f.avx2;
  features["avx512f"] = f.avx512f;
  features["avx512bw"] = f.avx512bw;
  features["avx512vl"] = f.avx512vl;
  features["avx512dq"] = f.avx512dq;
  features["avx512vpopcntdq"] = f.avx512vpopcntdq;
  features["avx512bitalg"] = f.avx512bitalg;
  features["avx512vnni"] = f.avx512vnni;
  features["avx512bf16"] = f.avx512bf16;
  nb::list isas;
  for (const IsaInfo &i : list_isas()) {
    if (i.supported) isas.append(i.name);
  }
  nb::list backends;
  for (Backend b : {Backend::xbyak, Backend::llvm, Backend::runtime}) {
    if (backend_built(b)) backends.append(to_string(b));
  }
  nb::dict d;
  d["vendor"] = f.vendor;
  d["brand"] = f.brand;
  d["features"] = features;
  d["best_isa"] = isa_name(best_isa());
  d["active_isa"] = isa_name(active_isa());
  d["isas"] = isas;
  d["backends"] = backends;
  d["threads"] = hardware_threads();
  d["version"] = version_string();
  d["xbyak_version"] = xbyak_version();
  d["llvm_version"] = llvm_version();
  return d;
}

}  // namespace

void bind_runtime(nb::module_ &m) {
  m.def("cpu_info", &cpu_info,
        "CPU and build facts: vendor, brand, features, best_isa, active_isa, isas (runnable), "
        "backends (built), threads, version, xbyak_version, llvm_version.");
  m.def(
      "sgemm",
      [](nb::handle a, nb::handle b, nb::handle c, float alpha, float beta, bool trans_a,
         bool trans_b, std::optional<int64_t> threads) {
        return gemm_float<float>(a, b, c, alpha, beta, trans_a, trans_b, threads, 'f', "float32",
                                 false);
      },
      nb::arg("a"), nb::arg("b"), nb::arg("c") = nb::none(), nb::kw_only(), nb::arg("alpha") = 1.0f,
      nb::arg("beta") = 0.0f, nb::arg("trans_a") = false, nb::arg("trans_b") = false,
      nb::arg("threads") = nb::none(),
      "sgemm(a, b, c=None, *, alpha=1, beta=0, trans_a=False, trans_b=False, threads=None) -> c. "
      "C = alpha * op(a) @ op(b) + beta * C on float32 2-D arrays read in place (rows contiguous, "
      "any row stride); c is written in place or allocated (beta must be 0 then). GIL released.");
  m.def(
      "gemm_bf16",
      [](nb::handle a, nb::handle b, nb::handle c, float alpha, float beta, bool trans_a,
         bool trans_b, std::optional<int64_t> threads) {
        return gemm_float<uint16_t>(a, b, c, alpha, beta, trans_a, trans_b, threads, 'H',
                                    "uint16 (bf16 bits)", true);
      },
      nb::arg("a"), nb::arg("b"), nb::arg("c") = nb::none(), nb::kw_only(), nb::arg("alpha") = 1.0f,
      nb::arg("beta") = 0.0f, nb::arg("trans_a") = false, nb::arg("trans_b") = false,
      nb::arg("threads") = nb::none(),
      "gemm_bf16(a, b, c=None, ...) -> c: sgemm with a and b as bf16 bit patterns (uint16 arrays, "
      "f32_to_bf16), float32 C. Subnormals flush on CPUs with AVX-512 BF16 or AMX.");
  m.def(
      "gemm_u8i8",
      [](nb::handle a, nb::handle b, nb::handle c, std::optional<float> scale_a,
         int32_t zero_point_a, std::optional<float> scale_b, std::optional<int64_t> threads) {
        Matrix am = matrix(a, 'B', "uint8", "a", false), bm = matrix(b, 'b', "int8", "b", false);
        const GemmShape s = gemm_shape(am, bm, false, false);
        if (s.k > gemm_u8i8_max_k) {
          value_error("k = " + std::to_string(s.k) + " exceeds " + std::to_string(gemm_u8i8_max_k) +
                      " (the largest k whose sums are exact in int32)");
        }
        const bool dequant = scale_a.has_value() || scale_b.has_value();
        if (dequant && !(scale_a && scale_b)) value_error("pass both scale_a and scale_b");
        if (!dequant && zero_point_a != 0) value_error("zero_point_a needs scale_a and scale_b");
        const GemmOptions o = gemm_options(threads);
        Matrix cm;
        nb::object result = dequant ? output<float>(c, 'f', "float32", s.m, s.n, 0.0f, cm)
                                    : output<int32_t>(c, 'i', "int32", s.m, s.n, 0.0f, cm);
        if (overlaps(am, cm) || overlaps(bm, cm)) value_error("c must not overlap a or b");
        nb::gil_scoped_release release;
        if (dequant) {
          gemm_u8i8_f32(s.m, s.n, s.k, am.data<uint8_t>(), am.ld, bm.data<int8_t>(), bm.ld,
                        cm.data<float>(), cm.ld, *scale_a, zero_point_a, *scale_b, o);
        } else {
          gemm_u8i8_i32(s.m, s.n, s.k, am.data<uint8_t>(), am.ld, bm.data<int8_t>(), bm.ld,
                        cm.data<int32_t>(), cm.ld, o);
        }
        return result;
      },
      nb::arg("a"), nb::arg("b"), nb::arg("c") = nb::none(), nb::kw_only(),
      nb::arg("scale_a") = nb::none(), nb::arg("zero_point_a") = 0, nb::arg("scale_b") = nb::none(),
      nb::arg("threads") = nb::none(),
      "gemm_u8i8(a, b, c=None, *, scale_a=None, zero_point_a=0, scale_b=None, threads=None): "
      "uint8 a (m, k) x int8 b (k, n) -> exact int32 C; with scale_a and scale_b the dequantised "
      "float32 C = (a - zero_point_a) @ b * scale_a * scale_b.");
  m.def(
      "f32_to_bf16",
      [](nb::handle x, nb::handle out, bool truncate) {
        return convert<float, uint16_t>(
            x, out, 'f', "float32", 'H', "uint16",
            [truncate](std::span<const float> i, std::span<uint16_t> o) {
              if (truncate) {
                f32_to_bf16_truncate(i, o);
              } else {
                f32_to_bf16(i, o);
              }
            });
      },
      nb::arg("x"), nb::arg("out") = nb::none(), nb::kw_only(), nb::arg("truncate") = false,
      "f32_to_bf16(x, out=None, *, truncate=False) -> uint16 array: bf16 bit patterns, rounded "
      "to nearest even (NaN kept quiet) or truncated.");
  m.def(
      "bf16_to_f32",
      [](nb::handle x, nb::handle out) {
        return convert<uint16_t, float>(
            x, out, 'H', "uint16", 'f', "float32",
            [](std::span<const uint16_t> i, std::span<float> o) { bf16_to_f32(i, o); });
      },
      nb::arg("x"), nb::arg("out") = nb::none(),
      "bf16_to_f32(x, out=None) -> float32 array from bf16 bit patterns (uint16), exact.");
  m.def(
      "gemm_kernel_name", [](const std::string &kind) { return gemm_kernel_name(kind); },
      nb::arg("kind"),
      "The kernel a GEMM of kind 'sgemm', 'bf16' or 'u8i8' runs, e.g. 'f32 avx512 14x32'.");
  m.def(
      "set_gemm_threads", [](unsigned t) { set_gemm_threads(t); }, nb::arg("threads"),
      "Default thread count of every GEMM (0: all cores).");
}

}  // namespace jitson::py
