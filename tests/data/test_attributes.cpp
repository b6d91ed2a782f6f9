// `*_item2attributes.json` attribute maps: the strict mini JSON reader.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "metarec/data/all.hpp"

namespace md = metarec::data;
using metarec::ParseError;

namespace {
md::AttributeMap parse(const std::string& text, bool lenient = false) {
  std::istringstream in(text);
  return md::read_attribute_map(in, "a.json", {lenient});
}
void expect_error(const std::string& text, long line, const std::string& field, bool lenient = false) {
  try {
    parse(text, lenient);
    FAIL("expected ParseError for " << text);
  } catch (const ParseError& e) {
    CHECK(e.file() == "a.json");
    CHECK(e.line() == line);
    CHECK(e.field() == field);
  }
}
}  // namespace

TEST_CASE("attribute map: the S3-Rec shape") {
  const md::AttributeMap m = parse("{\"4\": [1, 2, 3], \"83\": [4],\n \"7\": [], \"\\u0039\": [0]}");
  CHECK(m.keys == std::vector<std::string>{"4", "83", "7", "9"});
  CHECK(m.values[0] == std::vector<std::int32_t>{1, 2, 3});
  CHECK(m.values[2].empty());
  CHECK(m.max_attribute == 4);
  CHECK(parse("  {  }  ").keys.empty());

  md::Domain d;
  d.name = "toy";
  d.n_items = 3;
  d.item_names = {"<pad>", "7", "83", "5"};
  const md::ItemAttributes a = md::align_attributes(parse("{\"83\": [4], \"7\": [1, 2]}"), d);
  CHECK(a.attributes[1] == std::vector<std::int32_t>{1, 2});
  CHECK(a.attributes[2] == std::vector<std::int32_t>{4});
  CHECK(a.attributes[3].empty());
  CHECK(a.n_attributes == 5);
  CHECK(a.report.reasons.at("item without attributes") == 1);
  // A key naming no item of the domain.
  CHECK_THROWS_AS(md::align_attributes(parse("{\"99\": [1]}"), d), ParseError);
  CHECK(md::align_attributes(parse("{\"99\": [1]}"), d, {true}).report.skipped_items == 1);
}

TEST_CASE("attribute map: syntax errors are fatal in every mode, with the line") {
  expect_error("", 1, "json");
  expect_error("[1, 2]", 1, "json");
  expect_error("{\"1\": [1, 2}", 1, "json");
  expect_error("{\"1\": [1, 2],\n\"2\" [3]}", 2, "json");
  expect_error("{\"1\": [1, 2],}", 1, "json");
  expect_error("{\"1\": [1, 2]} x", 1, "json");
  expect_error("{\"1\": [[1]]}", 1, "json", true);
  expect_error("{\"1\": {\"a\": 1}}", 1, "json", true);
  expect_error("{\"1\n\": [1]}", 1, "json");
  expect_error("{\"1\\q\": [1]}", 1, "json");
  expect_error("{\"1", 1, "json");
}

TEST_CASE("attribute map: bad entries, strict and lenient") {
  const std::string text = "{\"1\": [1, 2],\n \"2\": [3, \"x\"],\n \"3\": [-1],\n \"4\": [1.5],\n \"5\": 7,\n \"1\": [9],\n \"6\": [01]}";
  expect_error(text, 2, "2");
  const md::AttributeMap m = parse(text, true);
  CHECK(m.keys == std::vector<std::string>{"1"});
  CHECK(m.report.skipped_items == 6);
  CHECK(m.report.records == 1);
  expect_error("{\"3\": [2147483648]}", 1, "3");
}

TEST_CASE("attribute map: the malformed fixture and a missing file") {
  const std::string f = std::string(METAREC_SOURCE_DIR) + "/tests/data/fixtures/attributes_bad.json";
  CHECK_THROWS_WITH_AS(md::read_attribute_map(f), doctest::Contains("attributes_bad.json:1: field '3'"), ParseError);
  const md::AttributeMap m = md::read_attribute_map(f, {true});
  CHECK(m.keys.size() == 3);
  CHECK(m.report.skipped_items == 1);
  CHECK_THROWS_AS(md::read_attribute_map(f + ".missing"), metarec::IoError);
}
