#pragma once
/// @file attributes.hpp
/// `X_item2attributes.json` maps of S3-Rec (Zhou et al. 2020): one JSON
/// object {"item_id": [attribute_id, ...], ...}. A small strict parser for
/// exactly this shape (the library does not depend on a JSON library):
/// syntax errors are fatal in every mode (file:line: field 'json'); an entry
/// whose value is not a list of non-negative 32-bit integers, or a duplicate
/// key, is an error (strict) or skipped and counted (lenient).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <istream>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "metarec/data/dataset.hpp"

namespace metarec::data {

struct AttributeMap {
  std::vector<std::string> keys;                   ///< original item ids, file order
  std::vector<std::vector<std::int32_t>> values;   ///< attribute ids per key
  std::int32_t max_attribute = -1;
  LoadReport report;
};

namespace detail {

class AttrJsonParser {
 public:
  AttrJsonParser(std::string_view s, Context& ctx) : s_(s), ctx_(ctx) {}

  void parse(AttributeMap& out) {
    std::unordered_map<std::string, long, SvHash, std::equal_to<>> seen;
    std::string key;
    std::vector<std::int32_t> vals;
    ws();
    expect('{', "start of object");
    ws();
    if (peek() == '}') {
      ++p_;
    } else {
      for (;;) {
        ws();
        const long line = line_at(p_);
        string(key);
        ws();
        expect(':', "':' after a key");
        ws();
        const bool ok = array(vals, key);
        ++ctx_.report().lines;
        if (ok) {
          if (auto it = seen.find(key); it != seen.end()) {
            ctx_.bad_item(line, key, "duplicate key (first on line " + std::to_string(it->second) + ")");
          } else {
            seen.emplace(key, line);
            out.keys.push_back(key);
            out.values.push_back(vals);
            for (auto v : vals) out.max_attribute = std::max(out.max_attribute, v);
            ++ctx_.report().records;
          }
        }
        ws();
        if (peek() == ',') {
          ++p_;
          continue;
        }
        expect('}', "',' or '}'");
        break;
      }
    }
    ws();
    if (p_ != s_.size()) syntax("trailing characters after the object");
  }

 private:
  char peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  void ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\n' || s_[p_] == '\r' || s_[p_] == '\t')) ++p_;
  }
  /// Line of byte `pos`; counts incrementally (callers move forward), so a
  /// whole file costs O(size), not O(size * keys).
  long line_at(std::size_t pos) {
    pos = std::min(pos, s_.size());
    if (pos < counted_) {
      counted_ = 0;
      line_ = 1;
    }
    for (; counted_ < pos; ++counted_) line_ += s_[counted_] == '\n';
    return line_;
  }
  [[noreturn]] void syntax(const std::string& what) {
    throw ParseError(ctx_.file(), line_at(p_), "json", what + " at byte " + std::to_string(p_));
  }
  void expect(char c, const char* what) {
    if (peek() != c) syntax(std::string("expected ") + what);
    ++p_;
  }
  void string(std::string& out) {
    out.clear();
    expect('"', "'\"' (a string)");
    for (;;) {
      if (p_ >= s_.size()) syntax("unterminated string");
      const char c = s_[p_++];
      if (c == '"') return;
      if (static_cast<unsigned char>(c) < 0x20) {
        --p_;  // report the line of the offending character itself
        syntax("control character in string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= s_.size()) syntax("unterminated escape");
      const char e = s_[p_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = peek();
            ++p_;
            const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0) syntax("bad \\u escape");
            cp = cp * 16 + static_cast<unsigned>(d);
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) syntax("surrogate \\u escapes are not supported");
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: syntax("bad escape");
      }
    }
  }
  /// A flat array of scalars; returns false (after consuming it) when an
  /// element is not a non-negative int32 and the error was counted (lenient).
  bool array(std::vector<std::int32_t>& vals, const std::string& key) {
    vals.clear();
    const long line = line_at(p_);
    if (peek() != '[') {
      // A scalar or object value: not our shape. Only scalars can be skipped.
      if (peek() == '{') syntax("expected a list of attribute ids");
      std::string scratch;
      if (peek() == '"') string(scratch); else scalar();
      return ctx_.bad_item(line, key, "value is not a list of attribute ids");
    }
    ++p_;
    bool ok = true;
    std::string bad, scratch;
    ws();
    if (peek() == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      ws();
      if (peek() == '"') {
        string(scratch);
        if (ok) bad = "\"" + scratch + "\"";
        ok = false;
      } else {
        if (peek() == '[' || peek() == '{') syntax("nested value in an attribute list");
        const std::string_view tok = scalar();
        std::int32_t v = 0;
        if (parse_int(tok, v) && v >= 0 && !(tok.size() > 1 && tok[0] == '0')) {
          vals.push_back(v);
        } else if (ok) {
          bad = std::string(tok);
          ok = false;
        }
      }
      ws();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      expect(']', "',' or ']' in a list");
      break;
    }
    if (ok) return true;
    return ctx_.bad_item(line, key, "attribute " + quote(bad) + " is not a non-negative 32-bit integer");
  }
  std::string_view scalar() {
    const std::size_t b = p_;
    while (p_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p_])) || s_[p_] == '-' || s_[p_] == '+' || s_[p_] == '.'))
      ++p_;
    if (p_ == b) syntax("expected a value");
    const std::string_view t = s_.substr(b, p_ - b);
    return t;
  }

  std::string_view s_;
  std::size_t p_ = 0;
  std::size_t counted_ = 0;  // line_at cache: bytes scanned so far ...
  long line_ = 1;            // ... and the line at counted_
  Context& ctx_;
};

}  // namespace detail

inline AttributeMap read_attribute_map(std::istream& in, const std::string& name, const ReadOptions& opt = {}) {
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  AttributeMap out;
  detail::Context ctx(name, opt, out.report);
  detail::AttrJsonParser(text, ctx).parse(out);
  return out;
}

inline AttributeMap read_attribute_map(const std::string& path, const ReadOptions& opt = {}) {
  auto in = detail::open_input(path);
  return read_attribute_map(in, path, opt);
}

/// Attributes per internal item id, through the domain's item names.
struct ItemAttributes {
  std::vector<std::vector<std::int32_t>> attributes;  ///< [n_items + 1]; entry 0 empty
  std::int32_t n_attributes = 0;                      ///< max attribute id + 1 (ids kept as in the file)
  LoadReport report;
};

/// Keys naming no item of `d` are an error (strict) or skipped and counted;
/// items without an entry get an empty list, counted as "item without attributes".
inline ItemAttributes align_attributes(const AttributeMap& m, const Domain& d, const ReadOptions& opt = {}) {
  ItemAttributes out;
  out.report = m.report;
  out.attributes.resize(static_cast<std::size_t>(d.n_items) + 1);
  out.n_attributes = m.max_attribute + 1;
  std::unordered_map<std::string_view, std::int32_t> item;
  for (std::int32_t i = 1; i <= d.n_items; ++i) item.emplace(d.item_names[static_cast<std::size_t>(i)], i);
  detail::Context ctx(d.name + " attributes", opt, out.report);
  std::vector<char> have(out.attributes.size(), 0);
  for (std::size_t k = 0; k < m.keys.size(); ++k) {
    const auto it = item.find(m.keys[k]);
    if (it == item.end()) {
      ctx.bad_item(0, m.keys[k], "attribute key names no item of domain '" + d.name + "'");
      continue;
    }
    out.attributes[static_cast<std::size_t>(it->second)] = m.values[k];
    have[static_cast<std::size_t>(it->second)] = 1;
  }
  std::int64_t missing = 0;
  for (std::size_t i = 1; i < have.size(); ++i) missing += !have[i];
  if (missing) out.report.note("item without attributes", "", missing);
  return out;
}

}  // namespace metarec::data
