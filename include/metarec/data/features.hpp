#pragma once
/// @file features.hpp
/// Frozen item feature matrices (MISSRec / UniSRec text and image features).
///
/// Result convention: a float Tensor [n_items + 1, dim] indexed by internal
/// item id; row 0 (padding) is all zeros. Input files may either
/// - have n_items rows, row r = item index r = internal id r + 1 (the
///   UniSRec/MISSRec `.feat*` and `.npy` files), or
/// - have n_items + 1 rows whose row 0 is the padding row (our own output);
///   that row is read, checked, then overwritten with zeros.
/// Any other row count is a ParseError (field "rows"). Rows holding a NaN or
/// an infinity are rejected (strict) or zeroed and counted (lenient: a
/// missing modality is a zero vector, as in MISSRec).
///
/// .npy: float16/32/64, either byte order, C or Fortran order, rank 2,
/// versions 1.0 and 2.0, converted explicitly to float. The header is parsed
/// here rather than by xt::load_npy (xtensor 0.24), which only loads the
/// exact dtype requested, reads the v1 header length through a signed char
/// (lengths with a low byte >= 0x80 misparse) and does not check short
/// reads; files written by xt::dump_npy and numpy.save are read (tested).
/// .feat*: headerless little-endian float32, dim given by the caller.
/// Binary files have no lines: a ParseError's line is the 0-based row index
/// for row problems, 1 for npy header problems and 0 for size problems.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <limits>
#include <string>
#include <vector>

#include "metarec/core/tensor.hpp"
#include "metarec/data/io.hpp"

namespace metarec::data {

/// Largest accepted feature dimension (CLIP/BERT features are <= 1024 wide);
/// bounds what a corrupted header can make the reader allocate.
inline constexpr std::int64_t max_feature_dim = std::int64_t{1} << 20;

struct FeatureMatrix {
  Tensor<float> values;          ///< [n_items + 1, dim], row 0 = zeros
  bool had_padding_row = false;  ///< the file had n_items + 1 rows
  LoadReport report;
};

namespace detail {

inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / nan
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | ((mant & 0x3FFu) << 13);
    }
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

/// Reads exactly n bytes or throws ParseError (truncated file).
inline void read_exact(std::istream& in, char* p, std::size_t n, const std::string& file, const char* what) {
  in.read(p, static_cast<std::streamsize>(n));
  if (static_cast<std::size_t>(in.gcount()) != n)
    throw ParseError(file, 0, what, "file truncated: wanted " + std::to_string(n) + " bytes, got " + std::to_string(in.gcount()));
}

/// Bytes left in a seekable stream (-1 if unknown).
inline std::int64_t remaining(std::istream& in) {
  const auto here = in.tellg();
  if (here < 0) return -1;
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  in.seekg(here);
  return end < 0 ? -1 : static_cast<std::int64_t>(end - here);
}

struct NpyHeader {
  char endian = '<';
  char kind = 'f';
  int word = 4;
  bool fortran = false;
  std::vector<std::int64_t> shape;
};

/// Strict parser for the npy header dict {'descr': '<f4', 'fortran_order': False, 'shape': (r, c), }.
inline NpyHeader parse_npy_dict(std::string_view s, const std::string& file) {
  NpyHeader h;
  std::size_t p = 0;
  auto fail = [&](const std::string& why) { throw ParseError(file, 1, "header", "npy header: " + why); };
  auto ws = [&] { while (p < s.size() && (s[p] == ' ' || s[p] == '\n' || s[p] == '\t')) ++p; };
  auto expect = [&](char c) {
    ws();
    if (p >= s.size() || s[p] != c) fail(std::string("expected '") + c + "'");
    ++p;
  };
  auto string_lit = [&] {
    ws();
    if (p >= s.size() || (s[p] != '\'' && s[p] != '"')) fail("expected a quoted string");
    const char q = s[p++];
    const std::size_t e = s.find(q, p);
    if (e == std::string_view::npos) fail("unterminated string");
    std::string_view v = s.substr(p, e - p);
    p = e + 1;
    return v;
  };
  bool have[3] = {false, false, false};
  expect('{');
  for (;;) {
    ws();
    if (p < s.size() && s[p] == '}') break;
    const std::string_view key = string_lit();
    expect(':');
    ws();
    if (key == "descr") {
      const std::string_view d = string_lit();
      if (d.size() != 3 || (d[0] != '<' && d[0] != '>' && d[0] != '=') || d[1] != 'f' ||
          (d[2] != '2' && d[2] != '4' && d[2] != '8'))
        fail("dtype " + quote(d) + " is not a float type (<f2, <f4, <f8 or big-endian)");
      h.endian = d[0] == '=' ? (std::endian::native == std::endian::little ? '<' : '>') : d[0];
      h.word = d[2] - '0';
      have[0] = true;
    } else if (key == "fortran_order") {
      if (s.substr(p, 4) == "True") {
        h.fortran = true;
        p += 4;
      } else if (s.substr(p, 5) == "False") {
        p += 5;
      } else {
        fail("fortran_order is not True/False");
      }
      have[1] = true;
    } else if (key == "shape") {
      expect('(');
      for (;;) {
        ws();
        if (p < s.size() && s[p] == ')') break;
        std::size_t b = p;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
        std::int64_t v = 0;
        if (!parse_int(s.substr(b, p - b), v) || v > (std::int64_t{1} << 40)) fail("bad shape entry");
        h.shape.push_back(v);
        ws();
        if (p < s.size() && s[p] == ',') ++p;
        if (h.shape.size() > 8) fail("rank above 8");
      }
      ++p;
      have[2] = true;
    } else {
      fail("unknown key " + quote(key));
    }
    ws();
    if (p < s.size() && s[p] == ',') ++p;
  }
  if (!have[0] || !have[1] || !have[2]) fail("missing one of 'descr', 'fortran_order', 'shape'");
  return h;
}

/// Fills rows of `out` ([n_items+1, dim]) from `rows` file rows, checks finiteness.
inline FeatureMatrix finish_features(std::vector<float>&& flat, std::int64_t rows, std::int64_t dim,
                                     std::int32_t n_items, const std::string& file, const ReadOptions& opt,
                                     LoadReport&& report) {
  FeatureMatrix fm;
  fm.report = std::move(report);
  const std::int64_t want = n_items < 0 ? rows : n_items;
  if (rows != want && rows != want + 1)
    throw ParseError(file, 0, "rows", "feature matrix has " + std::to_string(rows) + " rows, expected " +
                                          std::to_string(want) + " (one per item) or " + std::to_string(want + 1) +
                                          " (row 0 = padding)");
  if (static_cast<double>(want + 1) * static_cast<double>(dim) > 4294967296.0)
    throw ParseError(file, 0, "shape", "feature matrix of " + std::to_string(want + 1) + " x " + std::to_string(dim) +
                                           " values is too large");
  fm.had_padding_row = rows == want + 1;
  const std::int64_t shift = fm.had_padding_row ? 0 : 1;
  fm.values = Tensor<float>(Shape{want + 1, dim});
  Context ctx(file, opt, fm.report);
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* src = flat.data() + r * dim;
    std::int64_t bad = -1;
    for (std::int64_t c = 0; c < dim && bad < 0; ++c)
      if (!std::isfinite(src[c])) bad = c;
    if (bad >= 0) {
      ctx.bad_item(static_cast<long>(r), "row " + std::to_string(r) + ", column " + std::to_string(bad),
                   "non-finite feature value (row rejected)");
      continue;  // lenient: the row stays zero
    }
    if (r + shift == 0) continue;  // padding row: checked, then zero
    std::memcpy(fm.values.data() + (r + shift) * dim, src, static_cast<std::size_t>(dim) * sizeof(float));
  }
  fm.report.records = rows;
  return fm;
}

}  // namespace detail

/// `n_items` < 0 accepts any row count (rows = items, no padding row).
inline FeatureMatrix read_npy_features(std::istream& in, const std::string& name, std::int32_t n_items,
                                       const ReadOptions& opt = {}) {
  char magic[8];
  detail::read_exact(in, magic, 8, name, "magic");
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw ParseError(name, 0, "magic", "not a .npy file (bad magic)");
  const auto major = static_cast<unsigned char>(magic[6]);
  if (major != 1 && major != 2)
    throw ParseError(name, 0, "version", "unsupported npy version " + std::to_string(major));
  unsigned char lenb[4] = {0, 0, 0, 0};
  detail::read_exact(in, reinterpret_cast<char*>(lenb), major == 1 ? 2 : 4, name, "header length");
  const std::uint32_t hlen = static_cast<std::uint32_t>(lenb[0]) | static_cast<std::uint32_t>(lenb[1]) << 8 |
                             static_cast<std::uint32_t>(lenb[2]) << 16 | static_cast<std::uint32_t>(lenb[3]) << 24;
  if (hlen > (1u << 20)) throw ParseError(name, 0, "header", "npy header of " + std::to_string(hlen) + " bytes is too long");
  std::string header(hlen, '\0');
  detail::read_exact(in, header.data(), hlen, name, "header");
  const detail::NpyHeader h = detail::parse_npy_dict(header, name);
  if (h.shape.size() != 2)
    throw ParseError(name, 1, "shape", "feature matrix must have rank 2 [n_items, dim], got rank " + std::to_string(h.shape.size()));
  const std::int64_t rows = h.shape[0], dim = h.shape[1];
  if (dim <= 0 || dim > max_feature_dim)
    throw ParseError(name, 1, "shape", "feature dimension " + std::to_string(dim) + " is outside [1, " +
                                           std::to_string(max_feature_dim) + "]");
  // Sizes in double first: rows * dim * word may overflow 64 bits in a hostile header.
  const double dbytes = static_cast<double>(rows) * static_cast<double>(dim) * h.word;
  const std::int64_t left = detail::remaining(in);
  if (left >= 0 && static_cast<double>(left) < dbytes)
    throw ParseError(name, 1, "shape", "header announces " + std::to_string(rows) + " x " + std::to_string(dim) +
                                          " values but the file is truncated");
  if (dbytes > 17179869184.0) throw ParseError(name, 1, "shape", "feature matrix too large");
  // Read in chunks so that a non-seekable stream with a lying header fails on
  // its real size instead of allocating what the header claims.
  const auto want_bytes = static_cast<std::size_t>(rows * dim * h.word);
  std::vector<unsigned char> raw;
  raw.reserve(std::min<std::size_t>(want_bytes, std::size_t{1} << 26));
  while (raw.size() < want_bytes) {
    const std::size_t chunk = std::min<std::size_t>(want_bytes - raw.size(), std::size_t{1} << 20);
    const std::size_t at = raw.size();
    raw.resize(at + chunk);
    detail::read_exact(in, reinterpret_cast<char*>(raw.data() + at), chunk, name, "data");
  }
  const bool swap = (h.endian == '>') != (std::endian::native == std::endian::big);
  std::vector<float> flat(static_cast<std::size_t>(rows * dim));
  const auto word = static_cast<std::size_t>(h.word);  // 2, 4 or 8 (checked with the header)
  for (std::size_t k = 0; k < flat.size(); ++k) {
    unsigned char b[8];
    std::memcpy(b, raw.data() + k * word, word);
    // Constant-length reverses: GCC 12 warns (-Wstringop-overflow) on a variable-length one here.
    if (swap) {
      if (word == 2) std::reverse(b, b + 2);
      else if (word == 4) std::reverse(b, b + 4);
      else std::reverse(b, b + 8);
    }
    float v;
    if (h.word == 2) {
      std::uint16_t x;
      std::memcpy(&x, b, 2);
      v = detail::half_to_float(x);
    } else if (h.word == 4) {
      std::memcpy(&v, b, 4);
    } else {
      double x;
      std::memcpy(&x, b, 8);
      v = static_cast<float>(x);  // explicit narrowing; out-of-range becomes inf and is rejected below
    }
    // Fortran order stores column-major: element k is (k % rows, k / rows).
    const std::size_t dst = h.fortran ? (k % static_cast<std::size_t>(rows)) * static_cast<std::size_t>(dim) + k / static_cast<std::size_t>(rows) : k;
    flat[dst] = v;
  }
  LoadReport report;
  return detail::finish_features(std::move(flat), rows, dim, n_items, name, opt, std::move(report));
}

inline FeatureMatrix read_npy_features(const std::string& path, std::int32_t n_items, const ReadOptions& opt = {}) {
  auto in = detail::open_input(path, true);
  return read_npy_features(in, path, n_items, opt);
}

/// Headerless little-endian float32 rows of `dim` values (UniSRec/MISSRec `.feat1CLS`, `.feat2CLS`...).
inline FeatureMatrix read_feat_file(std::istream& in, const std::string& name, std::int32_t n_items, std::int64_t dim,
                                    const ReadOptions& opt = {}) {
  if (dim <= 0 || dim > max_feature_dim)
    throw ConfigError("read_feat_file: dim = " + std::to_string(dim) + " is outside [1, " +
                      std::to_string(max_feature_dim) + "]");
  std::vector<float> flat;
  std::vector<char> buf(1 << 16);
  std::size_t total = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (total + got > (std::size_t{1} << 34)) throw ParseError(name, 0, "size", "feature file too large");
    if (got == 0) break;
    flat.resize((total + got + 3) / 4);
    std::memcpy(reinterpret_cast<char*>(flat.data()) + total, buf.data(), got);
    total += got;
  }
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * 4;
  if (total % row_bytes != 0)
    throw ParseError(name, 0, "size", "file size " + std::to_string(total) + " bytes is not a multiple of dim * 4 = " +
                                          std::to_string(row_bytes));
  if constexpr (std::endian::native == std::endian::big) {
    auto* b = reinterpret_cast<unsigned char*>(flat.data());
    for (std::size_t k = 0; k < total; k += 4) std::reverse(b + k, b + k + 4);
  }
  LoadReport report;
  return detail::finish_features(std::move(flat), static_cast<std::int64_t>(total / row_bytes), dim, n_items, name, opt,
                                 std::move(report));
}

inline FeatureMatrix read_feat_file(const std::string& path, std::int32_t n_items, std::int64_t dim,
                                    const ReadOptions& opt = {}) {
  auto in = detail::open_input(path, true);
  return read_feat_file(in, path, n_items, dim, opt);
}

}  // namespace metarec::data
