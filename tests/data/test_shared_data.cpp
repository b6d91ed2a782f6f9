// Figures on the shared datasets (../shared/data, see its README). Skipped,
// with a message, when the folder is absent.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "metarec/data/all.hpp"

namespace md = metarec::data;

namespace {
const std::string root = METAREC_SHARED_DATA;
bool have_data() {
  if (std::filesystem::exists(root + "/amazon-s3rec/Beauty.txt")) return true;
  MESSAGE("skipped: shared data not found at " << root);
  return false;
}
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
/// One row of a UniSRec split file from a rebuilt sequence (ids back to file indices).
void append_row(std::string& out, const std::string& user, const std::vector<std::int32_t>& s, std::size_t end,
                std::size_t cap) {
  out += user + "\t";
  const std::size_t b = end > cap ? end - cap : 0;
  for (std::size_t k = b; k < end; ++k) out += (k > b ? " " : "") + std::to_string(s[k] - 1);
  out += "\t" + std::to_string(s[end] - 1) + "\n";
}
}  // namespace

TEST_CASE("S3-Rec files: users / items / interactions as in the README") {
  if (!have_data()) return;
  struct Want {
    const char* file;
    std::int64_t users, items, interactions;
  };
  for (const Want& w : {Want{"Beauty.txt", 22363, 12101, 198502}, Want{"Sports_and_Outdoors.txt", 35598, 18357, 296337},
                        Want{"Toys_and_Games.txt", 19412, 11924, 167597}, Want{"LastFM.txt", 1090, 3646, 52551}}) {
    CAPTURE(w.file);
    const md::Domain d = md::read_sequences(root + "/amazon-s3rec/" + w.file);
    const md::DatasetStats s = md::stats(d);
    CHECK(s.users == w.users);
    CHECK(s.items == w.items);
    CHECK(s.n_items == w.items);
    CHECK(s.interactions == w.interactions);
    CHECK(s.min_length >= 5);
    CHECK(d.report.skipped() == 0);
    // Item ids are 1..N without gaps in these files, so internal ids equal the file's.
    CHECK(d.item_names[1] == "1");
    CHECK(d.item_names.back() == std::to_string(w.items));
    const md::Split sp = md::split_leave_one_out(d);
    CHECK(static_cast<std::int64_t>(sp.test.size()) == w.users);
  }
  const md::Domain lastfm = md::read_sequences(root + "/amazon-s3rec/LastFM.txt");
  CHECK(md::stats(lastfm).max_length == 899);
  CHECK(md::stats(md::read_sequences(root + "/amazon-s3rec/Beauty.txt")).mean_length == doctest::Approx(8.88).epsilon(0.001));
}

TEST_CASE("S3-Rec attribute maps align with the items") {
  if (!have_data()) return;
  const md::Domain d = md::read_sequences(root + "/amazon-s3rec/Beauty.txt");
  const md::AttributeMap m = md::read_attribute_map(root + "/amazon-s3rec/Beauty_item2attributes.json");
  CHECK(m.report.skipped() == 0);
  const md::ItemAttributes a = md::align_attributes(m, d);
  CHECK(a.n_attributes > 1);
  std::int64_t with = 0;
  for (std::size_t i = 1; i < a.attributes.size(); ++i) with += !a.attributes[i].empty();
  MESSAGE("Beauty: " << with << " of " << d.n_items << " items have attributes, " << a.n_attributes - 1
                     << " attribute ids");
  CHECK(with > d.n_items / 2);
}

TEST_CASE("Scientific split files: exact reconstruction, same split as the shipped files") {
  if (!have_data()) return;
  const std::string prefix = root + "/scientific/Scientific";
  const md::UniSRecData u = md::read_unisrec_split(prefix);
  const md::DatasetStats s = md::stats(u.domain);
  CHECK(s.users == 8442);
  CHECK(s.items == 4385);
  CHECK(s.interactions == 59427);
  CHECK(u.history_cap == 50);
  CHECK(u.domain.report.skipped() == 0);
  // Regenerate the three files from the rebuilt sequences: byte-for-byte equal.
  const std::string header = "user_id:token\titem_id_list:token_seq\titem_id:token\n";
  std::string train = header, valid = header, test = header;
  for (std::int32_t user = 0; user < u.domain.n_users(); ++user) {
    const auto& seq = u.domain.sequences[static_cast<std::size_t>(user)];
    const std::string id = std::to_string(user);  // user index == internal id (numeric order)
    for (std::size_t k = seq.size() - 3; k >= 1; --k) append_row(train, id, seq, k, 50);
    append_row(valid, id, seq, seq.size() - 2, 50);
    append_row(test, id, seq, seq.size() - 1, 50);
  }
  CHECK(train == slurp(prefix + ".train.inter"));
  CHECK(valid == slurp(prefix + ".valid.inter"));
  CHECK(test == slurp(prefix + ".test.inter"));
  // ... and the Split holds exactly the files' validation / test rows.
  std::istringstream vin(slurp(prefix + ".valid.inter"));
  std::string line;
  std::getline(vin, line);
  for (std::size_t r = 0; std::getline(vin, line); ++r) {
    std::string expect;
    append_row(expect, std::to_string(u.split.valid.users[r]), [&] {
      auto h = u.split.valid.histories[r];
      h.push_back(u.split.valid.targets[r]);
      return h;
    }(), u.split.valid.histories[r].size(), 1000);
    REQUIRE(expect == line + "\n");
  }
  // Original ids from item2index / user2index; text aligned by id (the .text
  // rows are not in index order).
  CHECK(u.domain.item_names[1] == "B00TNNWMXI");
  CHECK(u.domain.user_names[0] == "ABW8NXS7SV55K");
  md::LoadReport rep;
  const auto text = md::align_item_text(md::read_item_text(prefix + ".text"), u.domain, &rep);
  CHECK(rep.reasons.count("item without text") == 0);
  CHECK(!text[1].empty());
}

TEST_CASE("Games-6k: whole sequences per row; split rebuilt") {
  if (!have_data()) return;
  const md::Domain d = md::read_inter_sequences(root + "/games/Games-6k.test.inter");
  const md::DatasetStats s = md::stats(d);
  CHECK(s.users == 50546);
  CHECK(s.items == 16859);
  CHECK(s.interactions == 440264);
  CHECK(d.report.reasons.count("history possibly truncated") == 0);
  const md::ItemText t = md::read_item_text(root + "/games/Games-6k.item");
  CHECK(t.column == "title");
  md::LoadReport rep;
  md::align_item_text(t, d, &rep);
  CHECK(rep.reasons.count("item without text") == 0);
}
