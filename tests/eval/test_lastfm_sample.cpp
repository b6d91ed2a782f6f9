#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "metarec/eval/sampled.hpp"

using namespace metarec;
using namespace metarec::eval;

namespace {
/// `user id id ...` lines keyed by user (a local reader: the data readers are
/// tested in their own suite; this test is about the protocol).
std::map<long, std::vector<std::int32_t>> read_lines(const std::string& path) {
  std::map<long, std::vector<std::int32_t>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    long user, item;
    ss >> user;
    while (ss >> item) out[user].push_back(static_cast<std::int32_t>(item));
  }
  return out;
}
}  // namespace

TEST_CASE("sampled protocol on LastFM_sample.txt: popularity scorer matches an independent computation") {
  const std::string dir = std::string(METAREC_SHARED_DATA) + "/amazon-s3rec/";
  if (!std::filesystem::exists(dir + "LastFM_sample.txt")) {
    MESSAGE("shared data not found: skipped");
    return;
  }
  const auto seqs = read_lines(dir + "LastFM.txt");
  const auto negs = read_lines(dir + "LastFM_sample.txt");
  REQUIRE(seqs.size() == 1090);
  std::int32_t n_items = 0;
  std::vector<double> pop(4000, 0.0);
  for (const auto& [u, s] : seqs)
    for (std::size_t i = 0; i < s.size(); ++i) {
      n_items = std::max(n_items, s[i]);
      if (i + 1 < s.size()) pop[static_cast<std::size_t>(s[i])] += 1;  // everything but the test target
    }
  std::vector<EvalCase> cases;
  for (const auto& [u, s] : seqs) {
    EvalCase c;
    c.user = static_cast<std::int32_t>(u);
    c.target = s.back();
    c.history = std::span<const std::int32_t>(s.data(), s.size() - 1);
    c.negatives = negs.at(u);
    REQUIRE(c.negatives.size() == 99);
    cases.push_back(c);
  }
  auto popularity = [&](std::span<const std::int32_t> users, double* out, index_t ld) {
    for (std::size_t i = 0; i < users.size(); ++i) std::copy_n(pop.begin(), n_items + 1, out + static_cast<index_t>(i) * ld);
  };
  SampledEvaluator<double> ev(n_items, SampledOptions{{1, 10}, 0, 0, 100});
  const Metrics m = ev.evaluate(cases, popularity);
  // Reference values from a few lines of Python over the same files and tie rule.
  CHECK(m.count() == 1090);
  CHECK(m.hr(1) == doctest::Approx(0.0688073394));
  CHECK(m.hr(10) == doctest::Approx(0.2963302753));
  CHECK(m.ndcg(10) == doctest::Approx(0.1631669206));
  CHECK(m.mrr() == doctest::Approx(0.1444927628));
}
