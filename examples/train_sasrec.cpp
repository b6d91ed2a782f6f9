// The library from a user's program: read an S3-Rec sequence file, split it
// leave-one-out, train SASRec with the library's trainer and report full-ranking
// test metrics and the time per epoch. Everything comes from one include.
//
//   example_train_sasrec [FILE [EPOCHS [THREADS]]]
//
// Without FILE it trains on a small synthetic ring (the next item is the current
// one + 1, so the model must learn it; exit code 1 otherwise): that is how CI
// runs it. Build it twice to see what metarec::native buys (README, "Using
// metarec in your project"): linked with metarec::metarec only, Eigen runs its
// SSE2 kernels; with metarec::native, the CPU's widest ones.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "metarec/metarec.hpp"

namespace {

/// Prints one line per epoch: training seconds and sequences per second.
struct EpochTimer {
  void on_epoch_end(const metarec::train::EpochRecord& r) {
    std::printf("epoch %3d  loss %.4f  train %.2f s  %.0f seq/s\n", r.epoch, r.loss, r.seconds,
                r.sequences_per_s);
    std::fflush(stdout);
  }
};

metarec::data::Domain ring(std::int32_t n_items, int users) {
  metarec::data::Domain d;
  d.name = "ring";
  d.n_items = n_items;
  metarec::Rng rng(1);
  for (int u = 0; u < users; ++u) {
    std::vector<std::int32_t> s;
    auto item = static_cast<std::int32_t>(1 + rng.below(static_cast<std::uint64_t>(n_items)));
    for (int t = 0; t < 8; ++t) s.push_back(item = item % n_items + 1);
    d.sequences.push_back(s);
    d.user_names.push_back(std::to_string(u));
  }
  d.item_names.assign(static_cast<std::size_t>(n_items) + 1, "");
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace metarec;
  const bool synthetic = argc < 2;
  const int epochs = argc > 2 ? std::atoi(argv[2]) : (synthetic ? 20 : 1);
  if (argc > 3) set_num_threads(std::atoi(argv[3]));
  try {
    const data::Domain domain = synthetic ? ring(40, 400) : data::load_domain(argv[1]);
    const data::Split split = data::split_leave_one_out(domain);
    Recommender<backbones::SASRec>::Config cfg;  // S3-Rec defaults: d 64, 2 blocks, 2 heads, max_len 50
    if (synthetic) {
      cfg.model.d = 16;
      cfg.model.max_len = 10;
      cfg.backbone.inner = 32;
      cfg.backbone.dropout = cfg.backbone.attn_dropout = 0.1;
    }
    Recommender<backbones::SASRec> model(cfg, 1);
    const int k = model.add_domain(domain.name, domain.n_items);
    train::TrainerConfig tc;
    tc.epochs = epochs;
    tc.patience = 0;
    if (synthetic) tc.lr = 1e-2, tc.batch_size = 64;
    EpochTimer timer;
    const auto t0 = std::chrono::steady_clock::now();
    const train::TrainResult r = train::fit(model, k, split, tc, timer);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("SASRec on %s (%zu users, %d items, %d threads): test HR@10 %.4f NDCG@10 %.4f, %.1f s in all\n",
                domain.name.c_str(), domain.sequences.size(), domain.n_items, num_threads(), r.test["HR@10"],
                r.test["NDCG@10"], total);
    return synthetic && r.test["HR@5"] < 0.9 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example_train_sasrec: %s\n", e.what());
    return 2;
  }
}
