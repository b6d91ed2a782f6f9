#pragma once
/// @file readers.hpp
/// Interaction readers producing a Domain:
/// - read_sequences: per-user sequence files `user item item ...` (S3-Rec,
///   RUCAIBox/CIKM2020-S3Rec data/*.txt), integer ids;
/// - read_pairs: `user item` per line in chronological order (the original
///   SASRec data format), integer ids;
/// - read_atomic_inter: RecBole atomic .inter files with a typed header
///   (`user_id:token item_id:token rating:float timestamp:float`, any column
///   order, TAB-separated); each user's items are sorted by timestamp, ties
///   kept in file order (stable sort). Without a timestamp column, file order.
/// Every reader has an istream entry point (`name` is used in messages) and a
/// path entry point (missing file -> IoError naming the path).
#include <algorithm>
#include <cmath>
#include <istream>
#include <string>
#include <utility>
#include <vector>

#include "metarec/data/dataset.hpp"
#include "metarec/data/io.hpp"

namespace metarec::data {

/// Reads `user item item ...` lines. A user may appear on one line only.
inline Domain read_sequences(std::istream& in, const std::string& name, const ReadOptions& opt = {}) {
  LoadReport report;
  detail::Context ctx(name, opt, report);
  detail::IntDomainBuilder builder;
  detail::LineReader lines(in);
  std::vector<std::int64_t> scratch;
  std::string_view line, tok;
  while (detail::next_record(lines, line, report)) {
    const long ln = lines.line();
    detail::Tokens t(line);
    t.next(tok);
    std::int64_t user = 0;
    if (const std::string why = detail::parse_id(tok, user, "user"); !why.empty()) {
      ctx.bad_line(ln, "user", why);
      continue;
    }
    scratch.clear();
    bool ok = true;
    for (std::int64_t v = 0; ok && t.next(tok);) {
      if (const std::string why = detail::parse_id(tok, v, "item"); why.empty())
        scratch.push_back(v);
      else
        ok = ctx.bad_line(ln, "item " + std::to_string(scratch.size() + 1), why);
    }
    if (!ok) continue;
    if (scratch.empty()) {
      ctx.bad_line(ln, "items", "empty sequence for user " + std::to_string(user));
      continue;
    }
    bool fresh = false;
    const std::size_t slot = builder.user_slot(user, ln, &fresh);
    if (!fresh) {
      ctx.bad_line(ln, "user", "duplicate user " + std::to_string(user) + " (a sequence file has one line per user)");
      continue;
    }
    builder.items(slot).assign(scratch.begin(), scratch.end());
    ++report.records;
  }
  return builder.finish(detail::stem(name), name, std::move(report));
}

inline Domain read_sequences(const std::string& path, const ReadOptions& opt = {}) {
  auto in = detail::open_input(path);
  return read_sequences(in, path, opt);
}

/// Reads `user item` lines (chronological per user; users may interleave).
inline Domain read_pairs(std::istream& in, const std::string& name, const ReadOptions& opt = {}) {
  LoadReport report;
  detail::Context ctx(name, opt, report);
  detail::IntDomainBuilder builder;
  detail::LineReader lines(in);
  std::string_view line, ut, it, extra;
  while (detail::next_record(lines, line, report)) {
    const long ln = lines.line();
    detail::Tokens t(line);
    t.next(ut);
    if (!t.next(it)) {
      ctx.bad_line(ln, "item", "missing item id (expected 'user item')");
      continue;
    }
    if (t.next(extra)) {
      ctx.bad_line(ln, "line", "expected 2 fields 'user item', found extra field " + detail::quote(extra));
      continue;
    }
    std::int64_t user = 0, item = 0;
    if (const std::string why = detail::parse_id(ut, user, "user"); !why.empty()) {
      ctx.bad_line(ln, "user", why);
      continue;
    }
    if (const std::string why = detail::parse_id(it, item, "item"); !why.empty()) {
      ctx.bad_line(ln, "item", why);
      continue;
    }
    builder.items(builder.user_slot(user, ln)).push_back(item);
    ++report.records;
  }
  return builder.finish(detail::stem(name), name, std::move(report));
}

inline Domain read_pairs(const std::string& path, const ReadOptions& opt = {}) {
  auto in = detail::open_input(path);
  return read_pairs(in, path, opt);
}

namespace detail {

/// A parsed RecBole atomic-file header: column names and types.
struct AtomicHeader {
  std::vector<std::string> names, types;
  int find(std::string_view n) const {
    for (std::size_t k = 0; k < names.size(); ++k)
      if (names[k] == n) return static_cast<int>(k);
    return -1;
  }
};

/// Parses `name:type<TAB>name:type...`; header errors are fatal in every mode
/// (nothing after them can be read).
inline AtomicHeader parse_atomic_header(std::string_view line, const std::string& file) {
  AtomicHeader h;
  if (is_blank(line)) throw ParseError(file, 1, "header", "empty header (expected 'name:type' columns)");
  Fields f(line, '\t');
  std::string_view col;
  while (f.next(col)) {
    const std::string cname = "column " + std::to_string(h.names.size() + 1);
    const std::string_view c = trim(col);
    const std::size_t colon = c.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == c.size())
      throw ParseError(file, 1, cname, "header column " + quote(c) + " is not 'name:type'");
    const std::string_view type = c.substr(colon + 1);
    if (type != "token" && type != "token_seq" && type != "float" && type != "float_seq")
      throw ParseError(file, 1, cname, "unknown type " + quote(type) + " (token, token_seq, float, float_seq)");
    const std::string n(c.substr(0, colon));
    if (h.find(n) >= 0) throw ParseError(file, 1, cname, "duplicate column " + quote(n));
    h.names.push_back(n);
    h.types.emplace_back(type);
  }
  return h;
}

inline int require_column(const AtomicHeader& h, std::string_view n, std::string_view type, const std::string& file) {
  const int k = h.find(n);
  if (k < 0) throw ParseError(file, 1, std::string(n), "header has no column '" + std::string(n) + ":" + std::string(type) + "'");
  if (h.types[static_cast<std::size_t>(k)] != type)
    throw ParseError(file, 1, std::string(n),
                     "column has type '" + h.types[static_cast<std::size_t>(k)] + "', expected '" + std::string(type) + "'");
  return k;
}

}  // namespace detail

/// Reads a RecBole atomic .inter file (user_id:token, item_id:token and an
/// optional timestamp:float; other columns are ignored).
inline Domain read_atomic_inter(std::istream& in, const std::string& name, const ReadOptions& opt = {}) {
  LoadReport report;
  detail::Context ctx(name, opt, report);
  detail::LineReader lines(in);
  std::string_view line;
  if (!lines.next(line)) throw ParseError(name, 1, "header", "empty file (expected a 'name:type' header)");
  ++report.lines;
  const detail::AtomicHeader h = detail::parse_atomic_header(line, name);
  if (h.find("item_id_list") >= 0)
    throw ParseError(name, 1, "item_id_list",
                     "this is a UniSRec split file (one row per prefix); read it with read_unisrec_split");
  const int cu = detail::require_column(h, "user_id", "token", name);
  const int ci = detail::require_column(h, "item_id", "token", name);
  const int ct = h.find("timestamp") >= 0 ? detail::require_column(h, "timestamp", "float", name) : -1;
  const std::size_t ncols = h.names.size();

  detail::Interner users, items;
  std::vector<std::vector<std::pair<double, std::int32_t>>> events;  // per user: (time, item)
  std::vector<std::int64_t> first_line;
  std::string_view f, uf, itf, tf;
  while (detail::next_record(lines, line, report)) {
    const long ln = lines.line();
    detail::Fields fields(line, '\t');
    std::size_t k = 0;
    for (; fields.next(f); ++k) {
      if (static_cast<int>(k) == cu) uf = detail::trim(f);
      if (static_cast<int>(k) == ci) itf = detail::trim(f);
      if (static_cast<int>(k) == ct) tf = detail::trim(f);
    }
    if (k != ncols) {
      ctx.bad_line(ln, "line", "expected " + std::to_string(ncols) + " tab-separated fields, found " + std::to_string(k));
      continue;
    }
    if (uf.empty()) {
      ctx.bad_line(ln, "user_id", "empty user id");
      continue;
    }
    if (itf.empty()) {
      ctx.bad_line(ln, "item_id", "empty item id");
      continue;
    }
    double time = 0;
    if (ct >= 0 && (!detail::parse_double(tf, time) || !std::isfinite(time))) {
      ctx.bad_line(ln, "timestamp", "timestamp " + detail::quote(tf) + " is not a finite number");
      continue;
    }
    const auto u = static_cast<std::size_t>(users(uf));
    if (u == events.size()) {
      events.emplace_back();
      first_line.push_back(ln);
    }
    events[u].emplace_back(time, items(itf) + 1);
    ++report.records;
  }

  Domain d;
  d.name = detail::stem(name);
  d.source = name;
  d.report = std::move(report);
  d.n_items = items.size();
  d.user_names = users.names();
  d.user_lines = std::move(first_line);
  d.item_names.reserve(static_cast<std::size_t>(d.n_items) + 1);
  d.item_names.emplace_back("<pad>");
  d.item_names.insert(d.item_names.end(), items.names().begin(), items.names().end());
  d.sequences.resize(events.size());
  for (std::size_t u = 0; u < events.size(); ++u) {
    auto& ev = events[u];
    std::stable_sort(ev.begin(), ev.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    auto& s = d.sequences[u];
    s.reserve(ev.size());
    for (const auto& e : ev) s.push_back(e.second);
  }
  return d;
}

inline Domain read_atomic_inter(const std::string& path, const ReadOptions& opt = {}) {
  auto in = detail::open_input(path);
  return read_atomic_inter(in, path, opt);
}

}  // namespace metarec::data
