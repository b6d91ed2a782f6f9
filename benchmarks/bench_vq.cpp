// MultiHeadVQ::apply forward + backward on a Beauty-sized table
// (12,101 x 64, H = 4, K = 256, d_c = 16, float). Usage: bench_vq [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "metarec/core/parallel.hpp"
#include "metarec/autograd.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"

using namespace metarec;

int main(int argc, char** argv) {
  set_num_threads(argc > 1 ? std::atoi(argv[1]) : 1);
  const ModelConfig c;                          // d 64
  const quantizers::MultiHeadVQ::Config vq;     // 4 heads, 256 codewords of 16
  nn::ParameterStore<float> s;
  Rng r(1);
  quantizers::MultiHeadVQ::Model<float> m(s, c, vq, r);
  auto& table = s.add("items.x.weight", {12101, 64}, nn::Init::normal(0.02), r);
  m.add_domain(0, 12101);
  Tape<float> t;
  auto step = [&] {
    t.reset();
    s.zero_grad();
    auto q = m.apply(t, t.param(table), 0);
    Var<float> loss = ops::add(ops::mean(q.items), q.aux_loss);
    t.backward(loss);
  };
  for (int i = 0; i < 3; ++i) step();
  const std::size_t allocs = t.workspace().heap_allocations();
  const int n = 20;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) step();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / n;
  std::printf("{\"threads\": %d, \"apply_fwd_bwd_ms\": %.2f, \"arena_allocations_after_warmup\": %zu}\n", num_threads(),
              ms, t.workspace().heap_allocations() - allocs);
  return 0;
}
