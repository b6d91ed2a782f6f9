#pragma once
/// @file unisrec.hpp
/// The downstream split files of UniSRec / VQ-Rec / MISSRec (Hou et al. 2022,
/// 2023; Wang et al. 2023): `X.{train,valid,test}.inter` with header
/// `user_id:token item_id_list:token_seq item_id:token`, ids being indices
/// 0..N-1 (X.item2index / X.user2index give the original ids).
/// train.inter has one row per prefix (targets s[1..n-2)), valid one row per
/// user (target s[n-2]), test one row per user (target s[n-1]); every history
/// is capped at the last `cap` items (50 in the shipped files).
///
/// read_unisrec_split rebuilds each user's full sequence exactly: the train
/// rows of a user, in chronological order (the files list them longest
/// first; either order is accepted), sit at positions 1..m, then valid at
/// m+1 and test at m+2. The first row gives s[0]; every later row's history
/// must equal the last min(k, cap) items of what was rebuilt so far, so a
/// truncated history never loses items and any inconsistency is an error at
/// its file:line. cap = the longest history seen in the three files. The
/// returned Split is split_leave_one_out(domain, {max_history = cap}), whose
/// validation/test histories therefore equal the files' rows.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "metarec/data/readers.hpp"
#include "metarec/data/split.hpp"

namespace metarec::data {

namespace detail {

/// All rows of one split file, flattened (no per-row allocation).
struct PrefixRows {
  std::vector<std::int64_t> user, target;
  std::vector<std::size_t> off{0};  // history of row r = hist[off[r], off[r+1])
  std::vector<std::int64_t> hist;
  std::vector<long> line;
  std::size_t size() const { return user.size(); }
  std::size_t len(std::size_t r) const { return off[r + 1] - off[r]; }
};

inline PrefixRows read_prefix_rows(std::istream& in, Context& ctx) {
  PrefixRows rows;
  LineReader lines(in);
  std::string_view line, f, tok;
  LoadReport& report = ctx.report();
  if (!lines.next(line)) throw ParseError(ctx.file(), 1, "header", "empty file (expected a 'name:type' header)");
  ++report.lines;
  const AtomicHeader h = parse_atomic_header(line, ctx.file());
  if (h.names.size() != 3) throw ParseError(ctx.file(), 1, "header", "expected 3 columns (user_id, item_id_list, item_id)");
  const int cu = require_column(h, "user_id", "token", ctx.file());
  const int cl = require_column(h, "item_id_list", "token_seq", ctx.file());
  const int ci = require_column(h, "item_id", "token", ctx.file());
  std::string_view col[3];
  while (next_record(lines, line, report)) {
    const long ln = lines.line();
    Fields fields(line, '\t');
    std::size_t k = 0;
    for (; fields.next(f); ++k)
      if (k < 3) col[k] = f;
    if (k != 3) {
      ctx.bad_line(ln, "line", "expected 3 tab-separated fields, found " + std::to_string(k));
      continue;
    }
    std::int64_t user = 0, target = 0, v = 0;
    if (!parse_int(trim(col[cu]), user) || user < 0) {
      ctx.bad_line(ln, "user_id", "user id " + quote(col[cu]) + " is not a non-negative integer index");
      continue;
    }
    if (!parse_int(trim(col[ci]), target) || target < 0) {
      ctx.bad_line(ln, "item_id", "item id " + quote(col[ci]) + " is not a non-negative integer index");
      continue;
    }
    const std::size_t mark = rows.hist.size();
    bool ok = true;
    Tokens t(col[cl]);
    while (ok && t.next(tok))
      if (parse_int(tok, v) && v >= 0)
        rows.hist.push_back(v);
      else
        ok = false;
    if (!ok || rows.hist.size() == mark) {
      rows.hist.resize(mark);
      ctx.bad_line(ln, "item_id_list",
                   ok ? std::string("empty history") : "item id " + quote(tok) + " is not a non-negative integer index");
      continue;
    }
    rows.user.push_back(user);
    rows.target.push_back(target);
    rows.off.push_back(rows.hist.size());
    rows.line.push_back(ln);
  }
  return rows;
}

/// index -> name table from an `original_id<TAB>index` file (X.item2index).
/// The indices must be exactly 0..N-1 (N = number of rows), each once; the
/// table is only allocated after that check, so a hostile index cannot
/// request memory out of proportion to the file.
inline std::vector<std::string> read_index_names(std::istream& in, const std::string& name) {
  struct Entry {
    std::size_t index;
    long line;
    std::string id;
  };
  std::vector<Entry> entries;
  LineReader lines(in);
  std::string_view line, a, b, extra;
  while (lines.next(line)) {
    if (is_blank(line)) continue;
    Tokens t(line);
    t.next(a);
    std::size_t idx = 0;
    if (!t.next(b) || t.next(extra)) throw ParseError(name, lines.line(), "line", "expected 'original_id<TAB>index'");
    if (!parse_int(b, idx)) throw ParseError(name, lines.line(), "index", "index " + quote(b) + " is not a non-negative integer");
    entries.push_back({idx, lines.line(), std::string(a)});
  }
  std::vector<std::string> names(entries.size());
  std::vector<long> first(entries.size(), 0);
  for (auto& e : entries) {
    if (e.index >= entries.size())
      throw ParseError(name, e.line, "index", "index " + std::to_string(e.index) + " is outside 0.." +
                                                  std::to_string(entries.size() - 1) + " (one row per index)");
    if (first[e.index])
      throw ParseError(name, e.line, "index", "duplicate index " + std::to_string(e.index) + " (first on line " +
                                                  std::to_string(first[e.index]) + ")");
    first[e.index] = e.line;
    names[e.index] = std::move(e.id);
  }
  return names;
}

/// Replaces decimal-index names by the names of `table` (item2index / user2index).
inline void rename(std::vector<std::string>& names, std::size_t first, const std::vector<std::string>& table,
                   const std::string& file) {
  for (std::size_t k = first; k < names.size(); ++k) {
    std::size_t idx = 0;
    parse_int(names[k], idx);
    if (idx >= table.size() || table[idx].empty())
      throw ParseError(file, 0, "index", "index " + names[k] + " used by the split files is missing here");
    names[k] = table[idx];
  }
}

}  // namespace detail

struct UniSRecData {
  Domain domain;          ///< full sequences, items 1..N (= file index + 1)
  Split split;            ///< equal to the shipped valid/test rows
  std::size_t history_cap = 0;
};

/// Stream entry point. `prefix` names the files in messages (prefix.train.inter, ...).
inline UniSRecData read_unisrec_split(std::istream& train, std::istream& valid, std::istream& test,
                                      const std::string& prefix, const ReadOptions& opt = {}) {
  LoadReport report;
  const std::string fname[3] = {prefix + ".train.inter", prefix + ".valid.inter", prefix + ".test.inter"};
  detail::PrefixRows rows[3];
  std::istream* streams[3] = {&train, &valid, &test};
  for (int f = 0; f < 3; ++f) {
    detail::Context ctx(fname[f], opt, report);
    rows[f] = detail::read_prefix_rows(*streams[f], ctx);
  }
  std::size_t cap = 0;
  for (const auto& r : rows)
    for (std::size_t k = 0; k < r.size(); ++k) cap = std::max(cap, r.len(k));

  // Group rows by user id: counting sort over a dense remap (stable: file order kept).
  std::vector<std::int64_t> ids;
  for (const auto& r : rows) ids.insert(ids.end(), r.user.begin(), r.user.end());
  detail::IntRemap umap;
  umap.build(ids);
  const auto nu = static_cast<std::size_t>(umap.size());
  std::vector<std::size_t> start(nu + 1, 0);
  for (std::int64_t u : rows[0].user) ++start[static_cast<std::size_t>(umap(u)) + 1];
  for (std::size_t u = 0; u < nu; ++u) start[u + 1] += start[u];
  std::vector<std::size_t> order(rows[0].size()), fill(start.begin(), start.end() - 1);
  for (std::size_t r = 0; r < rows[0].size(); ++r) order[fill[static_cast<std::size_t>(umap(rows[0].user[r]))]++] = r;
  std::vector<std::ptrdiff_t> vrow(nu, -1), trow(nu, -1);
  for (int f = 1; f < 3; ++f) {
    detail::Context ctx(fname[f], opt, report);
    auto& slot = f == 1 ? vrow : trow;
    for (std::size_t r = 0; r < rows[f].size(); ++r) {
      auto& s = slot[static_cast<std::size_t>(umap(rows[f].user[r]))];
      if (s >= 0)
        ctx.bad_line(rows[f].line[r], "user_id", "user " + std::to_string(rows[f].user[r]) + " has more than one row");
      else
        s = static_cast<std::ptrdiff_t>(r);
    }
  }

  detail::IntDomainBuilder builder;
  std::vector<std::int64_t> seq;
  const auto originals = umap.originals();
  for (std::size_t u = 0; u < nu; ++u) {
    const std::int64_t uid = originals[u];
    std::size_t b = start[u], e = start[u + 1];
    const long first_line = b < e ? rows[0].line[order[b]] : 0;
    if (vrow[u] < 0 || trow[u] < 0) {
      // Name the file and line where the user does appear.
      const int f = b < e ? 0 : (vrow[u] >= 0 ? 1 : 2);
      const long ln = f == 0 ? first_line : rows[f].line[static_cast<std::size_t>(f == 1 ? vrow[u] : trow[u])];
      detail::Context ctx(fname[f], opt, report);
      ctx.bad_user(ln, "user_id", "user " + std::to_string(uid) + " has no row in " + fname[vrow[u] < 0 ? 1 : 2]);
      continue;
    }
    // Chronological list of (file, row): train rows (longest first in the files), valid, test.
    const bool descending = e - b >= 2 && rows[0].len(order[b]) > rows[0].len(order[e - 1]);
    seq.clear();
    bool ok = true;
    const std::size_t m = e - b;
    for (std::size_t j = 0; ok && j < m + 2; ++j) {
      const int f = j < m ? 0 : (j == m ? 1 : 2);
      const std::size_t r = j < m ? order[descending ? e - 1 - j : b + j] : static_cast<std::size_t>(j == m ? vrow[u] : trow[u]);
      const detail::PrefixRows& R = rows[f];
      const std::size_t len = R.len(r), k = j + 1;  // k = position of this row's target
      const std::int64_t* h = R.hist.data() + R.off[r];
      if (j == 0) {
        if (len == 1) seq.push_back(h[0]);
      } else if (len == std::min(k, cap) && std::equal(h, h + len, seq.end() - static_cast<std::ptrdiff_t>(len))) {
        // consistent with the prefix rebuilt so far
      } else {
        seq.clear();
      }
      if (seq.size() != k) {
        detail::Context ctx(fname[f], opt, report);
        ok = ctx.bad_user(R.line[r], "item_id_list",
                          "history of user " + std::to_string(uid) + " at position " + std::to_string(k) +
                              " does not continue the sequence rebuilt from the earlier rows");
        break;
      }
      seq.push_back(R.target[r]);
    }
    if (!ok) continue;
    const std::size_t slot = builder.user_slot(uid, first_line ? first_line : rows[1].line[static_cast<std::size_t>(vrow[u])]);
    builder.items(slot).assign(seq.begin(), seq.end());
    ++report.records;
  }
  UniSRecData out;
  out.domain = builder.finish(detail::stem(prefix), prefix + ".*.inter", std::move(report));
  out.history_cap = cap;
  out.split = split_leave_one_out(out.domain, {opt.lenient, cap});
  return out;
}

/// Path entry point: reads prefix.{train,valid,test}.inter, and, when they
/// exist, prefix.item2index / prefix.user2index for the original ids.
inline UniSRecData read_unisrec_split(const std::string& prefix, const ReadOptions& opt = {}) {
  auto tr = detail::open_input(prefix + ".train.inter");
  auto va = detail::open_input(prefix + ".valid.inter");
  auto te = detail::open_input(prefix + ".test.inter");
  UniSRecData d = read_unisrec_split(tr, va, te, prefix, opt);
  for (const char* kind : {"item", "user"}) {
    const std::string path = prefix + "." + kind + "2index";
    std::ifstream in(path);
    if (!in) continue;
    const auto table = detail::read_index_names(in, path);
    if (kind[0] == 'i')
      detail::rename(d.domain.item_names, 1, table, path);
    else
      detail::rename(d.domain.user_names, 0, table, path);
  }
  return d;
}

/// A file of `user item_id_list item_id` rows where each row is one user's
/// whole sequence (history + last item), e.g. Games-6k.test.inter, whose
/// users all have at most 50 items. Rows whose history has exactly
/// `cap_warning` items (default 50) may have been truncated by the exporter:
/// they are kept and counted in the report under "history possibly truncated".
inline Domain read_inter_sequences(std::istream& in, const std::string& name, const ReadOptions& opt = {},
                                   std::size_t cap_warning = 50) {
  LoadReport report;
  detail::Context ctx(name, opt, report);
  const detail::PrefixRows rows = detail::read_prefix_rows(in, ctx);
  detail::IntDomainBuilder builder;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    bool fresh = false;
    const std::size_t slot = builder.user_slot(rows.user[r], rows.line[r], &fresh);
    if (!fresh) {
      ctx.bad_line(rows.line[r], "user_id", "user " + std::to_string(rows.user[r]) + " has more than one row");
      continue;
    }
    auto& s = builder.items(slot);
    s.assign(rows.hist.begin() + static_cast<std::ptrdiff_t>(rows.off[r]),
             rows.hist.begin() + static_cast<std::ptrdiff_t>(rows.off[r + 1]));
    s.push_back(rows.target[r]);
    if (cap_warning && rows.len(r) == cap_warning) report.note("history possibly truncated", "");
    ++report.records;
  }
  return builder.finish(detail::stem(name), name, std::move(report));
}

inline Domain read_inter_sequences(const std::string& path, const ReadOptions& opt = {}, std::size_t cap_warning = 50) {
  auto in = detail::open_input(path);
  return read_inter_sequences(in, path, opt, cap_warning);
}

}  // namespace metarec::data
