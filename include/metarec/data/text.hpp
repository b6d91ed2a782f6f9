#pragma once
/// @file text.hpp
/// Item text tables (`X.text`: `item_id:token<TAB>text:token_seq`, `X.item`:
/// `item_id:token<TAB>title:token_seq`) and `X.item2index` files, aligned to
/// a Domain's internal item ids through its item_names.
/// Note: Scientific.text rows are NOT in item-index order (they are keyed by
/// ASIN), so alignment always goes through the ids, never the row order.
#include <string>
#include <unordered_map>
#include <vector>

#include "metarec/data/readers.hpp"
#include "metarec/data/unisrec.hpp"

namespace metarec::data {

struct ItemText {
  std::string column;              ///< name of the text column ("text", "title", ...)
  std::vector<std::string> ids;    ///< original item ids, file order
  std::vector<std::string> texts;  ///< same order
  LoadReport report;
};

inline ItemText read_item_text(std::istream& in, const std::string& name, const ReadOptions& opt = {}) {
  ItemText out;
  detail::Context ctx(name, opt, out.report);
  detail::LineReader lines(in);
  std::string_view line;
  if (!lines.next(line)) throw ParseError(name, 1, "header", "empty file (expected 'item_id:token<TAB>text:token_seq')");
  ++out.report.lines;
  const auto h = detail::parse_atomic_header(line, name);
  if (h.names.size() != 2 || h.names[0] != "item_id" || h.types[0] != "token" || h.types[1] != "token_seq")
    throw ParseError(name, 1, "header",
                     "expected 'item_id:token<TAB>NAME:token_seq' (a RecBole .item file with other columns: read it "
                     "with read_atomic_item, `metarec featurize --format atomic-item`)");
  out.column = h.names[1];
  std::unordered_map<std::string, long, detail::SvHash, std::equal_to<>> seen;
  while (detail::next_record(lines, line, out.report)) {
    const long ln = lines.line();
    const std::size_t tab = line.find('\t');
    if (tab == std::string_view::npos || line.find('\t', tab + 1) != std::string_view::npos) {
      ctx.bad_line(ln, "line", "expected 2 tab-separated fields (item_id, " + out.column + ")");
      continue;
    }
    const std::string_view id = detail::trim(line.substr(0, tab));
    if (id.empty()) {
      ctx.bad_line(ln, "item_id", "empty item id");
      continue;
    }
    if (auto it = seen.find(id); it != seen.end()) {
      ctx.bad_line(ln, "item_id", "duplicate item id " + detail::quote(id) + " (first on line " + std::to_string(it->second) + ")");
      continue;
    }
    seen.emplace(std::string(id), ln);
    out.ids.emplace_back(id);
    out.texts.emplace_back(detail::trim(line.substr(tab + 1)));
    ++out.report.records;
  }
  return out;
}

inline ItemText read_item_text(const std::string& path, const ReadOptions& opt = {}) {
  auto in = detail::open_input(path);
  return read_item_text(in, path, opt);
}

/// index -> original id from `original_id<TAB>index` lines (strict).
inline std::vector<std::string> read_item2index(std::istream& in, const std::string& name) {
  return detail::read_index_names(in, name);
}
inline std::vector<std::string> read_item2index(const std::string& path) {
  auto in = detail::open_input(path);
  return detail::read_index_names(in, path);
}

/// Text per internal item id ([n_items + 1], entry 0 empty). Items without a
/// row get "" and are counted in `report` (if given) as "item without text".
inline std::vector<std::string> align_item_text(const ItemText& t, const Domain& d, LoadReport* report = nullptr) {
  std::unordered_map<std::string_view, std::size_t> row;
  row.reserve(t.ids.size());
  for (std::size_t r = 0; r < t.ids.size(); ++r) row.emplace(t.ids[r], r);
  std::vector<std::string> out(static_cast<std::size_t>(d.n_items) + 1);
  std::int64_t missing = 0;
  for (std::size_t i = 1; i < out.size(); ++i) {
    const auto it = row.find(d.item_names[i]);
    if (it == row.end())
      ++missing;
    else
      out[i] = t.texts[it->second];
  }
  if (report && missing) report->note("item without text", "", missing);
  return out;
}

}  // namespace metarec::data
