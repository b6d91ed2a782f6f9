#pragma once
/// @file batching.hpp
/// Padded mini-batches from training sequences (layout [B, L] row-major):
/// - next-item (SASRec / GRU4Rec): inputs s[0..n-1), targets s[1..n), the
///   last max_len positions kept, a target at every real position;
/// - cloze (BERT4Rec, Sun et al. 2019): inputs are the last max_len items,
///   each real position masked with probability p (mask token n_items + 1
///   by default), at least one masked position per sequence, targets only at
///   masked positions;
/// - uniform negative sampling excluding the user's items;
/// - evaluation inputs: the last max_len items of a history, padded, with
///   the target at the last real position (BERT4Rec: a mask appended).
/// Left padding by default (the last real item sits at position L-1), right
/// padding as an option. Item 0 = padding, target 0 = no target, mask 1 = real.
/// Everything random is drawn from metarec::Rng with a caller-given seed.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/data/split.hpp"

namespace metarec::data {

enum class Padding { left, right };
enum class Objective { next_item, cloze };

struct SequenceBatch {
  index_t batch = 0, length = 0;
  std::vector<std::int32_t> items;    ///< [B*L], 0 = pad
  std::vector<std::int32_t> targets;  ///< [B*L], 0 = no target
  std::vector<std::uint8_t> mask;     ///< [B*L], 1 = real position
  std::vector<std::int32_t> user;     ///< [B] domain user ids

  /// Sets the shape and zero-fills; no allocation once the capacity was reached.
  void resize(index_t b, index_t l) {
    batch = b;
    length = l;
    const auto n = static_cast<std::size_t>(b * l);
    items.assign(n, 0);
    targets.assign(n, 0);
    mask.assign(n, 0);
    user.assign(static_cast<std::size_t>(b), 0);
  }
  std::int64_t n_targets() const { return std::count_if(targets.begin(), targets.end(), [](std::int32_t t) { return t != 0; }); }
};

namespace detail {
/// Copies s[first..last) into a row of length L (left or right aligned).
inline void place_row(std::span<const std::int32_t> s, index_t L, Padding pad, std::int32_t* dst, std::uint8_t* mask) {
  const auto n = static_cast<index_t>(s.size());
  const index_t off = pad == Padding::left ? L - n : 0;
  std::copy(s.begin(), s.end(), dst + off);
  if (mask) std::fill(mask + off, mask + off + n, std::uint8_t{1});
}
inline std::span<const std::int32_t> last(std::span<const std::int32_t> s, index_t k) {
  return static_cast<index_t>(s.size()) > k ? s.last(static_cast<std::size_t>(k)) : s;
}
}  // namespace detail

/// One next-item row: inputs s[0..n-1), targets s[1..n), last L positions.
inline void fill_next_item_row(std::span<const std::int32_t> s, index_t L, Padding pad, std::int32_t* items,
                               std::int32_t* targets, std::uint8_t* mask) {
  if (s.size() < 2) return;
  const auto in = detail::last(s.first(s.size() - 1), L);
  const auto tg = detail::last(s.subspan(1), L);
  detail::place_row(in, L, pad, items, mask);
  detail::place_row(tg, L, pad, targets, nullptr);
}

/// One plain row: the last L items of s.
inline void fill_sequence_row(std::span<const std::int32_t> s, index_t L, Padding pad, std::int32_t* items,
                              std::uint8_t* mask) {
  detail::place_row(detail::last(s, L), L, pad, items, mask);
}

/// Cloze masking in place: every real position is masked with probability p
/// (its item moves to `targets`, `items` gets mask_token); a row with real
/// positions but no draw gets one uniformly chosen masked position.
inline void apply_cloze(SequenceBatch& b, std::int32_t mask_token, double p, Rng& rng) {
  if (!(p > 0.0 && p <= 1.0)) throw ConfigError("apply_cloze: mask_prob = " + std::to_string(p) + " is out of range (0, 1]");
  for (index_t r = 0; r < b.batch; ++r) {
    const auto base = static_cast<std::size_t>(r * b.length);
    index_t real = 0, masked = 0;
    for (index_t t = 0; t < b.length; ++t) {
      const std::size_t k = base + static_cast<std::size_t>(t);
      b.targets[k] = 0;
      if (!b.mask[k]) continue;
      ++real;
      if (rng.bernoulli(p)) {
        b.targets[k] = b.items[k];
        b.items[k] = mask_token;
        ++masked;
      }
    }
    if (real == 0 || masked > 0) continue;
    auto pick = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(real)));
    for (index_t t = 0; t < b.length; ++t) {
      const std::size_t k = base + static_cast<std::size_t>(t);
      if (b.mask[k] && pick-- == 0) {
        b.targets[k] = b.items[k];
        b.items[k] = mask_token;
        break;
      }
    }
  }
}

struct BatchOptions {
  index_t batch_size = 256;
  index_t max_len = 50;
  Padding padding = Padding::left;
  Objective objective = Objective::next_item;
  double mask_prob = 0.2;         ///< cloze only
  std::int32_t mask_token = -1;   ///< cloze only; -1 = n_items + 1
  bool shuffle = true;
  bool drop_last = false;         ///< drop a final partial batch
  std::uint64_t seed = 0;
};

/// Epochs of shuffled mini-batches over the users' training sequences.
/// Holds a pointer to the sequences (the Split must outlive the iterator).
/// Users with too little data (next-item: < 2 training items, cloze: 0) are
/// left out and counted in skipped_users(). Epoch e's order depends only on
/// (seed, e), so a resumed run sees the same batches.
class BatchIterator {
 public:
  BatchIterator(const std::vector<std::vector<std::int32_t>>& sequences, std::span<const std::int32_t> users,
                std::int32_t n_items, const BatchOptions& opt)
      : seqs_(&sequences), opt_(opt) {
    check_range<index_t>("BatchOptions.batch_size", opt.batch_size, 1, index_t{1} << 30);
    check_range<index_t>("BatchOptions.max_len", opt.max_len, 1, index_t{1} << 20);
    if (opt_.mask_token < 0) opt_.mask_token = n_items + 1;
    const std::size_t need = opt.objective == Objective::next_item ? 2 : 1;
    for (std::int32_t u : users) {
      if (u < 0 || static_cast<std::size_t>(u) >= sequences.size())
        throw ConfigError("BatchIterator: user " + std::to_string(u) + " is out of range [0, " +
                          std::to_string(sequences.size()) + ")");
      if (sequences[static_cast<std::size_t>(u)].size() >= need)
        users_.push_back(u);
      else
        ++skipped_;
    }
    order_ = users_;
    start_epoch(0);
  }
  BatchIterator(const Split& split, const BatchOptions& opt)
      : BatchIterator(split.train, split.train_users, split.n_items, opt) {}

  /// Rewinds to the start of epoch `epoch` (reshuffles deterministically).
  void start_epoch(std::uint64_t epoch) {
    rng_.reseed(opt_.seed ^ (0x9E3779B97F4A7C15ULL * (epoch + 1)));
    std::copy(users_.begin(), users_.end(), order_.begin());
    if (opt_.shuffle) rng_.shuffle(order_.begin(), order_.end());
    pos_ = 0;
  }

  /// Fills batch() with the next mini-batch; false at the end of the epoch.
  bool next() {
    const std::size_t left = order_.size() - pos_;
    const auto bs = static_cast<std::size_t>(opt_.batch_size);
    if (left == 0 || (opt_.drop_last && left < bs)) return false;
    const std::size_t B = std::min(left, bs);
    const index_t L = opt_.max_len;
    batch_.resize(static_cast<index_t>(B), L);
    for (std::size_t r = 0; r < B; ++r) {
      const std::int32_t u = order_[pos_ + r];
      const auto& s = (*seqs_)[static_cast<std::size_t>(u)];
      const std::size_t off = r * static_cast<std::size_t>(L);
      batch_.user[r] = u;
      if (opt_.objective == Objective::next_item)
        fill_next_item_row(s, L, opt_.padding, batch_.items.data() + off, batch_.targets.data() + off, batch_.mask.data() + off);
      else
        fill_sequence_row(s, L, opt_.padding, batch_.items.data() + off, batch_.mask.data() + off);
    }
    if (opt_.objective == Objective::cloze) apply_cloze(batch_, opt_.mask_token, opt_.mask_prob, rng_);
    pos_ += B;
    return true;
  }

  const SequenceBatch& batch() const { return batch_; }
  SequenceBatch& batch() { return batch_; }
  index_t batches_per_epoch() const {
    const auto n = static_cast<index_t>(users_.size()), b = opt_.batch_size;
    return opt_.drop_last ? n / b : (n + b - 1) / b;
  }
  std::size_t n_users() const { return users_.size(); }
  std::int64_t skipped_users() const { return skipped_; }
  std::int32_t mask_token() const { return opt_.mask_token; }
  const BatchOptions& options() const { return opt_; }

 private:
  const std::vector<std::vector<std::int32_t>>* seqs_;
  BatchOptions opt_;
  std::vector<std::int32_t> users_, order_;
  std::size_t pos_ = 0;
  std::int64_t skipped_ = 0;
  Rng rng_;
  SequenceBatch batch_;
};

/// Uniform negatives over 1..n_items excluding every item of the user's
/// sequence (as given: pass Split::train to exclude training items, or
/// Domain::sequences to exclude all). Rejection sampling when the user has at
/// most half of the catalogue, otherwise the k-th free item is found directly.
class NegativeSampler {
 public:
  NegativeSampler(const std::vector<std::vector<std::int32_t>>& sequences, std::int32_t n_items, std::uint64_t seed)
      : n_items_(n_items), rng_(seed) {
    if (n_items < 1) throw ConfigError("NegativeSampler: n_items = " + std::to_string(n_items) + " must be >= 1");
    off_.reserve(sequences.size() + 1);
    off_.push_back(0);
    for (const auto& s : sequences) {
      const std::size_t b = seen_.size();
      seen_.insert(seen_.end(), s.begin(), s.end());
      std::sort(seen_.begin() + static_cast<std::ptrdiff_t>(b), seen_.end());
      seen_.erase(std::unique(seen_.begin() + static_cast<std::ptrdiff_t>(b), seen_.end()), seen_.end());
      off_.push_back(seen_.size());
    }
  }

  /// Restarts the draws (fit reseeds every epoch, so a resumed run draws what an uninterrupted one does).
  void reseed(std::uint64_t seed) { rng_.reseed(seed); }

  bool contains(std::int32_t user, std::int32_t item) const {
    const auto s = items_of(user);
    return std::binary_search(s.begin(), s.end(), item);
  }

  std::int32_t sample(std::int32_t user) {
    const auto s = items_of(user);
    const auto free = static_cast<std::int64_t>(n_items_) - static_cast<std::int64_t>(s.size());
    if (free <= 0)
      throw ConfigError("NegativeSampler: user " + std::to_string(user) + " has interacted with all " +
                        std::to_string(n_items_) + " items; no negative exists");
    if (2 * static_cast<std::int64_t>(s.size()) <= n_items_) {
      for (;;) {
        const auto c = static_cast<std::int32_t>(1 + rng_.below(static_cast<std::uint64_t>(n_items_)));
        if (!std::binary_search(s.begin(), s.end(), c)) return c;
      }
    }
    // k-th item (1-based ids) not in the sorted exclusion list.
    auto c = static_cast<std::int64_t>(1 + rng_.below(static_cast<std::uint64_t>(free)));
    for (std::int32_t e : s)
      if (e <= c) ++c;
      else break;
    return static_cast<std::int32_t>(c);
  }

  /// out[(b*L + t)*n_neg + j]: n_neg negatives for every position with a target, 0 elsewhere.
  void sample_for_batch(const SequenceBatch& b, index_t n_neg, std::vector<std::int32_t>& out) {
    check_range<index_t>("sample_for_batch: n_neg", n_neg, 1, index_t{1} << 20);
    out.assign(static_cast<std::size_t>(b.batch * b.length * n_neg), 0);
    for (index_t r = 0; r < b.batch; ++r)
      for (index_t t = 0; t < b.length; ++t) {
        const auto k = static_cast<std::size_t>(r * b.length + t);
        if (b.targets[k] == 0) continue;
        for (index_t j = 0; j < n_neg; ++j) out[k * static_cast<std::size_t>(n_neg) + static_cast<std::size_t>(j)] = sample(b.user[static_cast<std::size_t>(r)]);
      }
  }
  Rng& rng() { return rng_; }

 private:
  std::span<const std::int32_t> items_of(std::int32_t user) const {
    if (user < 0 || static_cast<std::size_t>(user) + 1 >= off_.size())
      throw ConfigError("NegativeSampler: user " + std::to_string(user) + " is out of range [0, " +
                        std::to_string(off_.size() - 1) + ")");
    const auto u = static_cast<std::size_t>(user);
    return {seen_.data() + off_[u], off_[u + 1] - off_[u]};
  }
  std::int32_t n_items_;
  Rng rng_;
  std::vector<std::size_t> off_;
  std::vector<std::int32_t> seen_;
};

struct EvalBatchOptions {
  index_t max_len = 50;
  Padding padding = Padding::left;
  /// BERT4Rec: a mask token appended after the history (which then keeps its
  /// last max_len - 1 items); 0 = none (SASRec / GRU4Rec).
  std::int32_t append_mask = 0;
};

/// Evaluation inputs for rows `rows` of `set`: last max_len history items,
/// padded; `targets` holds the evaluation target at the last real position
/// (the one whose hidden state ranks the catalogue), 0 elsewhere.
inline void make_eval_batch(const EvalSet& set, std::span<const std::size_t> rows, const EvalBatchOptions& opt,
                            SequenceBatch& out) {
  check_range<index_t>("EvalBatchOptions.max_len", opt.max_len, opt.append_mask ? 2 : 1, index_t{1} << 20);
  const index_t L = opt.max_len;
  out.resize(static_cast<index_t>(rows.size()), L);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r] >= set.size())
      throw ConfigError("make_eval_batch: row " + std::to_string(rows[r]) + " is out of range [0, " + std::to_string(set.size()) + ")");
    const auto& h = set.histories[rows[r]];
    const std::size_t off = r * static_cast<std::size_t>(L);
    std::int32_t* items = out.items.data() + off;
    std::uint8_t* mask = out.mask.data() + off;
    const index_t keep = std::min<index_t>(static_cast<index_t>(h.size()), opt.append_mask ? L - 1 : L);
    const index_t n = keep + (opt.append_mask ? 1 : 0);
    const index_t start = opt.padding == Padding::left ? L - n : 0;
    std::copy(h.end() - keep, h.end(), items + start);
    if (opt.append_mask) items[start + keep] = opt.append_mask;
    std::fill(mask + start, mask + start + n, std::uint8_t{1});
    if (n > 0) out.targets[off + static_cast<std::size_t>(start + n - 1)] = set.targets[rows[r]];
    out.user[r] = set.users[rows[r]];
  }
}

/// Inputs for a list of users from per-user histories (e.g. Split::train or
/// Domain::sequences): last max_len items, padded; targets stay 0.
inline void make_history_batch(const std::vector<std::vector<std::int32_t>>& histories,
                               std::span<const std::int32_t> users, const EvalBatchOptions& opt, SequenceBatch& out) {
  check_range<index_t>("EvalBatchOptions.max_len", opt.max_len, opt.append_mask ? 2 : 1, index_t{1} << 20);
  const index_t L = opt.max_len;
  out.resize(static_cast<index_t>(users.size()), L);
  for (std::size_t r = 0; r < users.size(); ++r) {
    const std::int32_t u = users[r];
    if (u < 0 || static_cast<std::size_t>(u) >= histories.size())
      throw ConfigError("make_history_batch: user " + std::to_string(u) + " is out of range [0, " +
                        std::to_string(histories.size()) + ")");
    const std::span<const std::int32_t> h = histories[static_cast<std::size_t>(u)];
    const std::size_t off = r * static_cast<std::size_t>(L);
    if (!opt.append_mask) {
      fill_sequence_row(h, L, opt.padding, out.items.data() + off, out.mask.data() + off);
    } else {
      const auto kept = detail::last(h, L - 1);
      const index_t start = opt.padding == Padding::left ? L - 1 - static_cast<index_t>(kept.size()) : 0;
      std::copy(kept.begin(), kept.end(), out.items.data() + off + static_cast<std::size_t>(start));
      out.items[off + static_cast<std::size_t>(start) + kept.size()] = opt.append_mask;
      std::fill_n(out.mask.data() + off + static_cast<std::size_t>(start), kept.size() + 1, std::uint8_t{1});
    }
    out.user[r] = u;
  }
}

/// Rows [begin, end) of `set`.
inline void make_eval_batch(const EvalSet& set, std::size_t begin, std::size_t end, const EvalBatchOptions& opt,
                            SequenceBatch& out) {
  if (begin > end || end > set.size())
    throw ConfigError("make_eval_batch: rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                      ") out of range [0, " + std::to_string(set.size()) + ")");
  thread_local std::vector<std::size_t> rows;
  rows.resize(end - begin);
  for (std::size_t k = 0; k < rows.size(); ++k) rows[k] = begin + k;
  make_eval_batch(set, rows, opt, out);
}

}  // namespace metarec::data
