// Foundation benchmark (issue: foundation): GEMM through metarec::gemm vs raw
// Eigen on the same shapes, and one SASRec-sized training step (batch 256,
// length 50, d 64, 2 layers, 2 heads, 12,101 items, full-softmax CE over all
// positions) with the tape's own bookkeeping time measured by its profiler.
// Prints one JSON object. Compare with benchmarks/torch_ref/bench_step.py
// (run both through benchmarks/speed/run_core_bench.sh, same threads, same machine).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "metarec/backbones/sasrec.hpp"
#include "metarec/core/gemm.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/data/readers.hpp"
#include "metarec/train/batch_inputs.hpp"
#include <filesystem>
#include <map>

using namespace metarec;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

template <class F>
static double best_of(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto a = Clock::now();
    f();
    best = std::min(best, since(a));
  }
  return best;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 10;
  set_num_threads(threads);
  std::printf("{\n  \"threads\": %d,\n  \"gemm\": [\n", threads);
  struct G { index_t M, N, K; bool tb; };
  const std::vector<G> shapes = {{12800, 64, 64, true}, {12800, 256, 64, true}, {2048, 12101, 64, true},
                                 {512, 512, 512, false}};
  Rng rng(1);
  for (std::size_t s = 0; s < shapes.size(); ++s) {
    const auto [M, N, K, tb] = shapes[s];
    Tensor<float> a({M, K}), b(tb ? Shape{N, K} : Shape{K, N}), c({M, N});
    for (auto& x : a) x = static_cast<float>(rng.uniform(-1, 1));
    for (auto& x : b) x = static_cast<float>(rng.uniform(-1, 1));
    const double flops = 2.0 * double(M) * double(N) * double(K);
    const double ours = best_of(5, [&] {
      gemm<float>(false, tb, M, N, K, 1.f, a.data(), K, b.data(), b.cols(), 0.f, c.data(), N);
    });
    auto am = a.matrix();
    auto bm = b.matrix();
    auto cm = c.matrix();
    const double raw = best_of(5, [&] {
      if (tb) cm.noalias() = am * bm.transpose(); else cm.noalias() = am * bm;
    });
    std::printf("    {\"M\": %ld, \"N\": %ld, \"K\": %ld, \"ours_gflops\": %.1f, \"eigen_gflops\": %.1f, \"ratio\": %.3f}%s\n",
                long(M), long(N), long(K), flops / ours / 1e9, flops / raw / 1e9, raw / ours,
                s + 1 < shapes.size() ? "," : "");
  }
  std::printf("  ],\n");

  // One SASRec training step, every position real (the worst case).
  const ModelConfig cfg;  // d 64, max_len 50; SASRec's defaults: 2 layers, 2 heads, inner 256, dropout 0.5
  const index_t B = 256, L = 50, n_items = 12101;
  Recommender<backbones::SASRec> model(cfg, 1);
  const int dom = model.add_domain("beauty", n_items);
  optim::Adam<float> adam(model.parameters().all(), optim::AdamConfig{});
  std::vector<std::int32_t> items(B * L), targets(B * L);
  std::vector<std::uint8_t> mask(B * L, 1);
  for (auto& x : items) x = static_cast<std::int32_t>(1 + rng.below(n_items));
  for (auto& x : targets) x = static_cast<std::int32_t>(1 + rng.below(n_items));
  TrainInputs in{{B, L, items.data(), mask.data()}, targets.data(), nullptr};
  Tape<float> tape(3);
  auto step = [&] {
    tape.reset();
    model.parameters().zero_grad();
    auto loss = model.loss(tape, dom, in);
    tape.backward(loss);
    adam.step();
  };
  step();
  step();  // warm-up: arena and optimizer state sized
  const double t_step = best_of(steps, step);
  tape.set_profiling(true);
  tape.profile().clear();
  double total = 0;
  for (int i = 0; i < steps; ++i) {
    auto a = Clock::now();
    step();
    total += since(a);
  }
  const auto& prof = tape.profile();
  std::printf("  \"sasrec_step\": {\"batch\": %ld, \"length\": %ld, \"items\": %ld, \"ms_per_step\": %.2f, "
              "\"sequences_per_s\": %.1f, \"tape_bookkeeping_fraction\": %.5f, \"nodes_per_step\": %zu,\n",
              long(B), long(L), long(n_items), t_step * 1e3, B / t_step, prof.bookkeeping_seconds / total, tape.size());
  std::printf("    \"forward_ms\": {");
  bool first = true;
  for (auto& [k, v] : prof.forward_seconds) {
    std::printf("%s\"%s\": %.3f", first ? "" : ", ", k.c_str(), v / steps * 1e3);
    first = false;
  }
  std::printf("},\n    \"backward_ms\": {");
  first = true;
  for (auto& [k, v] : prof.backward_seconds) {
    std::printf("%s\"%s\": %.3f", first ? "" : ", ", k.c_str(), v / steps * 1e3);
    first = false;
  }
  std::printf("}\n  }");
  // Real Beauty batches (trimmed to the longest sequence, only real positions scored).
  const std::string beauty = argc > 3 ? argv[3] : "";
  if (!beauty.empty() && std::filesystem::exists(beauty)) {
    auto dom_data = data::read_sequences(beauty);
    auto split = data::split_leave_one_out(dom_data);
    data::BatchIterator it(split, train::batch_options(model, 256, 1));
    train::BatchInputs bi(split, LossKind::ce, 1);
    it.start_epoch(1);
    std::vector<TrainInputs> batches;
    std::vector<std::vector<std::int32_t>> keep_items, keep_targets;
    std::vector<std::vector<std::uint8_t>> keep_mask;
    index_t positions = 0, padded = 0;
    for (int i = 0; i < steps && it.next(); ++i) {
      const TrainInputs& x = bi.prepare(it.batch());
      const auto n = static_cast<std::size_t>(x.seq.batch * x.seq.length);
      keep_items.emplace_back(x.seq.items, x.seq.items + n);
      keep_targets.emplace_back(x.targets, x.targets + n);
      keep_mask.emplace_back(x.seq.mask, x.seq.mask + n);
      for (std::size_t j = 0; j < n; ++j) positions += x.targets[j] > 0;
      padded += static_cast<index_t>(n);
    }
    for (std::size_t i = 0; i < keep_items.size(); ++i) {
      const index_t L = static_cast<index_t>(keep_items[i].size()) / 256;
      batches.push_back(TrainInputs{{256, L, keep_items[i].data(), keep_mask[i].data()}, keep_targets[i].data(), nullptr});
    }
    tape.profile().clear();
    double t_real = 0;
    for (auto& b : batches) {
      auto a = Clock::now();
      tape.reset();
      model.parameters().zero_grad();
      auto loss = model.loss(tape, dom, b);
      tape.backward(loss);
      adam.step();
      t_real += since(a);
    }
    const double nb = static_cast<double>(batches.size());
    std::printf(",\n  \"beauty_batches\": {\"batches\": %zu, \"mean_positions\": %.0f, \"mean_padded_positions\": %.0f, \"ms_per_step\": %.2f, \"sequences_per_s\": %.1f,\n    \"forward_ms\": {",
                batches.size(), positions / nb, padded / nb, t_real / nb * 1e3, 256 * nb / t_real);
    first = true;
    for (auto& [k, v] : tape.profile().forward_seconds) {
      std::printf("%s\"%s\": %.3f", first ? "" : ", ", k.c_str(), v / nb * 1e3);
      first = false;
    }
    std::printf("},\n    \"backward_ms\": {");
    first = true;
    for (auto& [k, v] : tape.profile().backward_seconds) {
      std::printf("%s\"%s\": %.3f", first ? "" : ", ", k.c_str(), v / nb * 1e3);
      first = false;
    }
    std::printf("}}");
  }
  std::printf("\n}\n");
  return 0;
}
