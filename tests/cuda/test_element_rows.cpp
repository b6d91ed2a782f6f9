// Host checks of the CUDA row bodies (element_rows.hpp): attention rows over
// the padded and packed geometries (causal, key mask, dropout), and the
// top-K scan + merge tree, against ops::attention / ops::packed_attention and
// eval::top_k.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <span>

#include "cuda/cuda_test_util.hpp"
#include "metarec/autograd.hpp"
#include "metarec/cuda/element_ops.hpp"
#include "metarec/eval/ranking.hpp"

using namespace metarec;
using namespace metarec::test;
namespace elem = metarec::cuda::elem;

namespace {
/// Output and gradients of the device attention algorithm run on the host
/// (the loops are the kernels' grid-stride loops).
template <class T>
struct HostAttention {
  Tensor<T> out, gq, gk, gv;
};
template <class T>
HostAttention<T> host_attention(const elem::AttnGeometry& geo, index_t q_rows, index_t k_rows, bool causal,
                                double dropout, std::uint64_t seed, const Tensor<T>& q, const Tensor<T>& k,
                                const Tensor<T>& v, const Tensor<T>& g) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(geo.dh())));
  Tensor<T> P({geo.planes()}), Pd = dropout > 0 ? Tensor<T>({geo.planes()}) : P, DS({geo.planes()});
  HostAttention<T> r{Tensor<T>(q.shape()), Tensor<T>(q.shape()), Tensor<T>(k.shape()), Tensor<T>(v.shape())};
  for (index_t x = 0; x < q_rows * geo.H; ++x) {
    index_t task, i;
    geo.locate(x / geo.H, x % geo.H, false, task, i);
    elem::attention_row_forward(geo.task(task), i, geo.d, geo.dh(), causal, scale, q.data(), k.data(), v.data(),
                                P.data(), Pd.data(), 1.0 - dropout, seed ^ (static_cast<std::uint64_t>(task) << 32),
                                r.out.data());
  }
  for (index_t x = 0; x < q_rows * geo.H; ++x) {
    index_t task, i;
    geo.locate(x / geo.H, x % geo.H, false, task, i);
    elem::attention_row_backward_query(geo.task(task), i, geo.d, geo.dh(), scale, k.data(), v.data(), P.data(),
                                       Pd.data(), g.data(), DS.data(), r.gq.data());
  }
  for (index_t x = 0; x < k_rows * geo.H; ++x) {
    index_t task, j;
    geo.locate(x / geo.H, x % geo.H, true, task, j);
    elem::attention_row_backward_key(geo.task(task), j, geo.d, geo.dh(), scale, q.data(), Pd.data(), DS.data(),
                                     g.data(), r.gk.data(), r.gv.data());
  }
  return r;
}
template <class T>
void check_attention(const HostAttention<T>& mine, const CpuRun<T>& ref, const char* what) {
  INFO(what);
  check_close(mine.out, ref.y, "attention out");
  check_close(mine.gq, ref.grads[0], "attention gq");
  check_close(mine.gk, ref.grads[1], "attention gk");
  check_close(mine.gv, ref.grads[2], "attention gv");
}
}  // namespace

TEST_CASE_TEMPLATE("row bodies: padded attention (causal, key mask, cross, dropout) equals ops::attention", T, float,
                   double) {
  Rng rng(7);
  struct Case { index_t B, Lq, Lk, d; int H; bool causal, masked; double dropout; };
  for (const Case c : {Case{2, 5, 5, 8, 2, true, true, 0.0}, Case{3, 1, 1, 4, 1, true, false, 0.0},
                       Case{2, 3, 6, 6, 3, false, true, 0.0}, Case{2, 7, 7, 8, 2, true, true, 0.3}}) {
    Tensor<T> q = random_t<T>({c.B, c.Lq, c.d}, rng), k = random_t<T>({c.B, c.Lk, c.d}, rng),
              v = random_t<T>({c.B, c.Lk, c.d}, rng);
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(c.B * c.Lk), 1);
    if (c.masked) {
      mask[0] = 0;  // left padding
      for (index_t j = 0; j < c.Lk; ++j) mask[static_cast<std::size_t>(c.Lk + j)] = 0;  // fully padded sequence
    }
    ops::AttentionOptions opt;
    opt.causal = c.causal;
    opt.key_mask = c.masked ? mask.data() : nullptr;
    opt.dropout = c.dropout;
    const std::uint64_t tape_seed = 99;
    auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& x) { return ops::attention(x[0], x[1], x[2], c.H, opt); },
                          {q, k, v}, rng, tape_seed);
    const elem::AttnGeometry geo{c.B, c.Lq, c.Lk, c.d, c.H, nullptr, nullptr, opt.key_mask};
    // The CPU op draws its dropout seed as the tape's first random number.
    const std::uint64_t seed = c.dropout > 0 ? Rng(tape_seed).next() : 0;
    check_attention(host_attention(geo, c.B * c.Lq, c.B * c.Lk, c.causal, c.dropout, seed, q, k, v, ref.seed), ref,
                    "padded");
  }
}

TEST_CASE_TEMPLATE("row bodies: packed attention with empty and length-1 sequences", T, float, double) {
  Rng rng(8);
  const std::vector<std::int32_t> offsets = {0, 3, 3, 4, 9};  // lengths 3, 0, 1, 5
  const index_t B = 4, N = 9, d = 6;
  std::vector<index_t> planes(B + 1, 0);
  for (index_t b = 0; b < B; ++b) {
    const index_t n = offsets[static_cast<std::size_t>(b + 1)] - offsets[static_cast<std::size_t>(b)];
    planes[static_cast<std::size_t>(b + 1)] = planes[static_cast<std::size_t>(b)] + n * n;
  }
  const elem::AttnGeometry g0{B, 0, 0, d, 1, offsets.data(), planes.data(), nullptr};
  CHECK(g0.packed_sequence(0) == 0);
  CHECK(g0.packed_sequence(2) == 0);
  CHECK(g0.packed_sequence(3) == 2);  // skips the empty sequence 1
  CHECK(g0.packed_sequence(4) == 3);
  CHECK(g0.packed_sequence(8) == 3);
  for (int H : {1, 3})
    for (bool causal : {true, false})
      for (double dropout : {0.0, 0.25}) {
        Tensor<T> q = random_t<T>({N, d}, rng), k = random_t<T>({N, d}, rng), v = random_t<T>({N, d}, rng);
        auto ref = cpu_run<T>(
            [&](Tape<T>&, const std::vector<Var<T>>& x) {
              return ops::packed_attention(x[0], x[1], x[2], H, offsets.data(), B, causal, dropout);
            },
            {q, k, v}, rng, 5);
        const elem::AttnGeometry geo{B, 0, 0, d, H, offsets.data(), planes.data(), nullptr};
        check_attention(host_attention(geo, N, N, causal, dropout, dropout > 0 ? Rng(5).next() : 0, q, k, v, ref.seed),
                        ref, "packed");
      }
}

TEST_CASE("row bodies: the dropout mask is the CPU's, element by element") {
  for (double keep : {0.5, 0.9, 0.3}) {
    const index_t n = 101;
    std::vector<double> p(static_cast<std::size_t>(n), 1.0), out(static_cast<std::size_t>(n));
    const std::uint64_t key = 0x1234567ULL ^ (std::uint64_t(3) << 32);
    ops::detail::dropout_probabilities(p.data(), out.data(), n, keep, key);
    for (index_t e = 0; e < n; ++e) CHECK(elem::dropout_scale_at<double>(key, e, keep) == out[static_cast<std::size_t>(e)]);
  }
}

TEST_CASE_TEMPLATE("row bodies: top-K scan and merge tree equal eval::top_k (ties, NaN, -inf, k > n)", T, float,
                   double) {
  Rng rng(9);
  for (index_t n_items : {1, 5, 37, 300}) {
    std::vector<T> scores(static_cast<std::size_t>(n_items + 1));
    for (auto& s : scores) s = static_cast<T>(std::round(rng.uniform(-2, 2) * 4) / 4);  // many ties
    scores[0] = T(100);  // padding column: never a candidate
    if (n_items > 3) {
      scores[2] = std::numeric_limits<T>::quiet_NaN();
      scores[3] = -std::numeric_limits<T>::infinity();
    }
    for (int k : {1, 3, 10, 50, 400})
      for (int nt : {1, 3, 8, 128}) {
        std::vector<T> vals(static_cast<std::size_t>(2 * nt * k));
        std::vector<std::int32_t> ids(static_cast<std::size_t>(2 * nt * k));
        std::vector<int> counts(static_cast<std::size_t>(nt));
        for (int t = 0; t < nt; ++t)
          counts[static_cast<std::size_t>(t)] = elem::topk_scan(scores.data(), n_items, t, nt, k, vals.data() + t * k,
                                                                ids.data() + t * k);
        for (int stride = 1; stride < nt; stride *= 2)
          for (int t = 0; t < nt; ++t)  // threads of one level write disjoint lists: any order is the kernel's
            elem::topk_tree_step(t, stride, nt, k, vals.data(), ids.data(), counts.data(),
                                 vals.data() + static_cast<std::size_t>((nt + t) * k),
                                 ids.data() + static_cast<std::size_t>((nt + t) * k));
        const auto want = eval::top_k<T>(std::span<const T>(scores), k);
        REQUIRE(counts[0] == static_cast<int>(want.size()));
        for (std::size_t m = 0; m < want.size(); ++m) CHECK(ids[m] == want[m]);
      }
  }
}
