// RecBole atomic .item files (read_atomic_item) and the item index order of a
// domain (item_index_ids, write_item_index, parse_format): text columns by
// name in any column order, malformed cases both ways (strict -> ParseError
// naming file:line:field; lenient -> skipped and counted), and alignment of
// .item rows with the item indices that training on the .inter file assigns.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "fixtures/parse_error.hpp"
#include "metarec/data/all.hpp"

namespace md = metarec::data;
using metarec::ConfigError;
using metarec::ParseError;
using metarec::test::expect_parse_error;

namespace {
const std::string mini = std::string(METAREC_SOURCE_DIR) + "/tests/data/fixtures/recbole_mini/";

md::ItemText item(const std::string& text, std::vector<std::string> fields = {}, bool lenient = false) {
  std::istringstream in(text);
  md::AtomicItemOptions o;
  o.fields = std::move(fields);
  return md::read_atomic_item(in, "mem.item", o, {lenient});
}

const std::string ml_header = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n";
}  // namespace

TEST_CASE("read_atomic_item: every token_seq column by default, joined in header order") {
  const auto t = item(ml_header + "1\tToy Story (1995)\t1995\tAnimation Children's Comedy\n" +
                      "2\tGoldenEye (1995)\t1995\tAction Adventure Thriller\n");
  CHECK(t.column == "movie_title+class");
  REQUIRE(t.ids == std::vector<std::string>{"1", "2"});
  CHECK(t.texts[0] == "Toy Story (1995). Animation Children's Comedy");
  CHECK(t.texts[1] == "GoldenEye (1995). Action Adventure Thriller");
  CHECK(t.report.records == 2);
  CHECK(t.report.skipped() == 0);
}

TEST_CASE("read_atomic_item: columns by name, in the given order, any header order") {
  const std::string text = "class:token_seq\trelease_year:token\tmovie_title:token_seq\titem_id:token\n"
                           "Comedy Drama\t1995\tFour Rooms (1995)\tx5\n"
                           "\t1996\tUntitled\tx6\n";
  const auto a = item(text, {"movie_title"});
  CHECK(a.column == "movie_title");
  CHECK(a.ids == std::vector<std::string>{"x5", "x6"});
  CHECK(a.texts == std::vector<std::string>{"Four Rooms (1995)", "Untitled"});
  const auto b = item(text, {"movie_title", "release_year", "class"});
  CHECK(b.column == "movie_title+release_year+class");
  CHECK(b.texts[0] == "Four Rooms (1995). 1995. Comedy Drama");
  CHECK(b.texts[1] == "Untitled. 1996");  // the empty class is dropped, not joined as ". "
  // The UniSRec/MISSRec two-column text table is an atomic item file too.
  const auto c = item("item_id:token\ttext:token_seq\nA1\tsilver ring\n");
  CHECK(c.column == "text");
  CHECK(c.texts == std::vector<std::string>{"silver ring"});
}

TEST_CASE("read_atomic_item: header problems are fatal in every mode, naming line 1 and the column") {
  for (bool lenient : {false, true}) {
    // No id column.
    expect_parse_error([&] { item("movie_title:token_seq\tclass:token_seq\nToy Story\tComedy\n", {}, lenient); },
                       "mem.item", 1, "item_id");
    // Id column of the wrong type.
    expect_parse_error([&] { item("item_id:token_seq\tmovie_title:token_seq\n1\tx\n", {}, lenient); }, "mem.item", 1,
                       "item_id");
    // A chosen field that does not exist, chosen twice, or the id itself.
    expect_parse_error([&] { item(ml_header + "1\tx\t1995\ty\n", {"title"}, lenient); }, "mem.item", 1, "title");
    expect_parse_error([&] { item(ml_header + "1\tx\t1995\ty\n", {"class", "class"}, lenient); }, "mem.item", 1, "class");
    expect_parse_error([&] { item(ml_header + "1\tx\t1995\ty\n", {"item_id"}, lenient); }, "mem.item", 1, "item_id");
    // No token_seq column and no field chosen.
    expect_parse_error([&] { item("item_id:token\trelease_year:token\n1\t1995\n", {}, lenient); }, "mem.item", 1, "header");
    // Untyped or empty header.
    expect_parse_error([&] { item("item_id\tmovie_title:token_seq\n", {}, lenient); }, "mem.item", 1, "column 1");
    expect_parse_error([&] { item("", {}, lenient); }, "mem.item", 1, "header");
  }
  // A named non-token_seq column is fine (release_year:token).
  CHECK(item("item_id:token\trelease_year:token\n1\t1995\n", {"release_year"}).texts[0] == "1995");
}

TEST_CASE("read_atomic_item: bad rows -> ParseError (strict) or skipped and counted (lenient)") {
  struct Case {
    std::string row;
    long line;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"1\tToy Story\t1995\tComedy\n2\tGoldenEye\t1995\n", 3, "line"},            // a field missing
      {"1\tToy Story\t1995\tComedy\textra\n", 2, "line"},                         // one too many
      {"1\tToy Story\t1995\tComedy\n \tNo id\t1995\tDrama\n", 3, "item_id"},      // empty id
      {"1\tToy Story\t1995\tComedy\n\n1\tAgain\t1995\tDrama\n", 4, "item_id"},    // duplicate id (blank line counted)
  };
  for (const auto& c : cases) {
    CAPTURE(c.row);
    expect_parse_error([&] { item(ml_header + c.row); }, "mem.item", c.line, c.field);
    const auto t = item(ml_header + c.row, {}, true);
    CHECK(t.report.skipped_lines == 1);
    CHECK(t.report.skipped() == 1);
    CHECK(t.ids.size() == t.texts.size());
    CHECK(static_cast<std::int64_t>(t.ids.size()) == t.report.records);
    CHECK(std::set<std::string>(t.ids.begin(), t.ids.end()).size() == t.ids.size());
  }
  // Duplicate id message names the first line.
  try {
    item(ml_header + "7\ta\t1\tb\n7\tc\t1\td\n");
    FAIL("expected ParseError");
  } catch (const ParseError& e) {
    CHECK(std::string(e.what()).find("first on line 2") != std::string::npos);
  }
}

TEST_CASE("parse_format: the CLI names map to the readers; anything else is a ConfigError") {
  CHECK(md::parse_format("s3rec") == md::Format::sequences);
  CHECK(md::parse_format("pairs") == md::Format::pairs);
  CHECK(md::parse_format("atomic") == md::Format::atomic);
  CHECK(md::parse_format("unisrec") == md::Format::unisrec_split);
  CHECK(md::parse_format("inter") == md::Format::inter_sequences);
  CHECK(md::parse_format("auto") == md::Format::automatic);
  CHECK_THROWS_AS(md::parse_format("recbole"), ConfigError);
}

TEST_CASE("fixture: .item rows line up with the atomic item indices of the .inter file") {
  const md::Domain dom = md::load_domain(mini + "mini.inter", md::parse_format("atomic"));
  const md::ItemText text = md::read_atomic_item(mini + "mini.item");
  const std::vector<std::string> ids = md::item_index_ids(dom);
  REQUIRE(static_cast<std::int32_t>(ids.size()) == dom.n_items);

  // Oracle from the file itself: item tokens in order of first appearance (the
  // documented atomic convention), independent of the reader's code path.
  std::vector<std::string> first;
  {
    std::ifstream in(mini + "mini.inter");
    std::string line;
    std::getline(in, line);
    std::set<std::string> seen;
    while (std::getline(in, line)) {
      const std::size_t a = line.find('\t'), b = line.find('\t', a + 1);
      const std::string tok = line.substr(a + 1, b - a - 1);
      if (seen.insert(tok).second) first.push_back(tok);
    }
  }
  CHECK(ids == first);
  // The fixture is built so that this order is not ascending numeric order
  // (which s3rec/pairs would give): an alignment by sorted id would be wrong.
  std::vector<std::string> numeric = ids;
  std::sort(numeric.begin(), numeric.end(), [](const std::string& x, const std::string& y) { return std::stol(x) < std::stol(y); });
  CHECK(numeric != ids);

  // Every item with an .item row gets exactly that row's text; the others
  // (901, 902, 903) get none; 950 has a row but no interaction.
  std::unordered_map<std::string, std::string> by_id;
  for (std::size_t r = 0; r < text.ids.size(); ++r) by_id[text.ids[r]] = text.texts[r];
  std::int64_t missing = 0;
  for (const auto& id : ids) {
    if (!by_id.count(id)) {
      ++missing;
      CHECK((id == "901" || id == "902" || id == "903"));
    }
  }
  CHECK(missing == 3);
  CHECK(std::find(ids.begin(), ids.end(), "950") == ids.end());
  CHECK(by_id.count("950") == 1);
  // The same alignment through align_item_text (internal id = index + 1).
  md::LoadReport rep;
  const auto aligned = md::align_item_text(text, dom, &rep);
  REQUIRE(aligned.size() == ids.size() + 1);
  for (std::size_t r = 0; r < ids.size(); ++r) CHECK(aligned[r + 1] == (by_id.count(ids[r]) ? by_id[ids[r]] : ""));
  CHECK(rep.reasons["item without text"] == 3);
  // Default text = title + class (token_seq columns), not release_year.
  CHECK(text.column == "movie_title+class");
}

TEST_CASE("write_item_index round-trips through read_item2index; feature rows must match n_items") {
  const md::Domain dom = md::load_domain(mini + "mini.inter", md::Format::atomic);
  std::stringstream table;
  md::write_item_index(table, dom);
  CHECK(md::read_item2index(table, "mem.item2index") == md::item_index_ids(dom));

  // The same for integer-id formats: ascending numeric order.
  std::istringstream seq("5 30 10 20\n6 10 40 30\n");
  const md::Domain s = md::read_sequences(seq, "mem.txt");
  std::stringstream st;
  md::write_item_index(st, s);
  CHECK(st.str() == "10\t0\n20\t1\n30\t2\n40\t3\n");

  // An id with whitespace cannot be written as 'id<TAB>index'.
  std::istringstream inter("user_id:token\titem_id:token\nu\ta b\n");
  const md::Domain w = md::read_atomic_inter(inter, "mem.inter");
  std::stringstream sink;
  CHECK_THROWS_AS(md::write_item_index(sink, w), ConfigError);

  // A headerless float32 feature file with n_items rows loads; one row fewer
  // is a ParseError naming the file and the field "rows".
  auto feat = [&](std::int64_t rows) {
    std::string bytes(static_cast<std::size_t>(rows) * 2 * sizeof(float), '\0');
    return bytes;
  };
  {
    std::istringstream ok(feat(dom.n_items));
    CHECK(md::read_feat_file(ok, "mini.feat", dom.n_items, 2).values.dim(0) == dom.n_items + 1);
  }
  expect_parse_error(
      [&] {
        std::istringstream bad(feat(dom.n_items - 1));
        md::read_feat_file(bad, "mini.feat", dom.n_items, 2);
      },
      "mini.feat", 0, "rows");
}
