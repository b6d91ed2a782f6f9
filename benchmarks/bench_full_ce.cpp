// Fwd+bwd throughput of ops::full_softmax_ce (float), the dominant cost of
// training a sequential recommender. GFLOP/s counts 3 GEMMs of 2*N*n*d each.
// Build: g++ -O3 -march=native -fopenmp -std=c++20 -DMETAREC_WITH_OPENMP=1 -I include
//        -I/usr/include/eigen3 benchmarks/bench_full_ce.cpp -o bench_full_ce
// Run:   ./bench_full_ce [threads=1] [reps=10] [row_block=0] [item_block=0] [N...]
// Compare with benchmarks/bench_full_ce_torch.py run with the same thread count.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/autograd/ops/cross_entropy.hpp"

using namespace metarec;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 10;
  ops::FullCEOptions opt;
  opt.row_block = argc > 3 ? std::atol(argv[3]) : 0;
  opt.item_block = argc > 4 ? std::atol(argv[4]) : 0;
  std::vector<index_t> sizes;
  for (int i = 5; i < argc; ++i) sizes.push_back(std::atol(argv[i]));
  if (sizes.empty()) sizes = {2000, 12800};
  set_num_threads(threads);
  const index_t n_items = 12101, d = 64;
  Rng rng(1);
  Parameter<float> table("items", {n_items, d});
  for (auto& v : table.value) v = static_cast<float>(rng.normal() * 0.1);
  for (index_t N : sizes) {
    Tensor<float> h({N, d});
    for (auto& v : h) v = static_cast<float>(rng.normal() * 0.5);
    std::vector<std::int32_t> targets(static_cast<std::size_t>(N));
    for (auto& t : targets) t = static_cast<std::int32_t>(1 + rng.below(n_items - 1));
    Tape<float> tape;
    std::vector<double> times, cpu;  // wall and process CPU seconds (the machine may be shared)
    float loss_value = 0;
    for (int r = 0; r < reps + 2; ++r) {
      tape.reset();
      table.zero_grad();
      const auto t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();
      auto loss = ops::full_softmax_ce(tape.leaf(h, true), tape.param(table), targets.data(), opt);
      tape.backward(loss);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r >= 2) times.push_back(s), cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
      loss_value = loss.value()[0];
    }
    std::sort(times.begin(), times.end());
    std::sort(cpu.begin(), cpu.end());
    const double flops = 3 * 2.0 * double(N) * double(n_items - 1) * double(d);
    std::printf("metarec N=%ld n_items=%ld d=%ld threads=%d rb=%ld ib=%ld: best %.2f ms, median %.2f ms, %.1f GFLOP/s; best CPU time %.2f ms (%.1f GFLOP per CPU-second); loss %.5f\n",
                long(N), long(n_items), long(d), threads, long(opt.row_block), long(opt.item_block), times[0] * 1e3,
                times[times.size() / 2] * 1e3, flops / times[0] / 1e9, cpu[0] * 1e3, flops / cpu[0] / 1e9, double(loss_value));
  }
}
