"""The runtime on numpy arrays: sgemm / gemm_bf16 / gemm_u8i8 against numpy, f32 <-> bf16 bit
rules, in-place outputs and the validation errors."""

from __future__ import annotations

import numpy as np
import pytest

import jitson

rng = np.random.default_rng(31)


def test_sgemm():
    a = rng.integers(-4, 5, (37, 50)).astype(np.float32)
    b = rng.integers(-4, 5, (50, 29)).astype(np.float32)
    np.testing.assert_array_equal(jitson.sgemm(a, b), a @ b)  # small integers: exact
    np.testing.assert_array_equal(jitson.sgemm(a.T.copy(), b, trans_a=True), a @ b)
    np.testing.assert_array_equal(jitson.sgemm(a, b.T.copy(), trans_b=True, threads=1), a @ b)
    c = np.ones((37, 29), np.float32)
    out = jitson.sgemm(a, b, c, alpha=2.0, beta=1.0)
    assert out is c
    np.testing.assert_array_equal(c, 2 * (a @ b) + 1)
    # A row slice is read in place (its row stride becomes lda).
    big = rng.standard_normal((40, 80)).astype(np.float32)
    np.testing.assert_allclose(jitson.sgemm(big[:, :50], b), big[:, :50] @ b, rtol=1e-5, atol=1e-4)


def test_sgemm_errors():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="float32"):
        jitson.sgemm(a.astype(np.float64), a.T.copy())
    with pytest.raises(ValueError, match="do not match"):
        jitson.sgemm(a, a)
    with pytest.raises(ValueError, match="contiguous"):
        jitson.sgemm(a, np.ones((8, 4), np.float32)[::2].T)
    with pytest.raises(ValueError, match="shape"):
        jitson.sgemm(a, a.T.copy(), np.zeros((2, 2), np.float32))
    ro = np.zeros((3, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        jitson.sgemm(a, a.T.copy(), ro)
    with pytest.raises(ValueError, match="beta"):
        jitson.sgemm(a, a.T.copy(), beta=1.0)
    with pytest.raises(ValueError, match="2-D"):
        jitson.sgemm(np.ones(3, np.float32), a)


def test_bf16():
    x = np.array([1.0, -2.5, 3.140625, 1e-40, np.inf, np.nan, 65504.0, 1.00390625], np.float32)
    bits = x.view(np.uint32)
    # Round to nearest even on the bit pattern; NaN stays a quiet NaN.
    expected = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    expected[5] = (bits[5] >> 16) | 0x40
    np.testing.assert_array_equal(jitson.f32_to_bf16(x), expected)
    np.testing.assert_array_equal(jitson.f32_to_bf16(x, truncate=True), (bits >> 16).astype(np.uint16))
    back = jitson.bf16_to_f32(expected)
    np.testing.assert_array_equal(back.view(np.uint32), expected.astype(np.uint32) << 16)
    out = np.empty(8, np.uint16)
    assert jitson.f32_to_bf16(x, out) is out
    with pytest.raises(ValueError, match="float32"):
        jitson.f32_to_bf16(x.astype(np.float64))
    with pytest.raises(ValueError, match="elements"):
        jitson.f32_to_bf16(x, np.empty(3, np.uint16))


def test_gemm_bf16_and_u8i8():
    a = rng.integers(-3, 4, (20, 33)).astype(np.float32)
    b = rng.integers(-3, 4, (33, 17)).astype(np.float32)
    got = jitson.gemm_bf16(jitson.f32_to_bf16(a), jitson.f32_to_bf16(b))
    np.testing.assert_array_equal(got, a @ b)  # small integers: exact on every path
    a8 = rng.integers(0, 256, (20, 40), dtype=np.uint8)
    b8 = rng.integers(-128, 128, (40, 12), dtype=np.int8)
    ref = a8.astype(np.int32) @ b8.astype(np.int32)
    c = jitson.gemm_u8i8(a8, b8)
    assert c.dtype == np.int32
    np.testing.assert_array_equal(c, ref)
    f = jitson.gemm_u8i8(a8, b8, scale_a=0.5, zero_point_a=3, scale_b=0.25)
    np.testing.assert_allclose(f, (ref - 3 * b8.astype(np.int32).sum(0)) * 0.125)
    with pytest.raises(ValueError, match="int8"):
        jitson.gemm_u8i8(a8, b8.view(np.uint8))
    assert "f32" in jitson.gemm_kernel_name("sgemm")
