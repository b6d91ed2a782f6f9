#pragma once
/// @file io.hpp
/// Shared plumbing of the data readers: read options, the load report that
/// counts everything a lenient read skipped, a line reader that reuses one
/// buffer (no per-line allocation once the longest line has been seen),
/// whitespace/tab tokenizers and std::from_chars number parsing.
#include <charconv>
#include <cstdint>
#include <fstream>
#include <istream>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <cstring>
#include <cerrno>
#include <vector>

#include "metarec/core/error.hpp"

namespace metarec::data {

/// How strictly a reader treats bad records.
struct ReadOptions {
  /// false (default): the first bad record throws ParseError (file:line: field 'x': why).
  /// true: bad records are skipped and counted in LoadReport, never dropped silently.
  bool lenient = false;
};

/// What a read (or a split) did with its input: how many records it saw and
/// how many it skipped, and why. Strict reads never skip anything.
struct LoadReport {
  std::int64_t lines = 0;          ///< lines read (header included)
  std::int64_t records = 0;        ///< records kept
  std::int64_t blank_lines = 0;    ///< empty/whitespace-only lines (skipped in every mode, counted)
  std::int64_t skipped_lines = 0;  ///< bad records skipped in lenient mode
  std::int64_t skipped_users = 0;  ///< users dropped (lenient), e.g. fewer than 3 items at split time
  std::int64_t skipped_items = 0;  ///< feature rows / attribute entries rejected (lenient)
  std::map<std::string, std::int64_t> reasons;  ///< skip reason -> count
  std::vector<std::string> examples;            ///< the first few full messages (file:line: ...)

  static constexpr std::size_t max_examples = 16;

  void note(const std::string& reason, const std::string& message, std::int64_t n = 1) {
    reasons[reason] += n;
    if (!message.empty() && examples.size() < max_examples) examples.push_back(message);
  }
  std::int64_t skipped() const { return skipped_lines + skipped_users + skipped_items; }
  /// Adds the counts of another report (e.g. a split's report to its domain's).
  void merge(const LoadReport& o) {
    lines += o.lines;
    records += o.records;
    blank_lines += o.blank_lines;
    skipped_lines += o.skipped_lines;
    skipped_users += o.skipped_users;
    skipped_items += o.skipped_items;
    for (const auto& [k, v] : o.reasons) reasons[k] += v;
    for (const auto& e : o.examples)
      if (examples.size() < max_examples) examples.push_back(e);
  }
};

namespace detail {

/// Opens `path` for reading or throws IoError naming it.
inline std::ifstream open_input(const std::string& path, bool binary = false) {
  std::ifstream in(path, binary ? std::ios::in | std::ios::binary : std::ios::in);
  if (!in) throw IoError("cannot open '" + path + "' for reading: " + std::strerror(errno));
  return in;
}

/// Reads lines into one reused buffer; strips a trailing '\r' (CRLF files).
class LineReader {
 public:
  explicit LineReader(std::istream& in) : in_(in) { buf_.reserve(4096); }
  bool next(std::string_view& line) {
    if (!std::getline(in_, buf_)) return false;
    ++line_;
    std::size_t n = buf_.size();
    if (n && buf_[n - 1] == '\r') --n;
    line = std::string_view(buf_.data(), n);
    return true;
  }
  long line() const { return line_; }

 private:
  std::istream& in_;
  std::string buf_;
  long line_ = 0;
};

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

inline bool is_blank(std::string_view s) {
  for (char c : s)
    if (!is_space(c)) return false;
  return true;
}

/// Next non-blank line; every line is counted in `report`, blank ones are
/// skipped (and counted as such) in every mode.
inline bool next_record(LineReader& lines, std::string_view& line, LoadReport& report) {
  while (lines.next(line)) {
    ++report.lines;
    if (!is_blank(line)) return true;
    ++report.blank_lines;
  }
  return false;
}

/// Splits on runs of spaces/tabs.
class Tokens {
 public:
  explicit Tokens(std::string_view s) : s_(s) {}
  bool next(std::string_view& tok) {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
    if (pos_ >= s_.size()) return false;
    const std::size_t b = pos_;
    while (pos_ < s_.size() && !is_space(s_[pos_])) ++pos_;
    tok = s_.substr(b, pos_ - b);
    return true;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

/// Splits on one delimiter character, keeping empty fields (RecBole atomic files use TAB).
class Fields {
 public:
  Fields(std::string_view s, char delim) : s_(s), delim_(delim) {}
  bool next(std::string_view& f) {
    if (done_) return false;
    const std::size_t e = s_.find(delim_, pos_);
    if (e == std::string_view::npos) {
      f = s_.substr(pos_);
      done_ = true;
    } else {
      f = s_.substr(pos_, e - pos_);
      pos_ = e + 1;
    }
    return true;
  }

 private:
  std::string_view s_;
  char delim_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

/// Whole-token integer parse (no sign '+', no trailing garbage).
template <class I>
bool parse_int(std::string_view s, I& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

inline bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

/// Quotes a (possibly long, possibly binary) token for an error message.
inline std::string quote(std::string_view s) {
  std::string q = "'";
  for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    q += (c >= 32 && c < 127) ? static_cast<char>(c) : '?';
  }
  if (s.size() > 40) q += "...";
  return q + "'";
}

/// An id as the sequence and pair formats write it: a non-negative integer.
/// Returns an empty string on success, else what is wrong with the token
/// (`what` is "user" or "item"), for a ParseError naming file, line and field.
inline std::string parse_id(std::string_view s, std::int64_t& out, const char* what) {
  if (!parse_int(s, out)) return std::string("non-integer ") + what + " id " + quote(s);
  if (out < 0) return std::string("negative ") + what + " id " + quote(s) + " (ids are non-negative integers)";
  return {};
}

/// Error policy of one read: strict throws ParseError, lenient counts and
/// tells the caller to skip the record.
class Context {
 public:
  Context(std::string file, const ReadOptions& opt, LoadReport& report)
      : file_(std::move(file)), opt_(opt), report_(report) {}
  const std::string& file() const { return file_; }
  bool lenient() const { return opt_.lenient; }
  LoadReport& report() { return report_; }

  /// Throws (strict) or records a skipped line (lenient). Returns false so
  /// callers can write `return ctx.bad_line(...)`.
  bool bad_line(long line, const std::string& field, const std::string& what) {
    ParseError e(file_, line, field, what);
    if (!opt_.lenient) throw e;
    ++report_.skipped_lines;
    report_.note(what_key(what), e.what());
    return false;
  }
  /// Same for a whole user (the user's records are dropped).
  bool bad_user(long line, const std::string& field, const std::string& what) {
    ParseError e(file_, line, field, what);
    if (!opt_.lenient) throw e;
    ++report_.skipped_users;
    report_.note(what_key(what), e.what());
    return false;
  }
  /// Same for an item-level record (a feature row, an attribute entry).
  bool bad_item(long line, const std::string& field, const std::string& what) {
    ParseError e(file_, line, field, what);
    if (!opt_.lenient) throw e;
    ++report_.skipped_items;
    report_.note(what_key(what), e.what());
    return false;
  }

 private:
  // Reason key: the message with numbers -> N and quoted values -> '*', cut
  // before any parenthesis, so counts group by kind of problem.
  static std::string what_key(const std::string& what) {
    std::string k;
    for (std::size_t i = 0; i < what.size() && what[i] != '(';) {
      const char c = what[i];
      if (c >= '0' && c <= '9') {
        while (i < what.size() && what[i] >= '0' && what[i] <= '9') ++i;
        k += 'N';
      } else if (c == '\'') {
        const std::size_t e = what.find('\'', i + 1);
        i = e == std::string::npos ? what.size() : e + 1;
        k += "'*'";
      } else {
        k += c;
        ++i;
      }
    }
    return std::string(trim(k));
  }
  std::string file_;
  const ReadOptions& opt_;
  LoadReport& report_;
};

}  // namespace detail
}  // namespace metarec::data
