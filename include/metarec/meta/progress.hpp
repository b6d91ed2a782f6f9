#pragma once
/// @file progress.hpp
/// Meta-phase progress callback for meta::MetaTransfer::run: one line every
/// `every` logged iterations (and at the first) with the target query loss,
/// the per-source weights, the time so far and an estimate of what is left.
/// Pass it beside train::ProgressReporter, which then reports fine-tuning.
#include <chrono>
#include <cstdio>

#include "metarec/meta/common.hpp"

namespace metarec::meta {

class MetaProgressReporter {
 public:
  /// @param total  iterations the phase will log (the learner Config's iterations, or JointPretrain::Config::epochs)
  explicit MetaProgressReporter(int total, int every = 25, std::FILE* stream = stderr)
      : total_(total), every_(every < 1 ? 1 : every), out_(stream), start_(Clock::now()) {}

  bool on_meta_iteration(const IterationLog& log) {
    if (log.iteration != 1 && log.iteration % every_ != 0 && log.iteration != total_) return false;
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    const double left = log.iteration > 0 ? secs / log.iteration * (total_ - log.iteration) : 0;
    std::fprintf(out_, "meta %5d/%d  loss %.4f  weights", log.iteration, total_, log.query_loss);
    for (double w : log.weight) std::fprintf(out_, " %.3f", w);
    std::fprintf(out_, "  %.0fs, ~%.0fs left\n", secs, left > 0 ? left : 0.0);
    std::fflush(out_);
    return false;  // never stops the phase
  }

 private:
  using Clock = std::chrono::steady_clock;
  int total_, every_;
  std::FILE* out_;
  Clock::time_point start_;
};

}  // namespace metarec::meta
