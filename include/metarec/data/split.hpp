#pragma once
/// @file split.hpp
/// Leave-one-out split (SASRec, Kang & McAuley 2018; S3-Rec; UniSRec): for a
/// user sequence s of length n >= 3, training items s[0..n-2), validation
/// target s[n-2] with history s[0..n-2), test target s[n-1] with history
/// s[0..n-1). "Limited target data" keeps the training sequences of a seeded
/// fraction of users; validation and test always keep every user.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "metarec/core/random.hpp"
#include "metarec/data/dataset.hpp"

namespace metarec::data {

/// Evaluation cases: row r asks to rank `targets[r]` given `histories[r]`
/// (chronological) for domain user `users[r]`. Rows are in ascending user order.
struct EvalSet {
  std::vector<std::int32_t> users;
  std::vector<std::int32_t> targets;
  std::vector<std::vector<std::int32_t>> histories;
  std::size_t size() const { return users.size(); }
};

struct SplitOptions {
  /// false: a user with fewer than 3 items throws ParseError naming the user
  /// and its line; true: such users are left out of the split and counted.
  bool lenient = false;
  /// Keep only the last `max_history` items of validation/test histories
  /// (0 = whole history). The UniSRec/MISSRec split files cap at 50.
  std::size_t max_history = 0;
};

struct Split {
  std::string name;
  std::int32_t n_items = 0;
  std::int32_t n_users = 0;                       ///< users of the domain (indexing `train`)
  std::vector<std::vector<std::int32_t>> train;   ///< [n_users] training items; empty = none
  std::vector<std::int32_t> train_users;          ///< users with a non-empty training sequence, ascending
  EvalSet valid, test;
  double train_fraction = 1.0;                    ///< set by limit_training_users
  LoadReport report;                              ///< users skipped (lenient) or dropped by limiting
};

namespace detail {
inline std::vector<std::int32_t> tail(const std::vector<std::int32_t>& s, std::size_t end, std::size_t cap) {
  const std::size_t begin = (cap != 0 && end > cap) ? end - cap : 0;
  return std::vector<std::int32_t>(s.begin() + static_cast<std::ptrdiff_t>(begin),
                                   s.begin() + static_cast<std::ptrdiff_t>(end));
}
}  // namespace detail

inline Split split_leave_one_out(const Domain& d, const SplitOptions& opt = {}) {
  Split sp;
  sp.name = d.name;
  sp.n_items = d.n_items;
  sp.n_users = d.n_users();
  sp.train.resize(d.sequences.size());
  for (EvalSet* e : {&sp.valid, &sp.test}) {
    e->users.reserve(d.sequences.size());
    e->targets.reserve(d.sequences.size());
    e->histories.reserve(d.sequences.size());
  }
  for (std::size_t u = 0; u < d.sequences.size(); ++u) {
    const auto& s = d.sequences[u];
    const std::size_t n = s.size();
    if (n < 3) {
      const std::string name = u < d.user_names.size() ? d.user_names[u] : std::to_string(u);
      ParseError e(d.source.empty() ? d.name : d.source, u < d.user_lines.size() ? static_cast<long>(d.user_lines[u]) : 0,
                   "user", "user " + name + " has " + std::to_string(n) +
                               " item(s); leave-one-out needs at least 3 (train, validation, test)");
      if (!opt.lenient) throw e;
      ++sp.report.skipped_users;
      sp.report.note("user with fewer than 3 items", e.what());
      continue;
    }
    const auto user = static_cast<std::int32_t>(u);
    sp.train[u].assign(s.begin(), s.end() - 2);
    sp.train_users.push_back(user);
    sp.valid.users.push_back(user);
    sp.valid.targets.push_back(s[n - 2]);
    sp.valid.histories.push_back(detail::tail(s, n - 2, opt.max_history));
    sp.test.users.push_back(user);
    sp.test.targets.push_back(s[n - 1]);
    sp.test.histories.push_back(detail::tail(s, n - 1, opt.max_history));
  }
  return sp;
}

/// Keeps the training sequences of round(fraction * |train_users|) users (at
/// least one) drawn without replacement with Rng(seed); the others' training
/// sequences are cleared. Validation and test are unchanged (every user).
/// fraction must be in (0, 1] (ConfigError otherwise).
inline Split limit_training_users(Split sp, double fraction, std::uint64_t seed) {
  if (!(fraction > 0.0 && fraction <= 1.0))
    throw ConfigError("limit_training_users: fraction = " + std::to_string(fraction) + " is out of range (0, 1]");
  std::vector<std::int32_t> users = sp.train_users;
  const auto n = users.size();
  auto keep = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  keep = std::clamp<std::size_t>(keep, n == 0 ? 0 : 1, n);
  Rng rng(seed);
  // Partial Fisher-Yates: the first `keep` entries are a uniform sample.
  for (std::size_t i = 0; i < keep; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(rng.below(n - i));
    std::swap(users[i], users[j]);
  }
  std::vector<char> kept(sp.train.size(), 0);
  for (std::size_t i = 0; i < keep; ++i) kept[static_cast<std::size_t>(users[i])] = 1;
  for (std::int32_t u : sp.train_users)
    if (!kept[static_cast<std::size_t>(u)]) std::vector<std::int32_t>().swap(sp.train[static_cast<std::size_t>(u)]);
  users.resize(keep);
  std::sort(users.begin(), users.end());
  sp.report.note("training users dropped by limit_training_users", "", static_cast<std::int64_t>(n - keep));
  sp.train_users = std::move(users);
  sp.train_fraction *= fraction;
  return sp;
}

}  // namespace metarec::data
