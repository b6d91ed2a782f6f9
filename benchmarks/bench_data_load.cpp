// Loading benchmark (issue 3): read Sports_and_Outdoors.txt and build its
// leave-one-out split; target < 0.5 s. Also times the other shared files.
// Build by hand:
//   g++ -O3 -march=native -std=c++20 -I include -I/usr/include/eigen3 \
//       benchmarks/bench_data_load.cpp -o /tmp/bench_data_load
// Run: /tmp/bench_data_load [path/to/shared/data] [repetitions]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "metarec/data/all.hpp"

namespace md = metarec::data;
using clk = std::chrono::steady_clock;

template <class F>
static double best_of(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clk::now();
    f();
    best = std::min(best, std::chrono::duration<double>(clk::now() - t0).count());
  }
  return best;
}

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "../shared/data";
  const int reps = argc > 2 ? std::stoi(argv[2]) : 5;
  std::size_t sink = 0;
  const std::string sports = root + "/amazon-s3rec/Sports_and_Outdoors.txt";
  double t_read = best_of(reps, [&] { sink += md::read_sequences(sports).sequences.size(); });
  const md::Domain d = md::read_sequences(sports);
  double t_split = best_of(reps, [&] { sink += md::split_leave_one_out(d).test.size(); });
  double t_both = best_of(reps, [&] {
    const md::Domain x = md::read_sequences(sports);
    sink += md::split_leave_one_out(x).test.size();
  });
  std::printf("Sports: %d users, %d items, %lld interactions\n", d.n_users(), d.n_items,
              static_cast<long long>(d.n_interactions()));
  std::printf("read %.1f ms, split %.1f ms, read+split %.1f ms (best of %d; target < 500 ms)\n", 1e3 * t_read,
              1e3 * t_split, 1e3 * t_both, reps);
  for (const char* f : {"Beauty.txt", "Toys_and_Games.txt", "LastFM.txt"}) {
    const std::string p = root + "/amazon-s3rec/" + f;
    const double t = best_of(reps, [&] { sink += md::split_leave_one_out(md::read_sequences(p)).test.size(); });
    std::printf("%-20s read+split %.1f ms\n", f, 1e3 * t);
  }
  const double t_sci = best_of(reps, [&] { sink += md::read_unisrec_split(root + "/scientific/Scientific").split.test.size(); });
  std::printf("%-20s read 3 split files + rebuild + split %.1f ms\n", "Scientific", 1e3 * t_sci);
  return sink == 0;
}
