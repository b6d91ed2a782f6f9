#pragma once
/// @file progress.hpp
/// Training progress callback: a live progress bar (samples/s, loss, ETA) when
/// the stream is a terminal, and one plain log line per epoch otherwise (CI
/// logs, files). Pass it to train::fit() like any callback.
#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "metarec/train/trainer.hpp"

namespace metarec::train {

class ProgressReporter {
 public:
  /// @param stream  where to write (stderr by default)
  /// @param metrics validation metrics shown per epoch
  explicit ProgressReporter(std::FILE* stream = stderr, std::vector<std::string> metrics = {"HR@10", "NDCG@10"})
      : out_(stream), metrics_(std::move(metrics)), tty_(isatty(fileno(stream)) != 0) {}
  void set_terminal(bool on) { tty_ = on; }

  void on_train_begin(const TrainInfo& i) {
    std::fprintf(out_, "training on %zu users, %ld batches per epoch, up to %d epochs\n", i.train_users,
                 static_cast<long>(i.batches_per_epoch), i.epochs);
  }
  void on_step(const StepInfo& s) {
    if (!tty_) return;
    const auto now = Clock::now();
    if (s.batch != s.batches && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    const int width = 30;
    const int filled = static_cast<int>(width * s.batch / std::max<index_t>(s.batches, 1));
    const double frac = static_cast<double>(s.batch) / static_cast<double>(std::max<index_t>(s.batches, 1));
    if (s.batch == 1) epoch_start_ = now;
    const double secs = std::chrono::duration<double>(now - epoch_start_).count();
    const double remaining = frac > 0 ? secs / frac - secs : 0;
    std::fprintf(out_, "\repoch %3d [%-*s] %5.1f%% loss %.4f %8.0f seq/s ETA %5.1fs ", s.epoch, width,
                 std::string(static_cast<std::size_t>(filled), '=').c_str(), 100 * frac, s.loss, s.sequences_per_s,
                 remaining);
    std::fflush(out_);
  }
  void on_epoch_end(const EpochRecord& r) {
    if (tty_) std::fputc('\r', out_);
    std::fprintf(out_, "epoch %3d  loss %.4f  %.1fs  %.0f seq/s", r.epoch, r.loss, r.seconds, r.sequences_per_s);
    if (r.evaluated)
      for (const auto& m : metrics_) std::fprintf(out_, "  valid %s %.4f", m.c_str(), r.valid[m]);
    if (r.improved) std::fprintf(out_, "  *");
    std::fprintf(out_, "%s\n", tty_ ? "\x1b[K" : "");
    std::fflush(out_);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  std::vector<std::string> metrics_;
  bool tty_;
  Clock::time_point last_draw_{}, epoch_start_{};
};

}  // namespace metarec::train
