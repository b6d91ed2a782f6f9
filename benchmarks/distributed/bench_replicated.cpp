// The part of a data-parallel step that every rank repeats whatever the number
// of ranks: zero_grad + Adam over all parameters (the item table is dense
// under full-softmax CE). Input of the step-time model in docs/distributed.md.
//   bench_replicated [n_items=12101] [d=64] [reps=50]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "metarec/backbones/sasrec.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/recommender/recommender.hpp"

using namespace metarec;

int main(int argc, char** argv) {
  const std::int32_t n_items = argc > 1 ? std::atoi(argv[1]) : 12101;
  const index_t d = argc > 2 ? std::atoi(argv[2]) : 64;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 50;
  Recommender<backbones::SASRec>::Config cfg;
  cfg.model.d = d;
  Recommender<backbones::SASRec> model(cfg, 1);
  model.add_domain("items", n_items);
  const auto params = model.parameters().all();
  std::size_t n = 0;
  for (auto* p : params) n += static_cast<std::size_t>(p->value.size()), p->grad.fill(1e-3f);
  optim::Adam<float> adam(params, optim::AdamConfig{});
  adam.step();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto a = std::chrono::steady_clock::now();
    for (auto* p : params) p->zero_grad();  // dense tables (the default): the whole gradient
    adam.step();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::printf("parameters %zu (%.2f MB of float gradients); zero_grad + Adam step: %.3f ms (best of %d)\n", n,
              static_cast<double>(n) * 4 / 1e6, best * 1e3, reps);
}
