#pragma once
/// @file schedule.hpp
/// Learning-rate schedules. Each maps the 0-based index of the update about to
/// be taken (= Optimizer::steps() before step()) to a multiplier of the base
/// rate. Warmup is linear and reaches 1 on its last step, (step + 1) / warmup,
/// so no update is wasted at rate 0. Keyed on the optimizer's own counter, a
/// schedule resumes correctly from a checkpoint.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <variant>

#include "metarec/optim/optimizer.hpp"

namespace metarec::optim {

struct Constant {
  double operator()(std::uint64_t) const { return 1.0; }
};

/// Linear warmup over `warmup_steps` updates, then constant.
struct LinearWarmup {
  std::uint64_t warmup_steps = 0;
  double operator()(std::uint64_t step) const {
    if (step >= warmup_steps) return 1.0;
    return static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
};

/// Linear warmup, then cosine decay from 1 to `min_ratio` at `total_steps`
/// (Loshchilov & Hutter, SGDR, ICLR 2017, without restarts); min_ratio after.
struct Cosine {
  std::uint64_t warmup_steps = 0;
  std::uint64_t total_steps = 0;
  double min_ratio = 0;
  double operator()(std::uint64_t step) const {
    if (total_steps <= warmup_steps)
      throw ConfigError("Cosine schedule: total_steps = " + std::to_string(total_steps) +
                        " must exceed warmup_steps = " + std::to_string(warmup_steps));
    if (!(min_ratio >= 0 && min_ratio <= 1))
      throw ConfigError("Cosine schedule: min_ratio = " + std::to_string(min_ratio) + " must be in [0, 1]");
    if (step < warmup_steps) return LinearWarmup{warmup_steps}(step);
    const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) /
                                              static_cast<double>(total_steps - warmup_steps));
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
  }
};

/// A schedule chosen at run time (CLI, config file).
using AnySchedule = std::variant<Constant, LinearWarmup, Cosine>;

inline double multiplier(const AnySchedule& s, std::uint64_t step) {
  return std::visit([step](const auto& f) { return f(step); }, s);
}
template <class S>
double multiplier(const S& s, std::uint64_t step) {
  return s(step);
}

/// Sets `opt.lr()` to base_lr * schedule(opt.steps()); call apply() before
/// each opt.step().
template <class T, class S = AnySchedule, class B = backend::Cpu>
class Scheduler {
 public:
  Scheduler(Optimizer<T, B>& opt, S schedule, double base_lr) : opt_(opt), schedule_(schedule), base_lr_(base_lr) {
    detail::check_finite_nonneg("Scheduler", "base_lr", base_lr);
  }
  /// The base rate is the optimizer's current rate.
  Scheduler(Optimizer<T, B>& opt, S schedule) : Scheduler(opt, schedule, opt.lr()) {}

  /// Returns the rate now in effect.
  double apply() {
    const double lr = base_lr_ * multiplier(schedule_, opt_.steps());
    opt_.set_lr(lr);
    return lr;
  }
  double base_lr() const { return base_lr_; }
  const S& schedule() const { return schedule_; }

 private:
  Optimizer<T, B>& opt_;
  S schedule_;
  double base_lr_;
};

}  // namespace metarec::optim
