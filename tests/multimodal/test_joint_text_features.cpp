// joint_text_features: several corpora featurized into ONE space (shared
// vocabulary, IDF and SVD basis), the transfer setting of MISSRec
// (pre-train on one domain's features, fine-tune on another's).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fixtures/cosine.hpp"
#include "metarec/multimodal/text_features.hpp"

using namespace metarec;
using namespace metarec::multimodal;

namespace {

using Rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

using test::cosine;
double rel_diff(const Eigen::VectorXf& a, const Eigen::VectorXf& b) {
  return static_cast<double>((a - b).norm()) / (static_cast<double>(a.norm()) + 1e-30);
}

// Two "domains": A = astronomy + baking, B = baking + cars; one text occurs in both.
const std::string shared_text = "oven thermometer for baking bread";
const std::vector<std::string> corpus_a{
    "telescope lens for star gazing, best new model", "galaxy and star chart poster",
    "planet telescope mount with star finder",        "astronomy telescope eyepiece for planet viewing",
    "bread flour for baking, best new recipe",        shared_text,
    "cake recipe book with flour and sugar"};
const std::vector<std::string> corpus_b{
    "engine oil filter for car, best new brand", "car wheel and tire cleaner",
    shared_text,                                 "brake pads for car wheel",
    "baking sheet for oven and cake",            "engine spark plug kit with brake fluid",
    ""};

TextFeatureOptions options(index_t dim) {
  TextFeatureOptions opt;
  opt.svd.dim = dim;
  opt.svd.seed = 3;
  return opt;
}

}  // namespace

TEST_CASE("joint_text_features: one basis - the same text gets the same row in both corpora") {
  const std::vector<std::vector<std::string>> corpora{corpus_a, corpus_b};
  const JointTextFeatures f = joint_text_features(corpora, options(4));
  REQUIRE(f.corpora() == 2);
  REQUIRE(f.rows(0) == 7);
  REQUIRE(f.rows(1) == 7);
  CHECK((f.row_offset == std::vector<index_t>{0, 7, 14}));
  CHECK((f.empty_texts == std::vector<index_t>{0, 1}));
  CHECK((f.joint.empty_texts == 1));
  REQUIRE(f.block(0).cols() == 4);
  const Rows a = f.block(0), b = f.block(1);
  // Identical text -> identical feature row, whichever corpus it is in.
  CHECK(a.row(5).norm() > 0.1f);
  CHECK(rel_diff(a.row(5).transpose(), b.row(2).transpose()) < 1e-4);
  CHECK(b.row(6).norm() == 0.0f);  // empty text: zero row (missing modality)

  // Per-corpus fits (the old behaviour) put the same text at unrelated coordinates:
  // this is what the joint fit exists to avoid.
  const TextFeatures sa = text_features(corpus_a, options(4)), sb = text_features(corpus_b, options(4));
  CHECK(rel_diff(sa.values.row(5).transpose(), sb.values.row(2).transpose()) > 0.1);

  // Cross-corpus neighbours are meaningful: B's baking text is closest to one of A's baking texts.
  int nearest = -1;
  double best = -2;
  for (int i = 0; i < 7; ++i) {
    if (i == 5) continue;  // the shared text itself
    const double c = cosine(b.row(4).transpose(), a.row(i).transpose());
    if (c > best) best = c, nearest = i;
  }
  CHECK(nearest >= 4);
}

TEST_CASE("joint_text_features: equals text_features of the stacked corpora, split by corpus") {
  const std::vector<std::vector<std::string>> corpora{corpus_a, corpus_b};
  const JointTextFeatures f = joint_text_features(corpora, options(3));
  std::vector<std::string> stacked = corpus_a;
  stacked.insert(stacked.end(), corpus_b.begin(), corpus_b.end());
  const TextFeatures s = text_features(stacked, options(3));
  CHECK((f.joint.values == s.values));  // same input, options and thread count: bitwise
  CHECK((f.joint.singular_values == s.singular_values));
  CHECK((f.joint.buckets_used == s.buckets_used));
  CHECK((f.block(1) == s.values.middleRows(7, 7)));
  // One corpus: exactly text_features.
  const JointTextFeatures one = joint_text_features(std::vector<std::vector<std::string>>{corpus_a}, options(3));
  CHECK((one.joint.values == text_features(corpus_a, options(3)).values));
  CHECK((one.block(0) == one.joint.values));
}

TEST_CASE("joint_text_features: a corpus's rows do not depend on the order of the corpora") {
  const JointTextFeatures ab = joint_text_features(std::vector<std::vector<std::string>>{corpus_a, corpus_b}, options(4));
  const JointTextFeatures ba = joint_text_features(std::vector<std::vector<std::string>>{corpus_b, corpus_a}, options(4));
  const Rows a1 = ab.block(0), a2 = ba.block(1);
  for (index_t r = 0; r < a1.rows(); ++r) CHECK(rel_diff(a1.row(r).transpose(), a2.row(r).transpose()) < 1e-3);
}

TEST_CASE("joint_text_features: dim bounded by all texts together; no corpus is a ConfigError") {
  const std::vector<std::string> x{"red apple pie", "green apple tart"}, y{"blue berry pie", "", "red berry jam"};
  // dim 4 exceeds each corpus alone (2 and 3 texts) but not the 5 texts together.
  CHECK_THROWS_AS(text_features(x, options(4)), ConfigError);
  const JointTextFeatures f = joint_text_features(std::vector<std::vector<std::string>>{x, y}, options(4));
  CHECK(f.block(0).rows() == 2);
  CHECK(f.block(1).rows() == 3);
  CHECK((f.empty_texts == std::vector<index_t>{0, 1}));
  CHECK_THROWS_AS(joint_text_features(std::vector<std::vector<std::string>>{x, y}, options(6)), ConfigError);
  CHECK_THROWS_WITH_AS(joint_text_features(std::vector<std::vector<std::string>>{}, options(2)),
                       doctest::Contains("no corpus"), ConfigError);
  // string_view corpora work as well.
  const std::vector<std::vector<std::string_view>> views{{"red apple pie", "green apple tart"}, {"blue berry pie"}};
  CHECK(joint_text_features(views, options(2)).rows(1) == 1);
}
