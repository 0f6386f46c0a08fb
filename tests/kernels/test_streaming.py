"""kernels/streaming.py: the one-pass streaming estimator and CountSketch recovery (docs/theory/e10.md)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from kernels import polynomial as P
from kernels import streaming as S

MASK = (1 << 64) - 1


def _mix(z: int) -> int:
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def reference_hash(seed: int, r: int, j: int) -> int:
    """splitmix64 in Python integers (exact mod 2^64)."""
    key = _mix(seed * 0x9E3779B97F4A7C15 + r + 1)
    return _mix(key + (j + 1) * 0x9E3779B97F4A7C15)


def qkv(n, d, seed, B=0.8, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    Q, K = ((torch.rand(2, n, d, generator=g, dtype=torch.float64) * 2 - 1) * B).unbind(0)
    V = torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1
    return Q.to(dtype), K.to(dtype), V.to(dtype)


def k_sparse(n, d, k, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(n, d, dtype=torch.float64)
    for i in range(d):
        rows = torch.randperm(n, generator=g)[:k]
        y[rows, i] = torch.randn(k, generator=g, dtype=torch.float64) * 10
    return y


# --------------------------------------------------------------------------- hashes
@pytest.mark.parametrize("seed", [0, 1, 12345, 2**40 + 7])
def test_hash_is_splitmix64_bit_for_bit(seed):
    r = torch.arange(4).unsqueeze(1)
    j = torch.tensor([0, 1, 2, 17, 2**31 + 5, 2**40 + 3]).unsqueeze(0)
    z = S.hash64(seed, r, j)
    for a in range(4):
        for b, jj in enumerate(j[0].tolist()):
            assert int(z[a, b]) & MASK == reference_hash(seed, a, jj)


def test_buckets_and_signs_are_made_on_the_fly_and_do_not_depend_on_the_chunk():
    h, s = S.buckets_and_signs(3, 5, 37, 0, 1000)
    assert h.shape == s.shape == (5, 1000) and int(h.min()) >= 0 and int(h.max()) < 37
    assert set(s.unique().tolist()) == {-1.0, 1.0}
    h2, s2 = S.buckets_and_signs(3, 5, 37, 400, 777)
    assert torch.equal(h2, h[:, 400:777]) and torch.equal(s2, s[:, 400:777])
    counts = torch.bincount(h[0], minlength=37).double()
    assert float(counts.std() / counts.mean()) < 0.35  # roughly uniform buckets
    assert abs(float(s.mean())) < 0.05
    h3, _ = S.buckets_and_signs(4, 5, 37, 0, 1000)
    assert not torch.equal(h3, h)  # another seed, other hashes


def test_the_parameters_of_the_reference_sketch():
    assert S.buckets(20, 0.5) == 160 and S.repetitions(2**14) == 15 and S.repetitions(2**12) == 13
    assert S.repetitions(2**20) == 21 and S.repetitions(1) == 1 and all(S.repetitions(2**e) % 2 for e in range(1, 30))
    assert S.streaming_floats(3, 4, 7, 160) == 35 * 3 + 35 + 7 * 160 * 3 + 3 == 3503
    assert S.kv_cache_floats(2**14, 3) == 98_304


# --------------------------------------------------------------------------- the sketch
def test_the_sketch_is_linear_and_positions_add_up():
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(2, 301, 4, generator=g, dtype=torch.float64).unbind(0)
    a, b = 0.7, -2.5
    torch.testing.assert_close(S.sketch(a * X + b * Y, 5, 23, 9), a * S.sketch(X, 5, 23, 9) + b * S.sketch(Y, 5, 23, 9),
                               rtol=1e-12, atol=1e-12)
    whole = S.sketch(X, 5, 23, 9)
    parts = S.sketch(X[:100], 5, 23, 9) + S.sketch(X[100:], 5, 23, 9, start=100)
    torch.testing.assert_close(whole, parts, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(S.sketch(X[:, 0], 5, 23, 9), whole[:, :, 0])
    torch.testing.assert_close(S.sketch_of_ones(301, 5, 23, 9), S.sketch(torch.ones(301, dtype=torch.float64), 5, 23, 9))


@pytest.mark.parametrize("seed", range(5))
def test_a_k_sparse_vector_is_recovered_exactly_with_enough_buckets(seed):
    n, d, k = 3000, 3, 8
    y = k_sparse(n, d, k, seed)
    rec = S.recover(S.sketch(y, 7, 64 * k, seed), n, k, seed)
    torch.testing.assert_close(rec.dense(), y, rtol=0, atol=1e-12)
    assert set(rec.indices[:, 0].tolist()) == set(y[:, 0].nonzero().flatten().tolist())


def test_with_one_repetition_and_few_buckets_recovery_is_wrong():
    n, d, k = 3000, 3, 8
    y = k_sparse(n, d, k, 0)
    err = float(torch.linalg.vector_norm(S.recover(S.sketch(y, 1, 2 * k, 0), n, k, 0).dense() - y))
    assert err > 1.0  # collisions, and no median to outvote them


def test_the_median_outvotes_one_bad_repetition_even_and_odd():
    x = torch.tensor([[1.0], [1.1], [50.0]])
    assert float(S._median(x)) == pytest.approx(1.1)
    assert float(S._median(torch.tensor([[1.0], [2.0], [3.0], [100.0]]))) == pytest.approx(2.5)


def test_centred_recovery_returns_constant_plus_spikes_exactly():
    n, d, k = 2000, 2, 5
    spikes = k_sparse(n, d, k, 1)
    first = spikes.ne(0).int().argmax(dim=0)
    spikes[first, torch.arange(d)] -= spikes.sum(dim=0)  # zero-sum spikes: the mean is the constant
    y = 0.3 + spikes
    mean = y.mean(dim=0)
    table = S.sketch(y, 7, 64 * k, 2)
    centred = S.recover(table, n, k, 2, mean=mean)
    torch.testing.assert_close(centred.dense(), y, rtol=0, atol=1e-10)
    raw = S.recover(table, n, k, 2)
    assert float(torch.linalg.vector_norm(raw.dense() - y)) > 0.3 * math.sqrt(n - k)  # the constant is not sparse


def test_best_k_sparse_error_is_the_tail_norm():
    y = torch.tensor([3.0, -4.0, 0.5, 1.0, -2.0], dtype=torch.float64)
    assert float(S.best_k_sparse_error(y, 2)) == pytest.approx(math.sqrt(0.25 + 1 + 4))
    assert float(S.best_k_sparse_error(y, 9)) == 0.0
    Y = torch.stack([y, 2 * y], dim=1)
    torch.testing.assert_close(S.best_k_sparse_error(Y, 1), torch.tensor([1, 2.0], dtype=torch.float64)
                               * math.sqrt(9 + 0.25 + 1 + 4))


# --------------------------------------------------------------------------- the streaming estimator
@pytest.mark.parametrize("n,d,g", [(1, 1, 2), (7, 2, 3), (333, 3, 4), (1000, 5, 2)])
def test_the_streamed_rows_are_the_low_rank_attention_and_the_sketch_is_theirs(n, d, g):
    Q, K, V = qkv(n, d, n)
    est = S.StreamingAttention(d, g, R=5, W=31, seed=3, chunk=128)
    est.update_kv(K, V)
    rows = est.update_q(Q, return_rows=True)
    expect = P.lowrank_attention(Q, K, V, g, d)
    torch.testing.assert_close(rows, expect, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(est.Y_sk, S.sketch(expect, 5, 31, 3), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(est.mean(), expect.mean(dim=0), rtol=1e-11, atol=1e-13)
    assert est.n_kv == est.n_q == n


def test_keys_may_outnumber_queries_and_arrive_in_pieces():
    Q, K, V = qkv(50, 3, 0)
    K2, V2 = qkv(120, 3, 1)[1:]
    est = S.StreamingAttention(3, 4, 3, 16, chunk=32)
    est.update_kv(K, V)
    est.update_kv(K2, V2)
    rows = torch.cat([est.update_q(Q[:17], return_rows=True), est.update_q(Q[17:], return_rows=True)])
    torch.testing.assert_close(rows, P.lowrank_attention(Q, torch.cat([K, K2]), torch.cat([V, V2]), 4, 3))
    torch.testing.assert_close(est.Y_sk, S.sketch(rows, 3, 16, 0), rtol=1e-12, atol=1e-13)


def test_the_causal_order_gives_causal_low_rank_attention():
    Q, K, V = qkv(300, 3, 4)
    est = S.StreamingAttention(3, 4, 5, 40, seed=1, chunk=64)
    rows = est.update_causal(Q, K, V, return_rows=True)
    torch.testing.assert_close(rows, S.causal_lowrank_attention(Q, K, V, 4, 3), rtol=1e-11, atol=1e-12)
    exact = torch.softmax((Q @ K.T / 3).masked_fill(~torch.ones(300, 300, dtype=torch.bool).tril(), -math.inf), 1) @ V
    assert float((rows - exact).abs().max()) < 1e-4  # the polynomial is close at B = 0.8
    torch.testing.assert_close(est.Y_sk, S.sketch(rows, 5, 40, 1), rtol=1e-11, atol=1e-12)


def test_the_causal_prefix_sums_are_bounded_by_blocks(monkeypatch):
    Q, K, V = qkv(101, 3, 6)
    whole = S.StreamingAttention(3, 4, 3, 11).update_causal(Q, K, V, return_rows=True)
    monkeypatch.setattr(S, "CAUSAL_BLOCK", 500)  # 500 // (35 · 4) = 3 tokens per block
    blocks = S.StreamingAttention(3, 4, 3, 11).update_causal(Q, K, V, return_rows=True)
    torch.testing.assert_close(blocks, whole, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(whole, S.causal_lowrank_attention(Q, K, V, 4, 3), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("causal", [False, True])
def test_the_chunk_size_does_not_change_the_result(causal):
    Q, K, V = qkv(517, 3, 2)
    out = []
    for chunk in (1, 7, 100, 4096):
        rec, est = S.stream_attention(Q, K, V, g=3, k=10, R=5, W=40, seed=11, causal=causal, chunk=chunk)
        out.append((rec.dense(), est.Y_sk, est.decode(10, centred=True).dense()))
    for dense, Y, centred in out[1:]:
        torch.testing.assert_close(Y, out[0][1], rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(dense, out[0][0], rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(centred, out[0][2], rtol=1e-10, atol=1e-13)


def test_same_seed_same_result_other_seed_other_sketch():
    Q, K, V = qkv(400, 3, 5)
    a, ea = S.stream_attention(Q, K, V, 4, 10, 5, 40, seed=7)
    b, eb = S.stream_attention(Q, K, V, 4, 10, 5, 40, seed=7)
    c, ec = S.stream_attention(Q, K, V, 4, 10, 5, 40, seed=8)
    assert torch.equal(ea.Y_sk, eb.Y_sk) and torch.equal(a.indices, b.indices) and torch.equal(a.values, b.values)
    assert not torch.equal(ea.Y_sk, ec.Y_sk)


def test_the_state_is_flat_in_n_and_the_kv_cache_is_not():
    kept, cache = [], []
    for n in (10, 1000, 5000):
        Q, K, V = qkv(n, 3, n)
        est = S.StreamingAttention(3, 4, 7, 160)
        est.update_kv(K, V)
        est.update_q(Q)
        kv = S.KVCache(3)
        kv.update_kv(K, V)
        kept.append(est.floats_kept())
        cache.append(kv.floats_kept())
    assert kept == [S.streaming_floats(3, 4, 7, 160)] * 3 == [3503] * 3
    assert cache == [S.kv_cache_floats(n, 3) for n in (10, 1000, 5000)]


def test_the_kv_cache_answers_with_exact_attention_even_at_logits_near_overflow():
    g = torch.Generator().manual_seed(0)
    Q = torch.randn(20, 2, generator=g, dtype=torch.float64) * 30
    K = torch.randn(25, 2, generator=g, dtype=torch.float64) * 30
    V = torch.randn(25, 2, generator=g, dtype=torch.float64)
    kv = S.KVCache(2, scale=1.0)
    kv.update_kv(K, V)
    scale = float((Q @ K.T).abs().max()) / 700.0  # the largest logit is 700
    kv.scale = scale
    out = kv.update_q(Q)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, P.attention(Q, K, V, scale))


def test_large_inputs_stay_finite_in_the_estimator():
    Q, K, V = qkv(64, 2, 0, B=25.0)  # logits up to 25²·2/2 = 625
    est = S.StreamingAttention(2, 4, 3, 8, chunk=16)
    est.update_kv(K, V)
    rows = est.update_q(Q, return_rows=True)
    assert torch.isfinite(rows).all() and torch.isfinite(est.Y_sk).all()
    torch.testing.assert_close(rows, P.lowrank_attention(Q, K, V, 4, 2), rtol=1e-9, atol=1e-9)


def test_float32_works_and_recovery_clamps_k_to_n():
    Q, K, V = qkv(5, 3, 0, dtype=torch.float32)
    rec, est = S.stream_attention(Q, K, V, 2, k=50, R=3, W=7)
    assert est.Y_sk.dtype == torch.float32 and rec.indices.shape == (5, 3)
    torch.testing.assert_close(rec.dense(), S.recover(est.Y_sk, 5, 5, 0).dense())


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200), st.integers(1, 4), st.integers(0, 4), st.integers(1, 6), st.integers(1, 50),
       st.integers(1, 64), st.integers(1, 30), st.integers(0, 2**31))
def test_shapes_and_invariants(n, d, g, R, W, chunk, k, seed):
    Q, K, V = qkv(n, d, seed % 1000)
    rec, est = S.stream_attention(Q, K, V, g, k, R, W, seed=seed, chunk=chunk)
    assert est.M_kv.shape == (P.rank(d, g), d) and est.Y_sk.shape == (R, W, d)
    assert est.floats_kept() == S.streaming_floats(d, g, R, W)
    assert rec.indices.shape == rec.values.shape == (min(k, n), d) and rec.dense().shape == (n, d)
    assert int(rec.indices.min()) >= 0 and int(rec.indices.max()) < n
    for i in range(d):  # the kept rows of a column are distinct
        assert len(set(rec.indices[:, i].tolist())) == min(k, n)
    torch.testing.assert_close(est.Y_sk, S.sketch(P.lowrank_attention(Q, K, V, g, d), R, W, seed),
                               rtol=1e-10, atol=1e-12)
