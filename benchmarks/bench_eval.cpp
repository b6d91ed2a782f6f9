// Full-ranking evaluation throughput: every user of an S3-Rec sequence file
// (default Beauty: 22,363 users, 12,101 items) ranked against the whole
// catalogue with random d-dimensional user and item embeddings.
//
// Standalone (not in CMake):
//   g++ -O3 -march=native -fopenmp -std=c++20 -DMETAREC_WITH_OPENMP -I include -I/usr/include/eigen3
//       benchmarks/bench_eval.cpp -o build-eval/bench_eval          (one command line)
//   build-eval/bench_eval --threads 1 [--data FILE] [--dim 64] [--block 0 (auto)] [--tile 1024 (0 = rows)]
//                         [--reps 5] [--mask] [--dump DIR]
// Prints one JSON line. --dump writes U.f32 [users, d], E.f32 [items + 1, d],
// targets.i32 and ranks.i64 (raw little-endian) so benchmarks/bench_eval_reference.py
// can evaluate the very same matrices with NumPy and PyTorch and compare.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "metarec/core/parallel.hpp"
#include "metarec/core/random.hpp"
#include "metarec/eval/full_ranking.hpp"

using namespace metarec;

namespace {

struct Args {
  std::string data = "/work/shared/data/amazon-s3rec/Beauty.txt";
  std::string dump;
  int threads = 1, reps = 5;
  index_t dim = 64, block = 0, tile = 1024;
  bool mask = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw ConfigError("bench_eval: " + k + " needs a value");
      return argv[++i];
    };
    if (k == "--data") a.data = next();
    else if (k == "--dump") a.dump = next();
    else if (k == "--threads") a.threads = std::stoi(next());
    else if (k == "--reps") a.reps = std::stoi(next());
    else if (k == "--dim") a.dim = std::stol(next());
    else if (k == "--block") a.block = std::stol(next());
    else if (k == "--tile") a.tile = std::stol(next());
    else if (k == "--mask") a.mask = true;
    else throw ConfigError("bench_eval: unknown option " + k);
  }
  return a;
}

// Minimal reader of `user item item ...` lines (the real readers live in
// metarec/data; this benchmark only needs the last item and the history).
void read_sequences(const std::string& path, std::vector<std::vector<std::int32_t>>& seqs, index_t& n_items) {
  std::ifstream in(path);
  if (!in) throw IoError("bench_eval: cannot open " + path);
  std::string line;
  n_items = 0;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    long user, item;
    if (!(ss >> user)) continue;
    std::vector<std::int32_t> s;
    while (ss >> item) {
      s.push_back(static_cast<std::int32_t>(item));
      n_items = std::max<index_t>(n_items, item);
    }
    if (!s.empty()) seqs.push_back(std::move(s));
  }
}

template <class V>
void dump(const std::string& path, const V& v) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(v[0])));
  if (!out) throw IoError("bench_eval: cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  set_num_threads(a.threads);
  std::vector<std::vector<std::int32_t>> seqs;
  index_t n_items = 0;
  read_sequences(a.data, seqs, n_items);
  const auto n_users = static_cast<index_t>(seqs.size());

  Rng rng(2024);
  Tensor<float> U({n_users, a.dim}), E({n_items + 1, a.dim});
  const double scale = 1.0 / std::sqrt(static_cast<double>(a.dim));
  for (auto& v : U) v = static_cast<float>(rng.normal(0.0, 1.0));
  for (auto& v : E) v = static_cast<float>(rng.normal(0.0, scale));
  std::vector<std::int32_t> targets;
  std::vector<std::span<const std::int32_t>> history;
  for (const auto& s : seqs) {
    targets.push_back(s.back());
    history.emplace_back(s.data(), s.size() - 1);
  }
  const auto cases = eval::make_cases(targets, history);

  eval::FullRankingOptions opt;
  opt.block_users = a.block;
  opt.item_tile = a.tile;
  opt.mask_history = a.mask;
  eval::FullRankingEvaluator<float> ev(n_items, opt);
  eval::EmbeddingScorer<float> scorer(U, E);
  std::vector<index_t> ranks(cases.size());
  eval::Metrics m = ev.evaluate(cases, scorer, ranks);  // warm-up: buffers, page faults
  double best = 1e30;
  for (int r = 0; r < a.reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    m = ev.evaluate(cases, scorer, ranks);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!a.dump.empty()) {
    dump(a.dump + "/U.f32", std::span<const float>(U.data(), static_cast<std::size_t>(U.size())));
    dump(a.dump + "/E.f32", std::span<const float>(E.data(), static_cast<std::size_t>(E.size())));
    dump(a.dump + "/targets.i32", targets);
    dump(a.dump + "/ranks.i64", ranks);
  }
  std::printf("{\"impl\": \"metarec\", \"threads\": %d, \"users\": %ld, \"items\": %ld, \"dim\": %ld, "
              "\"block\": %ld, \"tile\": %ld, \"seconds\": %.6f, \"users_per_s\": %.1f, \"metrics\": {",
              a.threads, static_cast<long>(n_users), static_cast<long>(n_items), static_cast<long>(a.dim),
              static_cast<long>(a.block), static_cast<long>(a.tile), best, static_cast<double>(n_users) / best);
  const auto items = m.items();
  for (std::size_t i = 0; i < items.size(); ++i)
    std::printf("%s\"%s\": %.10f", i ? ", " : "", items[i].first.c_str(), items[i].second);
  std::printf("}}\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_eval: %s\n", e.what());
  return 1;
}
