// Item feature matrices: .npy (written by xtensor and by hand for float16,
// big-endian and Fortran order) and headerless float32 .feat files.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>
#include <xtensor/xnpy.hpp>
#include <xtensor/xtensor.hpp>

#include "metarec/data/features.hpp"

namespace md = metarec::data;
using metarec::ParseError;

namespace {
/// A version-1.0 .npy file with the given dict and raw data bytes.
std::string npy(const std::string& descr, bool fortran, const std::string& shape, const std::string& data) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  while ((10 + dict.size() + 1) % 64) dict += ' ';
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict + data;
}
template <class T>
std::string bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
md::FeatureMatrix from_npy(const std::string& file, std::int32_t n_items, bool lenient = false) {
  std::istringstream in(file);
  return md::read_npy_features(in, "f.npy", n_items, {lenient});
}
md::FeatureMatrix from_feat(const std::string& file, std::int32_t n_items, std::int64_t dim, bool lenient = false) {
  std::istringstream in(file);
  return md::read_feat_file(in, "x.feat1CLS", n_items, dim, {lenient});
}
void expect_field(const std::function<void()>& f, const std::string& field) {
  try {
    f();
    FAIL("expected ParseError on field " << field);
  } catch (const ParseError& e) {
    CHECK(e.field() == field);
  }
}
}  // namespace

TEST_CASE("npy written by xtensor: float32 and float64, row 0 becomes padding") {
  xt::xtensor<float, 2> f32 = {{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}};
  const md::FeatureMatrix a = from_npy(xt::dump_npy(f32), 3);
  REQUIRE(a.values.shape() == metarec::Shape{4, 2});
  CHECK_FALSE(a.had_padding_row);
  CHECK(a.values(0, 0) == 0.f);
  CHECK(a.values(0, 1) == 0.f);
  CHECK(a.values(1, 0) == 1.f);
  CHECK(a.values(3, 1) == 6.f);

  xt::xtensor<double, 2> f64 = {{9.0, 9.0}, {0.25, -1e300}, {1.0 / 3, 2.0}};
  // 3 rows for 2 items: the row-0-is-padding convention (row 0 read, checked, zeroed).
  SUBCASE("padding row") {
    f64(1, 1) = -2.0;
    const md::FeatureMatrix b = from_npy(xt::dump_npy(f64), 2);
    CHECK(b.had_padding_row);
    CHECK(b.values(0, 0) == 0.f);
    CHECK(b.values(1, 0) == 0.25f);
    CHECK(b.values(2, 0) == static_cast<float>(1.0 / 3));
  }
  SUBCASE("double out of float range is rejected, not silently inf") {
    expect_field([&] { from_npy(xt::dump_npy(f64), 2); }, "row 1, column 1");
  }
}

TEST_CASE("npy float16, big-endian and Fortran order are converted") {
  // halves: 1, -2, 0.5, 65504, smallest subnormal 2^-24, -0
  const std::vector<std::uint16_t> h = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000};
  const md::FeatureMatrix a = from_npy(npy("<f2", false, "(3, 2)", bytes(h)), 3);
  CHECK(a.values(1, 0) == 1.f);
  CHECK(a.values(1, 1) == -2.f);
  CHECK(a.values(2, 0) == 0.5f);
  CHECK(a.values(2, 1) == 65504.f);
  CHECK(a.values(3, 0) == std::ldexp(1.f, -24));
  CHECK(std::signbit(a.values(3, 1)));

  std::vector<float> be = {1.5f, -3.f};
  std::string raw = bytes(be);
  for (std::size_t k = 0; k < raw.size(); k += 4) std::swap(raw[k], raw[k + 3]), std::swap(raw[k + 1], raw[k + 2]);
  const md::FeatureMatrix b = from_npy(npy(">f4", false, "(1, 2)", raw), 1);
  CHECK(b.values(1, 0) == 1.5f);
  CHECK(b.values(1, 1) == -3.f);

  // Fortran order: column-major [[1, 2, 3], [4, 5, 6]] is stored 1 4 2 5 3 6.
  const md::FeatureMatrix c = from_npy(npy("<f8", true, "(2, 3)", bytes(std::vector<double>{1, 4, 2, 5, 3, 6})), 2);
  CHECK(c.values(1, 0) == 1.f);
  CHECK(c.values(1, 2) == 3.f);
  CHECK(c.values(2, 0) == 4.f);
  CHECK(c.values(2, 2) == 6.f);
}

TEST_CASE("npy: malformed files") {
  const std::string ok = bytes(std::vector<float>{1, 2, 3, 4});
  expect_field([&] { from_npy(npy("<f4", false, "(2, 2)", ok), 5); }, "rows");
  expect_field([&] { from_npy(npy("<i4", false, "(2, 2)", ok), 2); }, "header");
  expect_field([&] { from_npy(npy("<f4", false, "(4,)", ok), 4); }, "shape");
  expect_field([&] { from_npy(npy("<f4", false, "(2, 3)", ok), 2); }, "shape");  // truncated data
  expect_field([&] { from_npy(npy("<f4", false, "(2, x)", ok), 2); }, "header");
  expect_field([&] { from_npy("GIF89a....", 2); }, "magic");
  expect_field([&] { from_npy("\x93NUM", 2); }, "magic");
  std::string v9 = npy("<f4", false, "(2, 2)", ok);
  v9[6] = 9;
  expect_field([&] { from_npy(v9, 2); }, "version");
  CHECK_THROWS_AS(md::read_npy_features("/nonexistent/features.npy", 2), metarec::IoError);
}

TEST_CASE("NaN / Inf feature rows: rejected (strict), zeroed and counted (lenient)") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::string file = npy("<f4", false, "(3, 2)", bytes(std::vector<float>{1, 2, 3, nan, 5, 6}));
  try {
    from_npy(file, 3);
    FAIL("expected ParseError");
  } catch (const ParseError& e) {
    CHECK(e.field() == "row 1, column 1");
    CHECK(e.line() == 1);
    CHECK(std::string(e.what()).find("f.npy:1") == 0);
  }
  const md::FeatureMatrix m = from_npy(file, 3, true);
  CHECK(m.report.skipped_items == 1);
  CHECK(m.values(2, 0) == 0.f);
  CHECK(m.values(2, 1) == 0.f);
  CHECK(m.values(3, 1) == 6.f);
}

TEST_CASE(".feat files: headerless float32 rows of dim values") {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const md::FeatureMatrix a = from_feat(bytes(v), 2, 3);
  REQUIRE(a.values.shape() == metarec::Shape{3, 3});
  CHECK(a.values(1, 2) == 3.f);
  CHECK(a.values(2, 0) == 4.f);
  CHECK(from_feat(bytes(v), 1, 3).had_padding_row);
  CHECK(from_feat(bytes(v), -1, 2).values.shape() == metarec::Shape{4, 2});
  expect_field([&] { from_feat(bytes(v), 2, 4); }, "size");            // 24 bytes, not a multiple of 16
  expect_field([&] { from_feat(bytes(v) + "x", 2, 3); }, "size");
  expect_field([&] { from_feat(bytes(v), 5, 3); }, "rows");             // wrong number of rows
  expect_field([&] { from_feat("", 2, 3); }, "rows");                   // empty file
  CHECK(from_feat("", -1, 3).values.shape() == metarec::Shape{1, 3});
  std::vector<float> bad = v;
  bad[4] = std::numeric_limits<float>::infinity();
  expect_field([&] { from_feat(bytes(bad), 2, 3); }, "row 1, column 1");
  CHECK(from_feat(bytes(bad), 2, 3, true).report.skipped_items == 1);
  CHECK_THROWS_AS(from_feat(bytes(v), 2, 0), metarec::ConfigError);
  CHECK_THROWS_AS(md::read_feat_file("/nonexistent/x.feat1CLS", 2, 3), metarec::IoError);
}
