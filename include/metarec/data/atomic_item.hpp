#pragma once
/// @file atomic_item.hpp
/// Item side information for a user's own dataset, lined up with the item
/// indices that training assigns.
///
/// - read_atomic_item: a RecBole atomic item file (`X.item`), typed header in
///   any column order, TAB-separated, e.g. ml-100k's
///   `item_id:token movie_title:token_seq release_year:token class:token_seq`.
///   The text of an item is the chosen columns (by name; default: every
///   token_seq column, in header order) trimmed, the empty ones dropped,
///   joined with ". " (so `featurize --views title,rest` splits the first
///   column from the others). Returned as an ItemText keyed by original id.
/// - Item indices come from the interaction reader itself (load_domain with
///   parse_format in all.hpp, the readers the CLI trains with), never from a
///   second copy of its id mapping.
/// - item_index_ids: index -> original id of a Domain. Row r of a feature
///   file (`.npy` with n_items rows) belongs to item index r = internal item
///   id r + 1 = item_names[r + 1]. For `atomic` that is the order in which
///   items first appear among the kept records of the .inter file; for
///   s3rec/pairs ascending integer id; for unisrec the file's indices.
/// - write_item_index: that table as `original_id<TAB>index` lines (the
///   X.item2index format, read back by read_item2index), so features built
///   with any encoder can be put in the training order.
#include <algorithm>
#include <fstream>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metarec/data/readers.hpp"
#include "metarec/data/text.hpp"
#include "metarec/data/unisrec.hpp"

namespace metarec::data {

struct AtomicItemOptions {
  std::string id_field = "item_id";  ///< the item id column (type token)
  std::vector<std::string> fields;   ///< text columns by name; empty = every token_seq column
  std::string separator = ". ";      ///< joins the chosen columns
};

namespace detail {

inline std::string column_list(const AtomicHeader& h) {
  std::string s;
  for (std::size_t k = 0; k < h.names.size(); ++k) s += (k ? ", " : "") + h.names[k] + ":" + h.types[k];
  return s;
}

}  // namespace detail

/// Reads a RecBole atomic .item file. Header problems (no id column, a
/// chosen field that is not in the header, no text column at all) are fatal
/// in every mode: ParseError at line 1 naming the column. Row problems (field
/// count, empty id, duplicate id) throw in strict mode and are skipped and
/// counted in lenient mode. ItemText::column is the chosen names joined by '+'.
inline ItemText read_atomic_item(std::istream& in, const std::string& name, const AtomicItemOptions& o = {},
                                 const ReadOptions& opt = {}) {
  ItemText out;
  detail::Context ctx(name, opt, out.report);
  detail::LineReader lines(in);
  std::string_view line;
  if (!lines.next(line)) throw ParseError(name, 1, "header", "empty file (expected a 'name:type' header)");
  ++out.report.lines;
  const detail::AtomicHeader h = detail::parse_atomic_header(line, name);
  const int cid = h.find(o.id_field);
  if (cid < 0)
    throw ParseError(name, 1, o.id_field,
                     "header has no item id column '" + o.id_field + ":token' (columns: " + detail::column_list(h) + ")");
  if (h.types[static_cast<std::size_t>(cid)] != "token")
    throw ParseError(name, 1, o.id_field,
                     "item id column has type '" + h.types[static_cast<std::size_t>(cid)] + "', expected 'token'");
  std::vector<int> cols;
  if (o.fields.empty()) {
    for (std::size_t k = 0; k < h.names.size(); ++k)
      if (h.types[k] == "token_seq" && static_cast<int>(k) != cid) cols.push_back(static_cast<int>(k));
    if (cols.empty())
      throw ParseError(name, 1, "header",
                       "no token_seq column to use as item text (columns: " + detail::column_list(h) +
                           "); choose columns by name");
  } else {
    for (const std::string& f : o.fields) {
      const int k = h.find(f);
      if (k < 0)
        throw ParseError(name, 1, f, "no column '" + f + "' in the header (columns: " + detail::column_list(h) + ")");
      if (k == cid) throw ParseError(name, 1, f, "'" + f + "' is the item id column, not a text column");
      if (std::find(cols.begin(), cols.end(), k) != cols.end())
        throw ParseError(name, 1, f, "column '" + f + "' is chosen twice");
      cols.push_back(k);
    }
  }
  for (std::size_t j = 0; j < cols.size(); ++j) out.column += (j ? "+" : "") + h.names[static_cast<std::size_t>(cols[j])];

  const std::size_t ncols = h.names.size();
  std::vector<std::string_view> f(ncols);
  std::unordered_map<std::string, long, detail::SvHash, std::equal_to<>> seen;
  std::string text;
  while (detail::next_record(lines, line, out.report)) {
    const long ln = lines.line();
    detail::Fields fields(line, '\t');
    std::size_t k = 0;
    for (std::string_view v; fields.next(v); ++k)
      if (k < ncols) f[k] = v;
    if (k != ncols) {
      ctx.bad_line(ln, "line", "expected " + std::to_string(ncols) + " tab-separated fields, found " + std::to_string(k));
      continue;
    }
    const std::string_view id = detail::trim(f[static_cast<std::size_t>(cid)]);
    if (id.empty()) {
      ctx.bad_line(ln, o.id_field, "empty item id");
      continue;
    }
    if (auto it = seen.find(id); it != seen.end()) {
      ctx.bad_line(ln, o.id_field,
                   "duplicate item id " + detail::quote(id) + " (first on line " + std::to_string(it->second) + ")");
      continue;
    }
    seen.emplace(std::string(id), ln);
    text.clear();
    for (int c : cols) {
      const std::string_view v = detail::trim(f[static_cast<std::size_t>(c)]);
      if (v.empty()) continue;
      if (!text.empty()) text += o.separator;
      text += v;
    }
    out.ids.emplace_back(id);
    out.texts.push_back(text);
    ++out.report.records;
  }
  return out;
}

inline ItemText read_atomic_item(const std::string& path, const AtomicItemOptions& o = {}, const ReadOptions& opt = {}) {
  auto in = detail::open_input(path);
  return read_atomic_item(in, path, o, opt);
}

/// index -> original id: entry r is the item whose features go in row r.
inline std::vector<std::string> item_index_ids(const Domain& d) {
  if (d.item_names.size() != static_cast<std::size_t>(d.n_items) + 1)
    throw Error("Domain '" + d.name + "': item_names has " + std::to_string(d.item_names.size()) + " entries, expected " +
                std::to_string(d.n_items + 1));
  return {d.item_names.begin() + 1, d.item_names.end()};
}

/// Writes `original_id<TAB>index` for index 0..n_items-1 (X.item2index
/// format). @throws ConfigError if an id holds whitespace (not representable).
inline void write_item_index(std::ostream& out, const Domain& d) {
  const auto ids = item_index_ids(d);
  for (std::size_t r = 0; r < ids.size(); ++r) {
    for (char c : ids[r])
      if (detail::is_space(c) || c == '\n')
        throw ConfigError("item id " + detail::quote(ids[r]) + " holds whitespace: it cannot be written as 'id<TAB>index'");
    out << ids[r] << '\t' << r << '\n';
  }
}

inline void write_item_index(const std::string& path, const Domain& d) {
  std::ofstream out(path);
  if (!out) throw IoError("cannot open '" + path + "' for writing");
  write_item_index(out, d);
  if (!out.flush()) throw IoError("cannot write '" + path + "'");
}

}  // namespace metarec::data
