#pragma once
/// @file metrics.hpp
/// Ranking metrics with one held-out target per user, accumulated from the
/// target's 0-based rank (0 = ranked first):
///   HR@K   = [rank < K]                      (= Recall@K with one target)
///   NDCG@K = [rank < K] / log2(rank + 2)     (ideal DCG is 1)
///   MRR    = 1 / (rank + 1), over the full ranking (not truncated at any K).
/// Means are taken over users. Ranks are added in a fixed order by the
/// evaluators, so the sums (and the printed figures) do not depend on the
/// number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::eval {

class Metrics {
 public:
  /// @param ks cut-offs for HR@K and NDCG@K; each >= 1, no duplicates.
  explicit Metrics(std::vector<int> ks = {5, 10, 20, 50}) : ks_(std::move(ks)) {
    for (std::size_t i = 0; i < ks_.size(); ++i) {
      if (ks_[i] < 1) throw ConfigError("Metrics: K = " + std::to_string(ks_[i]) + " is out of range [1, inf)");
      if (std::find(ks_.begin(), ks_.begin() + static_cast<std::ptrdiff_t>(i), ks_[i]) !=
          ks_.begin() + static_cast<std::ptrdiff_t>(i))
        throw ConfigError("Metrics: K = " + std::to_string(ks_[i]) + " is listed twice");
    }
    hr_.assign(ks_.size(), 0.0);
    ndcg_.assign(ks_.size(), 0.0);
  }

  /// Adds one user whose target has 0-based rank `rank` among the candidates.
  void add(index_t rank) {
    if (rank < 0) throw ConfigError("Metrics::add: rank = " + std::to_string(rank) + " is out of range [0, inf)");
    const double gain = 1.0 / std::log2(static_cast<double>(rank) + 2.0);
    for (std::size_t i = 0; i < ks_.size(); ++i)
      if (rank < ks_[i]) {
        hr_[i] += 1.0;
        ndcg_[i] += gain;
      }
    mrr_ += 1.0 / (static_cast<double>(rank) + 1.0);
    ++count_;
  }
  /// Adds another accumulator with the same cut-offs (e.g. another domain).
  void merge(const Metrics& o) {
    if (o.ks_ != ks_) throw ConfigError("Metrics::merge: the two accumulators have different cut-offs");
    for (std::size_t i = 0; i < ks_.size(); ++i) {
      hr_[i] += o.hr_[i];
      ndcg_[i] += o.ndcg_[i];
    }
    mrr_ += o.mrr_;
    count_ += o.count_;
  }
  /// Metrics of a list of ranks, in list order.
  static Metrics from_ranks(const std::vector<index_t>& ranks, std::vector<int> ks = {5, 10, 20, 50}) {
    Metrics m(std::move(ks));
    for (index_t r : ranks) m.add(r);
    return m;
  }

  /// The accumulator's raw state, {count, sum of reciprocal ranks, HR sums..., NDCG sums...} (checkpoints);
  /// from_sums(ks(), sums()) gives back the same accumulator.
  std::vector<double> sums() const {
    std::vector<double> v{static_cast<double>(count_), mrr_};
    v.insert(v.end(), hr_.begin(), hr_.end());
    v.insert(v.end(), ndcg_.begin(), ndcg_.end());
    return v;
  }
  static Metrics from_sums(std::vector<int> ks, const std::vector<double>& v) {
    Metrics m(std::move(ks));
    const std::size_t n = m.ks_.size();
    if (v.size() != 2 + 2 * n)
      throw ConfigError("Metrics::from_sums: " + std::to_string(v.size()) + " values for " + std::to_string(n) +
                        " cut-offs (expected " + std::to_string(2 + 2 * n) + ")");
    m.count_ = static_cast<index_t>(v[0]);
    m.mrr_ = v[1];
    std::copy_n(v.begin() + 2, n, m.hr_.begin());
    std::copy_n(v.begin() + 2 + static_cast<std::ptrdiff_t>(n), n, m.ndcg_.begin());
    return m;
  }

  /// Number of users added.
  index_t count() const { return count_; }
  const std::vector<int>& ks() const { return ks_; }
  /// Means over users (0 when no user was added).
  double hr(int k) const { return mean(hr_[slot(k)]); }
  double ndcg(int k) const { return mean(ndcg_[slot(k)]); }
  double mrr() const { return mean(mrr_); }

  /// By name: "HR@K", "Recall@K" (same value), "NDCG@K" or "MRR".
  double operator[](std::string_view name) const {
    if (name == "MRR") return mrr();
    const auto at = name.find('@');
    if (at != std::string_view::npos) {
      const std::string_view head = name.substr(0, at);
      const std::string tail(name.substr(at + 1));
      char* end = nullptr;
      const long k = std::strtol(tail.c_str(), &end, 10);
      if (!tail.empty() && *end == '\0') {
        if (head == "HR" || head == "Recall") return hr(static_cast<int>(k));
        if (head == "NDCG") return ndcg(static_cast<int>(k));
      }
    }
    throw ConfigError("Metrics: unknown metric '" + std::string(name) + "' (expected HR@K, Recall@K, NDCG@K or MRR)");
  }
  double get(std::string_view name) const { return (*this)[name]; }

  /// (name, mean) pairs in a fixed order: HR@K for each K, NDCG@K for each K, MRR.
  std::vector<std::pair<std::string, double>> items() const {
    std::vector<std::pair<std::string, double>> out;
    for (int k : ks_) out.emplace_back("HR@" + std::to_string(k), hr(k));
    for (int k : ks_) out.emplace_back("NDCG@" + std::to_string(k), ndcg(k));
    out.emplace_back("MRR", mrr());
    return out;
  }
  /// One line, e.g. "HR@10=0.0605 NDCG@10=0.0318 MRR=0.0290 (n=22363)".
  std::string str(int digits = 4) const {
    std::string s;
    char buf[64];
    for (const auto& [name, v] : items()) {
      std::snprintf(buf, sizeof buf, "%.*f", digits, v);
      s += name + "=" + buf + " ";
    }
    return s + "(n=" + std::to_string(count_) + ")";
  }

 private:
  std::size_t slot(int k) const {
    const auto it = std::find(ks_.begin(), ks_.end(), k);
    if (it == ks_.end()) {
      std::string list;
      for (int v : ks_) list += (list.empty() ? "" : ", ") + std::to_string(v);
      throw ConfigError("Metrics: K = " + std::to_string(k) + " was not requested (cut-offs: {" + list + "})");
    }
    return static_cast<std::size_t>(it - ks_.begin());
  }
  double mean(double sum) const { return count_ ? sum / static_cast<double>(count_) : 0.0; }

  std::vector<int> ks_;
  std::vector<double> hr_, ndcg_;
  double mrr_ = 0.0;
  index_t count_ = 0;
};

}  // namespace metarec::eval
