#pragma once
/// @file dataset.hpp
/// A Domain: the users of one item catalogue with their chronological item
/// sequences, in internal ids, plus the original ids for output.
///
/// Id conventions (relied on by the models, the trainer and the evaluator):
/// - internal item ids are 1..n_items; 0 is padding (item_names[0] == "<pad>");
/// - internal user ids are 0..n_users-1;
/// - integer original ids (S3-Rec, pair files, UniSRec index files) are
///   remapped in ascending numeric order, so files whose items are already
///   1..N keep their ids (attribute maps and LastFM_sample.txt stay valid);
///   string tokens (RecBole .inter) are numbered in order of first appearance.
/// Several domains are simply several Domain objects: item ids are local.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metarec/data/io.hpp"

namespace metarec::data {

inline constexpr std::int32_t pad_item = 0;

struct Domain {
  std::string name;    ///< e.g. "Beauty" (file stem)
  std::string source;  ///< file it was read from (error messages)
  std::int32_t n_items = 0;
  std::vector<std::vector<std::int32_t>> sequences;  ///< per user, chronological, internal ids
  std::vector<std::string> user_names;               ///< [n_users] original ids
  std::vector<std::string> item_names;               ///< [n_items + 1], entry 0 = "<pad>"
  std::vector<std::int64_t> user_lines;              ///< line of each user's first record (0 = unknown)
  LoadReport report;                                 ///< what the reader skipped, and why

  std::int32_t n_users() const { return static_cast<std::int32_t>(sequences.size()); }
  std::int64_t n_interactions() const {
    std::int64_t n = 0;
    for (const auto& s : sequences) n += static_cast<std::int64_t>(s.size());
    return n;
  }
  /// Throws Error if ids or name tables break the conventions above.
  void validate() const {
    const std::string where = "Domain '" + name + "'";
    if (user_names.size() != sequences.size() || item_names.size() != static_cast<std::size_t>(n_items) + 1)
      throw Error(where + ": name tables have " + std::to_string(user_names.size()) + " users / " +
                  std::to_string(item_names.size()) + " items, expected " + std::to_string(sequences.size()) +
                  " / " + std::to_string(n_items + 1));
    for (std::size_t u = 0; u < sequences.size(); ++u)
      for (std::int32_t i : sequences[u])
        if (i < 1 || i > n_items)
          throw Error(where + ": user " + user_names[u] + " has item id " + std::to_string(i) + " outside [1, " +
                      std::to_string(n_items) + "]");
  }
};

namespace detail {

/// Maps raw integer ids to dense 0-based ranks in ascending numeric order.
/// Uses a direct table when the id range is compact (the usual case: O(n)),
/// else sort + binary search.
class IntRemap {
 public:
  void build(std::vector<std::int64_t> ids) {
    table_.clear();
    sorted_.clear();
    if (ids.empty()) return;
    const auto [mn, mx] = std::minmax_element(ids.begin(), ids.end());
    lo_ = *mn;
    // Unsigned difference is exact for any mn <= mx (no signed overflow).
    const std::uint64_t diff = static_cast<std::uint64_t>(*mx) - static_cast<std::uint64_t>(*mn);
    if (diff < 4 * ids.size() + 1024) {
      table_.assign(static_cast<std::size_t>(diff + 1), -1);
      for (std::int64_t v : ids) table_[static_cast<std::size_t>(v - lo_)] = 0;
      std::int32_t r = 0;
      for (auto& t : table_)
        if (t == 0) {
          t = r++;
          sorted_.push_back(0);  // only its size is used in this mode
        }
      size_ = r;
      dense_ = true;
    } else {
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      sorted_ = std::move(ids);
      size_ = static_cast<std::int32_t>(sorted_.size());
      dense_ = false;
    }
  }
  std::int32_t size() const { return size_; }
  /// Rank of an id that was passed to build().
  std::int32_t operator()(std::int64_t v) const {
    if (dense_) return table_[static_cast<std::size_t>(v - lo_)];
    return static_cast<std::int32_t>(std::lower_bound(sorted_.begin(), sorted_.end(), v) - sorted_.begin());
  }
  /// Original ids in rank order.
  std::vector<std::int64_t> originals() const {
    if (!dense_) return sorted_;
    std::vector<std::int64_t> out;
    out.reserve(static_cast<std::size_t>(size_));
    for (std::size_t k = 0; k < table_.size(); ++k)
      if (table_[k] >= 0) out.push_back(lo_ + static_cast<std::int64_t>(k));
    return out;
  }

 private:
  std::vector<std::int32_t> table_;
  std::vector<std::int64_t> sorted_;
  std::int64_t lo_ = 0;
  std::int32_t size_ = 0;
  bool dense_ = true;
};

/// Collects (user, item) events with integer original ids, grouped per user
/// in arrival order, and turns them into a Domain with the id conventions.
class IntDomainBuilder {
 public:
  /// Slot of user `u` (created on first sight, remembering its line).
  std::size_t user_slot(std::int64_t u, long line, bool* created = nullptr) {
    auto [it, fresh] = slot_.try_emplace(u, users_.size());
    if (fresh) {
      users_.push_back(u);
      lines_.push_back(line);
      items_.emplace_back();
    }
    if (created) *created = fresh;
    return it->second;
  }
  std::vector<std::int64_t>& items(std::size_t slot) { return items_[slot]; }
  Domain finish(std::string name, std::string source, LoadReport report) {
    Domain d;
    d.name = std::move(name);
    d.source = std::move(source);
    d.report = std::move(report);
    IntRemap umap, imap;
    umap.build(users_);
    std::size_t total = 0;
    for (const auto& s : items_) total += s.size();
    std::vector<std::int64_t> all;
    all.reserve(total);
    for (const auto& s : items_) all.insert(all.end(), s.begin(), s.end());
    imap.build(std::move(all));
    d.n_items = imap.size();
    d.sequences.resize(users_.size());
    d.user_names.resize(users_.size());
    d.user_lines.resize(users_.size());
    for (std::size_t k = 0; k < users_.size(); ++k) {
      const auto u = static_cast<std::size_t>(umap(users_[k]));
      auto& seq = d.sequences[u];
      seq.resize(items_[k].size());
      for (std::size_t j = 0; j < seq.size(); ++j) seq[j] = imap(items_[k][j]) + 1;
      d.user_names[u] = std::to_string(users_[k]);
      d.user_lines[u] = lines_[k];
    }
    d.item_names.reserve(static_cast<std::size_t>(d.n_items) + 1);
    d.item_names.emplace_back("<pad>");
    for (std::int64_t v : imap.originals()) d.item_names.push_back(std::to_string(v));
    return d;
  }

 private:
  std::unordered_map<std::int64_t, std::size_t> slot_;
  std::vector<std::int64_t> users_;
  std::vector<long> lines_;
  std::vector<std::vector<std::int64_t>> items_;
};

/// String interning with heterogeneous lookup (no std::string built per lookup).
struct SvHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
class Interner {
 public:
  /// Dense id of `s` in order of first appearance.
  std::int32_t operator()(std::string_view s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const auto id = static_cast<std::int32_t>(names_.size());
    names_.emplace_back(s);
    ids_.emplace(names_.back(), id);
    return id;
  }
  const std::vector<std::string>& names() const { return names_; }
  std::int32_t size() const { return static_cast<std::int32_t>(names_.size()); }

 private:
  std::unordered_map<std::string, std::int32_t, SvHash, std::equal_to<>> ids_;
  std::vector<std::string> names_;
};

/// File name without directory and extension(s) after the first dot.
inline std::string stem(const std::string& path) {
  const std::size_t s = path.find_last_of("/\\");
  std::string base = s == std::string::npos ? path : path.substr(s + 1);
  const std::size_t dot = base.find('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

}  // namespace detail

/// Iterative k-core filtering: repeatedly drops users with fewer than
/// `user_core` interactions and interactions with items that have fewer than
/// `item_core` interactions, until both hold. Surviving items are renumbered
/// 1..n in their previous order (names follow); removed counts go to the report.
inline Domain kcore_filter(const Domain& in, std::int32_t user_core, std::int32_t item_core) {
  if (user_core < 0 || item_core < 0)
    throw ConfigError("kcore_filter: user_core = " + std::to_string(user_core) + ", item_core = " +
                      std::to_string(item_core) + " must be >= 0");
  std::vector<std::vector<std::int32_t>> seqs = in.sequences;
  std::vector<char> user_alive(seqs.size(), 1);
  std::vector<std::int64_t> count(static_cast<std::size_t>(in.n_items) + 1);
  for (bool changed = true; changed;) {
    changed = false;
    std::fill(count.begin(), count.end(), 0);
    for (std::size_t u = 0; u < seqs.size(); ++u)
      if (user_alive[u])
        for (std::int32_t i : seqs[u]) ++count[static_cast<std::size_t>(i)];
    for (std::size_t u = 0; u < seqs.size(); ++u) {
      if (!user_alive[u]) continue;
      auto& s = seqs[u];
      const std::size_t before = s.size();
      s.erase(std::remove_if(s.begin(), s.end(), [&](std::int32_t i) { return count[static_cast<std::size_t>(i)] < item_core; }),
              s.end());
      if (s.size() != before) changed = true;
      if (static_cast<std::int64_t>(s.size()) < user_core || s.empty()) {
        user_alive[u] = 0;
        changed = true;
      }
    }
  }
  Domain out;
  out.name = in.name;
  out.source = in.source;
  out.report = in.report;
  std::vector<std::int32_t> remap(static_cast<std::size_t>(in.n_items) + 1, 0);
  std::fill(count.begin(), count.end(), 0);
  for (std::size_t u = 0; u < seqs.size(); ++u)
    if (user_alive[u])
      for (std::int32_t i : seqs[u]) ++count[static_cast<std::size_t>(i)];
  out.item_names.emplace_back("<pad>");
  for (std::int32_t i = 1; i <= in.n_items; ++i)
    if (count[static_cast<std::size_t>(i)] > 0) {
      remap[static_cast<std::size_t>(i)] = ++out.n_items;
      out.item_names.push_back(in.item_names[static_cast<std::size_t>(i)]);
    }
  for (std::size_t u = 0; u < seqs.size(); ++u) {
    if (!user_alive[u]) continue;
    for (auto& i : seqs[u]) i = remap[static_cast<std::size_t>(i)];
    out.sequences.push_back(std::move(seqs[u]));
    out.user_names.push_back(in.user_names[u]);
    out.user_lines.push_back(u < in.user_lines.size() ? in.user_lines[u] : 0);
  }
  const std::string tag = "k-core(" + std::to_string(user_core) + "," + std::to_string(item_core) + ") removed ";
  out.report.note(tag + "users", "", in.n_users() - out.n_users());
  out.report.note(tag + "items", "", in.n_items - out.n_items);
  out.report.note(tag + "interactions", "", in.n_interactions() - out.n_interactions());
  return out;
}

}  // namespace metarec::data
