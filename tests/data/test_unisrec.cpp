// UniSRec/MISSRec split files: exact reconstruction of full sequences from
// prefix rows with capped histories, item text, item2index, malformed cases.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "metarec/data/all.hpp"

namespace md = metarec::data;
using metarec::ParseError;

namespace {
const char* header = "user_id:token\titem_id_list:token_seq\titem_id:token\n";

std::string row(int user, const std::vector<int>& s, std::size_t end, std::size_t cap) {
  std::string r = std::to_string(user) + "\t";
  const std::size_t b = end > cap ? end - cap : 0;
  for (std::size_t k = b; k < end; ++k) r += (k > b ? " " : "") + std::to_string(s[k]);
  return r + "\t" + std::to_string(s[end]) + "\n";
}

/// Writes the three files the way RecBole/UniSRec do (train rows longest first).
struct Files {
  std::string train = header, valid = header, test = header;
};
Files make_files(const std::vector<std::vector<int>>& seqs, std::size_t cap, bool ascending = false) {
  Files f;
  for (std::size_t u = 0; u < seqs.size(); ++u) {
    const auto& s = seqs[u];
    const std::size_t n = s.size();
    for (std::size_t j = 0; j + 3 < n; ++j) {
      const std::size_t k = ascending ? j + 1 : n - 3 - j;  // target position
      f.train += row(static_cast<int>(u), s, k, cap);
    }
    f.valid += row(static_cast<int>(u), s, n - 2, cap);
    f.test += row(static_cast<int>(u), s, n - 1, cap);
  }
  return f;
}

md::UniSRecData read(const Files& f, bool lenient = false) {
  std::istringstream tr(f.train), va(f.valid), te(f.test);
  return md::read_unisrec_split(tr, va, te, "mem", {lenient});
}

void expect_error_at(const Files& f, const std::string& file, long line, const std::string& field) {
  try {
    read(f);
    FAIL("expected ParseError");
  } catch (const ParseError& e) {
    CHECK(e.file() == file);
    CHECK(e.line() == line);
    CHECK(e.field() == field);
  }
}
}  // namespace

TEST_CASE("read_unisrec_split rebuilds full sequences past the history cap") {
  // Long sequences with repeats (so a naive overlap join would be ambiguous), cap 3.
  const std::vector<std::vector<int>> seqs = {
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3, 3, 3, 3, 4, 3}, {5, 6, 7}, {2, 1, 0, 2, 1, 0, 2, 1, 0, 9}};
  for (bool ascending : {false, true}) {
    CAPTURE(ascending);
    const md::UniSRecData d = read(make_files(seqs, 3, ascending));
    CHECK(d.history_cap == 3);
    REQUIRE(d.domain.n_users() == 4);
    CHECK(d.domain.n_items == 10);
    for (std::size_t u = 0; u < seqs.size(); ++u) {
      std::vector<std::int32_t> want;
      for (int i : seqs[u]) want.push_back(i + 1);  // file index + 1
      CHECK(d.domain.sequences[u] == want);
    }
    // Split histories are capped exactly like the files.
    CHECK(d.split.valid.histories[0] == std::vector<std::int32_t>{6, 7, 8});
    CHECK(d.split.valid.targets[0] == 9);
    CHECK(d.split.test.histories[0] == std::vector<std::int32_t>{7, 8, 9});
    CHECK(d.split.test.targets[0] == 10);
    CHECK(d.split.test.histories[2] == std::vector<std::int32_t>{6, 7});
    CHECK(d.split.train[2] == std::vector<std::int32_t>{6});
    CHECK(d.split.train[0].size() == 8);  // training sequences are not capped
    CHECK(d.domain.n_interactions() == 10 + 7 + 3 + 10);
  }
}

TEST_CASE("read_unisrec_split: malformed input") {
  const std::vector<std::vector<int>> seqs = {{0, 1, 2, 3, 4}, {5, 6, 7, 8}};
  const Files good = make_files(seqs, 50);
  CHECK(read(good).domain.n_users() == 2);
  SUBCASE("non-integer id in a history") {
    Files f = good;
    f.valid.replace(f.valid.find("0 1 2"), 5, "0 x 2");
    expect_error_at(f, "mem.valid.inter", 2, "item_id_list");
  }
  SUBCASE("non-integer target") {
    Files f = good;
    f.test.replace(f.test.rfind("\t8"), 2, "\t8a");
    expect_error_at(f, "mem.test.inter", 3, "item_id");
  }
  SUBCASE("empty history") {
    Files f = good;
    f.test += "1\t\t9\n";
    expect_error_at(f, "mem.test.inter", 4, "item_id_list");
  }
  SUBCASE("header that does not parse") {
    Files f = good;
    f.train.replace(0, 13, "user_id token");
    expect_error_at(f, "mem.train.inter", 1, "column 1");
    f = good;
    f.valid.replace(0, 13, "user_id:float");
    expect_error_at(f, "mem.valid.inter", 1, "user_id");
  }
  SUBCASE("wrong field count") {
    Files f = good;
    f.train += "0\t1 2\n";
    expect_error_at(f, "mem.train.inter", 5, "line");
  }
  SUBCASE("a history that does not continue the sequence") {
    Files f = good;
    // user 0, valid row: history 0 1 2 -> 0 2 1
    f.valid.replace(f.valid.find("0 1 2"), 5, "0 2 1");
    expect_error_at(f, "mem.valid.inter", 2, "item_id_list");
    // lenient: the user is dropped and counted, the other user survives
    const md::UniSRecData d = read(f, true);
    CHECK(d.domain.n_users() == 1);
    CHECK(d.domain.report.skipped_users == 1);
    CHECK(d.domain.user_names[0] == "1");
  }
  SUBCASE("a missing train row (gap in the prefixes)") {
    Files f = good;
    const std::size_t p = f.train.find("0\t0 1\t2\n");
    REQUIRE(p != std::string::npos);
    f.train.erase(p, 8);
    CHECK_THROWS_AS(read(f), ParseError);
  }
  SUBCASE("user without a test row") {
    Files f = good;
    f.test = header + row(0, seqs[0], 4, 50);
    expect_error_at(f, "mem.train.inter", 4, "user_id");
    CHECK(read(f, true).domain.n_users() == 1);
  }
  SUBCASE("duplicate valid row") {
    Files f = good;
    f.valid += row(1, seqs[1], 2, 50);
    expect_error_at(f, "mem.valid.inter", 4, "user_id");
  }
}

TEST_CASE("read_unisrec_split: a missing file is an IoError naming it") {
  CHECK_THROWS_WITH_AS(md::read_unisrec_split("/nonexistent/Scientific"),
                       doctest::Contains("/nonexistent/Scientific.train.inter"), metarec::IoError);
}

TEST_CASE("read_inter_sequences: one whole sequence per row (Games-6k.test.inter)") {
  std::istringstream in(std::string(header) + "0\t0 1 2\t3\n1\t4 5\t0\n");
  const md::Domain d = md::read_inter_sequences(in, "games.inter");
  CHECK(d.n_users() == 2);
  CHECK(d.sequences[0] == std::vector<std::int32_t>{1, 2, 3, 4});
  CHECK(d.sequences[1] == std::vector<std::int32_t>{5, 6, 1});
  std::istringstream dup(std::string(header) + "0\t0 1 2\t3\n0\t4 5\t0\n");
  CHECK_THROWS_AS(md::read_inter_sequences(dup, "games.inter"), ParseError);
}

TEST_CASE("item text and item2index") {
  std::istringstream t("item_id:token\ttext:token_seq\nB2\tsecond item. Tools.\nB1\tfirst\n");
  const md::ItemText text = md::read_item_text(t, "x.text");
  CHECK(text.column == "text");
  CHECK(text.ids == std::vector<std::string>{"B2", "B1"});
  std::istringstream idx("B1\t0\nB2\t1\nB3\t2\n");
  const auto names = md::read_item2index(idx, "x.item2index");
  CHECK(names == std::vector<std::string>{"B1", "B2", "B3"});
  md::Domain d;
  d.n_items = 3;
  d.item_names = {"<pad>", "B1", "B2", "B3"};
  metarec::data::LoadReport rep;
  const auto aligned = md::align_item_text(text, d, &rep);
  CHECK(aligned == std::vector<std::string>{"", "first", "second item. Tools.", ""});
  CHECK(rep.reasons.at("item without text") == 1);

  std::istringstream bad_header("item:token\ttext:token_seq\n");
  CHECK_THROWS_AS(md::read_item_text(bad_header, "x.text"), ParseError);
  std::istringstream dup("item_id:token\ttext:token_seq\nB1\ta\nB1\tb\nB2\tc\td\n");
  CHECK_THROWS_AS(md::read_item_text(dup, "x.text"), ParseError);
  std::istringstream dup2("item_id:token\ttext:token_seq\nB1\ta\nB1\tb\nB2\tc\td\n\n");
  const md::ItemText lenient = md::read_item_text(dup2, "x.text", {true});
  CHECK(lenient.ids.size() == 1);
  CHECK(lenient.report.skipped_lines == 2);
  CHECK(lenient.report.blank_lines == 1);
  std::istringstream bad_idx("B1\t0\nB2\tone\n");
  CHECK_THROWS_AS(md::read_item2index(bad_idx, "x.item2index"), ParseError);
  CHECK_THROWS_AS(md::read_item_text("/nonexistent/x.text"), metarec::IoError);
  CHECK_THROWS_AS(md::read_item2index("/nonexistent/x.item2index"), metarec::IoError);
  std::istringstream gap_idx("B1\t0\nB2\t99999999\n");
  CHECK_THROWS_WITH_AS(md::read_item2index(gap_idx, "x.item2index"), doctest::Contains("x.item2index:2"), ParseError);
  std::istringstream dup_idx("B1\t0\nB2\t0\n");
  CHECK_THROWS_AS(md::read_item2index(dup_idx, "x.item2index"), ParseError);
}
