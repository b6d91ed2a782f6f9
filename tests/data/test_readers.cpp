// Interaction readers: S3-Rec sequence files, pair files, RecBole atomic .inter.
// Every malformed case is checked both ways: strict -> ParseError naming
// file:line:field; lenient -> skipped and counted in the LoadReport.
#include <doctest/doctest.h>

#include <functional>
#include <sstream>
#include <string>

#include "fixtures/parse_error.hpp"
#include "metarec/data/all.hpp"

namespace md = metarec::data;
using metarec::IoError;
using metarec::ParseError;
using metarec::test::expect_parse_error;

namespace {
const std::string fixtures = std::string(METAREC_SOURCE_DIR) + "/tests/data/fixtures/";

md::Domain seqs(const std::string& text, bool lenient = false) {
  std::istringstream in(text);
  return md::read_sequences(in, "mem.txt", {lenient});
}
md::Domain pairs(const std::string& text, bool lenient = false) {
  std::istringstream in(text);
  return md::read_pairs(in, "mem.txt", {lenient});
}
md::Domain atomic(const std::string& text, bool lenient = false) {
  std::istringstream in(text);
  return md::read_atomic_inter(in, "mem.inter", {lenient});
}
}  // namespace

TEST_CASE("read_sequences: ids remapped in numeric order, names kept") {
  const md::Domain d = md::read_sequences(fixtures + "sequences_ok.txt");
  CHECK(d.name == "sequences_ok");
  CHECK(d.n_users() == 3);
  CHECK(d.n_items == 5);  // 10, 11, 12, 13, 14 -> 1..5
  CHECK(d.sequences[0] == std::vector<std::int32_t>{1, 2, 3, 4});
  CHECK(d.sequences[2] == std::vector<std::int32_t>{1, 5, 3, 2, 4});
  CHECK(d.item_names == std::vector<std::string>{"<pad>", "10", "11", "12", "13", "14"});
  CHECK(d.user_names == std::vector<std::string>{"1", "2", "3"});
  CHECK(d.user_lines == std::vector<std::int64_t>{1, 2, 3});
  CHECK(d.report.records == 3);
  CHECK(d.report.skipped() == 0);
  d.validate();
}

TEST_CASE("read_sequences: items already 1..N keep their ids; users sorted; CRLF accepted") {
  const md::Domain d = seqs("7 3 1\r\n2 2 3 1\r\n");
  CHECK(d.user_names == std::vector<std::string>{"2", "7"});
  CHECK(d.sequences[0] == std::vector<std::int32_t>{2, 3, 1});
  CHECK(d.sequences[1] == std::vector<std::int32_t>{3, 1});
}

TEST_CASE("read_sequences: malformed input, strict and lenient") {
  SUBCASE("non-integer item id") {
    expect_parse_error([] { seqs("1 2 3\n2 4 x5 6\n"); }, "mem.txt", 2, "item 2");
  }
  SUBCASE("non-integer user id") {
    expect_parse_error([] { seqs("u1 2 3\n"); }, "mem.txt", 1, "user");
  }
  SUBCASE("empty sequence") {
    expect_parse_error([] { seqs("1 2 3\n2\n"); }, "mem.txt", 2, "items");
  }
  SUBCASE("duplicate user") {
    expect_parse_error([] { seqs("1 2 3\n1 4\n"); }, "mem.txt", 2, "user");
  }
  SUBCASE("negative item id (the S3-Rec line `2 4 5 -7`): an error, not an item") {
    expect_parse_error([] { seqs("1 2 3\n2 4 5 -7\n"); }, "mem.txt", 2, "item 3");
    CHECK_THROWS_WITH(seqs("2 4 5 -7\n"), doctest::Contains("negative item id '-7'"));
    const md::Domain d = seqs("1 2 3\n2 4 5 -7\n3 3 4\n", true);
    CHECK(d.n_users() == 2);  // user 2 skipped whole, so -7 never becomes an item
    CHECK(d.n_items == 3);    // 2, 3, 4
    CHECK(d.report.skipped_lines == 1);
  }
  SUBCASE("negative user id") {
    expect_parse_error([] { seqs("-1 2 3\n"); }, "mem.txt", 1, "user");
    CHECK_THROWS_WITH(seqs("-1 2 3\n"), doctest::Contains("negative user id '-1'"));
  }
  SUBCASE("overflowing id") {
    expect_parse_error([] { seqs("1 99999999999999999999999\n"); }, "mem.txt", 1, "item 1");
  }
  SUBCASE("fixture file, strict then lenient") {
    const std::string f = fixtures + "sequences_bad.txt";
    expect_parse_error([&] { md::read_sequences(f); }, f, 2, "item 2");
    const md::Domain d = md::read_sequences(f, {true});
    CHECK(d.n_users() == 3);  // users 1, 3, 5
    CHECK(d.report.skipped_lines == 2);
    CHECK(d.report.blank_lines == 1);
    CHECK(d.report.reasons.at("non-integer item id '*'") == 1);
    CHECK(d.report.reasons.at("empty sequence for user N") == 1);
    REQUIRE(d.report.examples.size() == 2);
    CHECK(d.report.examples[0].find(f + ":2") == 0);
  }
  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(md::read_sequences(fixtures + "no_such_file.txt"), doctest::Contains("no_such_file.txt"), IoError);
  }
}

TEST_CASE("read_pairs: interleaved users, chronological order kept") {
  const md::Domain d = md::read_pairs(fixtures + "pairs_ok.txt");
  CHECK(d.n_users() == 2);
  CHECK(d.n_items == 5);  // 5 6 7 8 9
  CHECK(d.sequences[0] == std::vector<std::int32_t>{1, 2, 3});
  CHECK(d.sequences[1] == std::vector<std::int32_t>{1, 4, 5});
  CHECK(d.n_interactions() == 6);
}

TEST_CASE("read_pairs: malformed input") {
  expect_parse_error([] { pairs("1 2\n1\n"); }, "mem.txt", 2, "item");
  expect_parse_error([] { pairs("1 2 3\n"); }, "mem.txt", 1, "line");
  expect_parse_error([] { pairs("1 2\n1 2.5\n"); }, "mem.txt", 2, "item");
  expect_parse_error([] { pairs("a 2\n"); }, "mem.txt", 1, "user");
  expect_parse_error([] { pairs("1 2\n1 -3\n"); }, "mem.txt", 2, "item");
  expect_parse_error([] { pairs("-1 2\n"); }, "mem.txt", 1, "user");
  CHECK_THROWS_WITH(pairs("1 -3\n"), doctest::Contains("negative item id '-3'"));
  CHECK(pairs("1 2\n1 -3\n1 4\n", true).report.skipped_lines == 1);
  const md::Domain d = pairs("1 2\n1\n1 3\n\nz 4\n1 4 4\n2 5\n", true);
  CHECK(d.n_interactions() == 3);
  CHECK(d.report.skipped_lines == 3);
  CHECK(d.report.blank_lines == 1);
  CHECK(d.report.records == 3);
  CHECK_THROWS_AS(md::read_pairs(fixtures + "missing_pairs.txt"), IoError);
}

TEST_CASE("read_atomic_inter: typed header, timestamp order, ties by file order") {
  const md::Domain d = md::read_atomic_inter(fixtures + "atomic_ok.inter");
  // Items interned by first appearance: x=1 y=2 z=3 w=4.
  CHECK(d.item_names == std::vector<std::string>{"<pad>", "x", "y", "z", "w"});
  CHECK(d.user_names == std::vector<std::string>{"A", "B"});
  CHECK(d.sequences[0] == std::vector<std::int32_t>{2, 3, 1, 4});  // y10 z20 x30 w30 (x before w: file order)
  CHECK(d.sequences[1] == std::vector<std::int32_t>{4, 2, 3});     // w5 y10 z10
  CHECK(d.user_lines == std::vector<std::int64_t>{2, 3});
}

TEST_CASE("read_atomic_inter: any column order, no timestamp means file order") {
  const md::Domain d = atomic("item_id:token\tuser_id:token\nb\tu\na\tu\n");
  CHECK(d.sequences[0] == std::vector<std::int32_t>{1, 2});
  const md::Domain e = atomic("timestamp:float\titem_id:token\tuser_id:token\n2\ta\tu\n1\tb\tu\n");
  CHECK(e.sequences[0] == std::vector<std::int32_t>{2, 1});
}

TEST_CASE("read_atomic_inter: headers that do not parse") {
  const std::string f = fixtures + "atomic_bad_header.inter";
  expect_parse_error([&] { md::read_atomic_inter(f); }, f, 1, "column 2");
  expect_parse_error([] { atomic("user_id:token\titem_id:tokn\n"); }, "mem.inter", 1, "column 2");
  expect_parse_error([] { atomic("user_id:token\tuser_id:token\n"); }, "mem.inter", 1, "column 2");
  expect_parse_error([] { atomic("user_id:token\trating:float\n"); }, "mem.inter", 1, "item_id");
  expect_parse_error([] { atomic("user_id:token\titem_id:float\n"); }, "mem.inter", 1, "item_id");
  expect_parse_error([] { atomic(""); }, "mem.inter", 1, "header");
  expect_parse_error([] { atomic("user_id:token\titem_id_list:token_seq\titem_id:token\n"); }, "mem.inter", 1,
                     "item_id_list");
  // Header errors are fatal even when lenient: nothing after them can be read.
  CHECK_THROWS_AS(atomic("user_id\titem_id\n", true), ParseError);
}

TEST_CASE("read_atomic_inter: bad rows, strict and lenient") {
  const std::string h = "user_id:token\titem_id:token\ttimestamp:float\n";
  expect_parse_error([&] { atomic(h + "u\ta\t1\nu\tb\n"); }, "mem.inter", 3, "line");
  expect_parse_error([&] { atomic(h + "u\ta\tnoon\n"); }, "mem.inter", 2, "timestamp");
  expect_parse_error([&] { atomic(h + "u\ta\tnan\n"); }, "mem.inter", 2, "timestamp");
  expect_parse_error([&] { atomic(h + "\ta\t1\n"); }, "mem.inter", 2, "user_id");
  expect_parse_error([&] { atomic(h + "u\t\t1\n"); }, "mem.inter", 2, "item_id");
  const md::Domain d = atomic(h + "u\ta\t1\nu\tb\nu\tc\tx\nv\tc\t3\n", true);
  CHECK(d.n_interactions() == 2);
  CHECK(d.report.skipped_lines == 2);
  CHECK(d.report.lines == 5);
  CHECK_THROWS_WITH_AS(md::read_atomic_inter(fixtures + "nope.inter"), doctest::Contains("nope.inter"), IoError);
}

TEST_CASE("load_domain picks the reader from the file") {
  CHECK(md::load_domain(fixtures + "sequences_ok.txt").n_users() == 3);
  CHECK(md::load_domain(fixtures + "atomic_ok.inter").n_users() == 2);
  CHECK(md::load_domain(fixtures + "pairs_ok.txt", md::Format::pairs).n_users() == 2);
}

TEST_CASE("kcore_filter is iterative") {
  // Items 4 and 9 occur once -> dropped; user 3 is left empty -> dropped.
  const md::Domain d = seqs("1 1 2 3\n2 1 2 3\n3 4 9\n4 1 2\n");
  const md::Domain k = md::kcore_filter(d, 2, 2);
  CHECK(k.n_users() == 3);
  CHECK(k.user_names == std::vector<std::string>{"1", "2", "4"});
  CHECK(k.n_items == 3);
  CHECK(k.item_names == std::vector<std::string>{"<pad>", "1", "2", "3"});
  CHECK(k.report.reasons.at("k-core(2,2) removed users") == 1);
  CHECK(k.report.reasons.at("k-core(2,2) removed items") == 2);
  // 3-core: item 3 has 2 users -> removed -> users 1, 2 keep 2 items each (< 3) -> everything goes.
  const md::Domain k3 = md::kcore_filter(d, 3, 3);
  CHECK(k3.n_users() == 0);
  CHECK(k3.n_items == 0);
  k.validate();
  // A chain that needs several passes: one pass would keep user 2 = [1, 3].
  const md::Domain c = md::kcore_filter(seqs("1 1 2\n2 1 3\n3 3 4\n"), 2, 2);
  CHECK(c.n_users() == 0);
  CHECK(md::kcore_filter(seqs("1 1 2\n2 1 3\n3 3 4\n"), 1, 1).n_users() == 3);
  CHECK_THROWS_AS(md::kcore_filter(d, -1, 2), metarec::ConfigError);
}

TEST_CASE("stats and format_stats") {
  const md::Domain d = seqs("1 1 2 3\n2 1 2\n3 4 5 6 7 8 9 1 2 3 4 5\n4 1\n");
  const md::DatasetStats s = md::stats(d);
  CHECK(s.users == 4);
  CHECK(s.items == 9);
  CHECK(s.interactions == 3 + 2 + 11 + 1);
  CHECK(s.min_length == 1);
  CHECK(s.max_length == 11);
  CHECK(s.mean_length == doctest::Approx(17.0 / 4));
  CHECK(s.median_length == doctest::Approx(2.5));
  REQUIRE(s.histogram.size() == 3);
  CHECK(s.histogram[0].lo == 1);
  CHECK(s.histogram[0].users == 2);  // lengths 1, 2
  CHECK(s.histogram[1].users == 1);  // 3
  CHECK(s.histogram[2].lo == 10);
  const std::string text = md::format_stats(s);
  CHECK(text.find("users         4\n") != std::string::npos);
  CHECK(text.find("interactions  17\n") != std::string::npos);
  CHECK(text.find("median 2.5") != std::string::npos);
}
