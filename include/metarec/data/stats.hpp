#pragma once
/// @file stats.hpp
/// Dataset statistics (what `metarec stats FILE` prints).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "metarec/data/dataset.hpp"

namespace metarec::data {

struct LengthBin {
  std::int64_t lo = 0, hi = 0;  ///< inclusive; hi = -1 means "and above"
  std::int64_t users = 0;
};

struct DatasetStats {
  std::string name;
  std::int64_t users = 0;
  std::int64_t items = 0;         ///< distinct items that occur
  std::int64_t n_items = 0;       ///< size of the catalogue (ids 1..n_items)
  std::int64_t interactions = 0;
  std::int64_t min_length = 0, max_length = 0;
  double mean_length = 0, median_length = 0;  ///< median: mean of the two middle values for an even count
  std::vector<LengthBin> histogram;           ///< users per sequence-length bin (empty bins omitted)
};

inline DatasetStats stats(const Domain& d) {
  DatasetStats s;
  s.name = d.name;
  s.users = d.n_users();
  s.n_items = d.n_items;
  std::vector<std::int64_t> len(d.sequences.size());
  std::vector<char> seen(static_cast<std::size_t>(d.n_items) + 1, 0);
  for (std::size_t u = 0; u < d.sequences.size(); ++u) {
    len[u] = static_cast<std::int64_t>(d.sequences[u].size());
    s.interactions += len[u];
    for (std::int32_t i : d.sequences[u])
      if (i > 0 && i <= d.n_items) seen[static_cast<std::size_t>(i)] = 1;
  }
  for (std::size_t i = 1; i < seen.size(); ++i) s.items += seen[i];
  if (len.empty()) return s;
  std::sort(len.begin(), len.end());
  s.min_length = len.front();
  s.max_length = len.back();
  s.mean_length = static_cast<double>(s.interactions) / static_cast<double>(len.size());
  const std::size_t m = len.size() / 2;
  s.median_length = len.size() % 2 ? static_cast<double>(len[m]) : 0.5 * static_cast<double>(len[m - 1] + len[m]);
  static constexpr std::int64_t edges[] = {0, 1, 3, 5, 10, 20, 50, 100, 200, 500, 1000};
  constexpr std::size_t ne = sizeof(edges) / sizeof(edges[0]);
  for (std::size_t b = 0; b < ne; ++b) {
    const std::int64_t lo = edges[b], hi = b + 1 < ne ? edges[b + 1] - 1 : -1;
    const auto first = std::lower_bound(len.begin(), len.end(), lo);
    const auto last = hi < 0 ? len.end() : std::upper_bound(len.begin(), len.end(), hi);
    if (last > first) s.histogram.push_back({lo, hi, static_cast<std::int64_t>(last - first)});
  }
  return s;
}

/// Human-readable multi-line summary.
inline std::string format_stats(const DatasetStats& s) {
  auto fixed = [](double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return std::string(buf);
  };
  auto pad = [](std::string x, std::size_t w) { return x.size() < w ? x + std::string(w - x.size(), ' ') : x; };
  std::string out;
  out += "dataset       " + s.name + "\n";
  out += "users         " + std::to_string(s.users) + "\n";
  out += "items         " + std::to_string(s.items) + " (catalogue " + std::to_string(s.n_items) + ")\n";
  out += "interactions  " + std::to_string(s.interactions) + "\n";
  out += "length        min " + std::to_string(s.min_length) + ", max " + std::to_string(s.max_length) + ", mean " +
         fixed(s.mean_length, 2) + ", median " + fixed(s.median_length, 1) + "\n";
  out += "length histogram (items per user: users)\n";
  for (const auto& b : s.histogram) {
    std::string range = std::to_string(b.lo);
    if (b.hi < 0)
      range += "+";
    else if (b.hi != b.lo)
      range += "-" + std::to_string(b.hi);
    out += "  " + pad(range, 10) + " " + std::to_string(b.users) + "\n";
  }
  return out;
}

}  // namespace metarec::data
