#include <doctest/doctest.h>

#include <Eigen/SVD>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "fixtures/cosine.hpp"
#include "metarec/data/features.hpp"
#include "metarec/data/npy_writer.hpp"
#include "metarec/data/text.hpp"
#include "metarec/multimodal/text_features.hpp"

using namespace metarec;
using namespace metarec::multimodal;
using namespace metarec::numeric;

namespace {

using MatD = Eigen::MatrixXd;

/// Column of `m` for the bucket of n-gram hash h (-1 if unused).
int column_of(const TfidfMatrix& m, std::uint64_t h, int bits = 20) {
  const auto b = hash_bucket(h, bits);
  const auto it = std::lower_bound(m.buckets.begin(), m.buckets.end(), b);
  return it != m.buckets.end() && *it == b ? static_cast<int>(it - m.buckets.begin()) : -1;
}

using test::cosine;

/// A [n, m] with singular values s (rest 0) and random orthonormal factors.
MatD with_spectrum(index_t n, index_t m, const std::vector<double>& s, std::uint64_t seed) {
  Rng rng(seed);
  MatD g1(n, n), g2(m, m);
  for (index_t i = 0; i < g1.size(); ++i) g1.data()[i] = rng.normal();
  for (index_t i = 0; i < g2.size(); ++i) g2.data()[i] = rng.normal();
  const MatD U = Eigen::HouseholderQR<MatD>(g1).householderQ(), V = Eigen::HouseholderQR<MatD>(g2).householderQ();
  MatD a = MatD::Zero(n, m);
  for (std::size_t j = 0; j < s.size(); ++j) a += s[j] * U.col(static_cast<index_t>(j)) * V.col(static_cast<index_t>(j)).transpose();
  return a;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("metarec_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

}  // namespace

TEST_CASE("tokenize: lower-case ASCII alphanumeric runs, short tokens dropped") {
  const std::string text = "PORTER-CABLE 4 1/2-Inch x10yd, Caf\xc3\xa9 N\xc2\xb0" "5!";
  CHECK(tokenize(text) == std::vector<std::string>{"porter", "cable", "inch", "x10yd", "caf"});
  CHECK(tokenize(text, 1) == std::vector<std::string>{"porter", "cable", "4", "1", "2", "inch", "x10yd", "caf", "n", "5"});
  CHECK(tokenize("").empty());
  CHECK(tokenize(" .,; -- ").empty());
}

TEST_CASE("hashing is fixed: FNV-1a 64 golden values, bi-grams hash the joined string") {
  static_assert(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("hello") == 0xa430d84680aabd0bULL);
  CHECK(bigram_hash("sanding", "roll") == 0x32a5686acd148990ULL);
  CHECK(bigram_hash("sanding", "roll") == fnv1a64("sanding roll"));
  CHECK(hash_bucket(0x32a5686acd148990ULL, 20) == 297360u);

  TfidfOptions opt;
  std::vector<std::string> scratch;
  std::vector<std::uint32_t> ids;
  hashed_ngrams("Red fox, red FOX", opt, scratch, ids);
  const auto red = hash_bucket(fnv1a64("red"), 20), fox = hash_bucket(fnv1a64("fox"), 20);
  const auto red_fox = hash_bucket(fnv1a64("red fox"), 20), fox_red = hash_bucket(fnv1a64("fox red"), 20);
  CHECK(ids == std::vector<std::uint32_t>{red, fox, red_fox, red, fox_red, fox, red_fox});
  opt.bigrams = false;
  hashed_ngrams("Red fox, red FOX", opt, scratch, ids);
  CHECK(ids == std::vector<std::uint32_t>{red, fox, red, fox});
}

TEST_CASE("tfidf: hand-computed smooth idf, raw and sublinear tf, L2 rows, empty rows") {
  const std::vector<std::string> texts{"apple banana", "apple apple banana", "", "cherry"};
  TfidfOptions opt;
  opt.bigrams = false;
  const TfidfMatrix m = tfidf(texts, opt);
  REQUIRE(m.values.rows() == 4);
  REQUIRE(m.values.cols() == 3);
  CHECK(m.empty_rows == 1);
  const int a = column_of(m, fnv1a64("apple")), b = column_of(m, fnv1a64("banana")), c = column_of(m, fnv1a64("cherry"));
  REQUIRE((a >= 0 && b >= 0 && c >= 0));
  // n = 4 texts; df(apple) = df(banana) = 2, df(cherry) = 1.
  const double idf_ab = std::log(5.0 / 3.0) + 1, idf_c = std::log(5.0 / 2.0) + 1;
  CHECK(m.idf[static_cast<std::size_t>(a)] == doctest::Approx(idf_ab));
  CHECK(m.idf[static_cast<std::size_t>(c)] == doctest::Approx(idf_c));
  const MatD d = Eigen::MatrixXf(m.values).cast<double>();
  CHECK(d(0, a) == doctest::Approx(std::sqrt(0.5)));
  CHECK(d(0, b) == doctest::Approx(std::sqrt(0.5)));
  CHECK(d(1, a) == doctest::Approx(2 / std::sqrt(5.0)));  // tf (2, 1), same idf
  CHECK(d(1, b) == doctest::Approx(1 / std::sqrt(5.0)));
  CHECK(d.row(2).norm() == 0.0);
  CHECK(d(3, c) == doctest::Approx(1.0));
  CHECK(d(3, a) == 0.0);

  opt.sublinear_tf = true;
  const MatD s = Eigen::MatrixXf(tfidf(texts, opt).values).cast<double>();
  const double t = 1 + std::log(2.0);
  CHECK(s(1, a) == doctest::Approx(t / std::sqrt(t * t + 1)));

  opt.bigrams = true;
  const TfidfMatrix g = tfidf(texts, opt);
  CHECK(g.values.cols() == 5);  // + "apple banana", "apple apple"
  CHECK(column_of(g, fnv1a64("apple apple")) >= 0);
}

TEST_CASE("randomized_svd: matches an exact SVD on a matrix with a spectral gap") {
  const std::vector<double> s{10, 8, 6, 5, 4, 0.3, 0.2, 0.15, 0.1, 0.05, 0.02};
  // Wide (QR on the row side) and tall (QR on the column side) cases.
  for (const MatD& a : {with_spectrum(70, 90, s, 7), MatD(with_spectrum(70, 90, s, 7).transpose())})
  for (int q : {1, 4}) {
    CAPTURE(a.rows());
    CAPTURE(q);
    const Eigen::SparseMatrix<double, Eigen::RowMajor> sp = a.sparseView();
    Eigen::BDCSVD<MatD> exact(a, Eigen::ComputeThinU);
    RandomizedSvdOptions opt;
    opt.dim = 5;
    opt.power_iters = q;
    opt.seed = 3;
    const auto r = randomized_svd(sp, opt);
    REQUIRE(r.embedding.rows() == a.rows());
    REQUIRE(r.embedding.cols() == 5);
    for (index_t j = 0; j < 5; ++j) {
      CHECK(r.singular_values(j) == doctest::Approx(exact.singularValues()(j)).epsilon(1e-4));
      // Same component up to sign: |<u_exact, u_rand>| = 1.
      const Eigen::VectorXd u = r.embedding.col(j) / r.singular_values(j);
      CHECK(std::abs(u.dot(exact.matrixU().col(j))) == doctest::Approx(1.0).epsilon(1e-6));
      // Sign fix: the largest-|value| entry is positive.
      index_t best;
      r.embedding.col(j).cwiseAbs().maxCoeff(&best);
      CHECK(r.embedding(best, j) > 0);
    }
    // Subspace: projector distance between the two rank-5 left subspaces.
    const MatD ur = r.embedding * r.singular_values.cwiseInverse().asDiagonal();
    const MatD ue = exact.matrixU().leftCols(5);
    CHECK((ur * ur.transpose() - ue * ue.transpose()).norm() < 1e-6);
    double kept = 0, total = 0;
    for (std::size_t j = 0; j < s.size(); ++j) (j < 5 ? kept : total) += s[j] * s[j];
    CHECK(r.explained_ratio == doctest::Approx(kept / (kept + total)).epsilon(1e-6));
  }
}

TEST_CASE("randomized_svd: deterministic for a seed, sign-stable across seeds; dim checked") {
  const MatD a = with_spectrum(40, 50, {9, 7, 5, 3, 0.1, 0.05}, 11);
  const Eigen::SparseMatrix<double, Eigen::RowMajor> sp = a.sparseView();
  RandomizedSvdOptions opt;
  opt.dim = 4;
  opt.seed = 5;
  const auto r1 = randomized_svd(sp, opt), r2 = randomized_svd(sp, opt);
  CHECK(r1.embedding == r2.embedding);  // bitwise
  opt.seed = 6;
  const auto r3 = randomized_svd(sp, opt);
  CHECK(r1.embedding != r3.embedding);  // another sketch...
  CHECK((r1.embedding - r3.embedding).norm() < 1e-8 * r1.embedding.norm());  // ...same answer, same signs

  opt.dim = 0;
  CHECK_THROWS_AS(randomized_svd(sp, opt), ConfigError);
  opt.dim = 41;  // > min(40, 50)
  CHECK_THROWS_AS(randomized_svd(sp, opt), ConfigError);
  opt.dim = 40;  // l clamps to 40: exact
  const auto full = randomized_svd(sp, opt);
  CHECK(full.singular_values(0) == doctest::Approx(9.0).epsilon(1e-9));
  CHECK(full.explained_ratio == doctest::Approx(1.0).epsilon(1e-9));
  opt.dim = 4;
  opt.power_iters = -1;
  CHECK_THROWS_AS(randomized_svd(sp, opt), ConfigError);
}

TEST_CASE("text_features: documents about the same topic land closer than unrelated ones") {
  // Three topics, a few words each, plus filler words shared by all topics.
  const std::vector<std::string> docs{
      "telescope lens for star gazing, best new model",      "galaxy and star chart poster",
      "planet telescope mount with star finder",              "astronomy telescope eyepiece for planet viewing",
      "bread flour for baking, best new recipe",              "oven thermometer for baking bread",
      "cake recipe book with flour and sugar",                "baking sheet for oven and cake",
      "engine oil filter for car, best new brand",            "car wheel and tire cleaner",
      "brake pads for car wheel",                             "engine spark plug kit with brake fluid"};
  TextFeatureOptions opt;
  opt.svd.dim = 3;
  opt.svd.seed = 1;
  const TextFeatures f = text_features(docs, opt);
  REQUIRE(f.values.rows() == 12);
  REQUIRE(f.values.cols() == 3);
  CHECK(f.empty_texts == 0);
  CHECK(f.explained_variance_ratio > 0.0);
  CHECK(f.explained_variance_ratio < 1.0);
  double within = 0, across = 0;
  int nw = 0, na = 0;
  for (int i = 0; i < 12; ++i) {
    int nearest = -1;
    double best = -2;
    for (int j = 0; j < 12; ++j) {
      if (j == i) continue;
      const double c = cosine(f.values.row(i).transpose(), f.values.row(j).transpose());
      if (c > best) best = c, nearest = j;
      (i / 4 == j / 4 ? within : across) += c;
      ++(i / 4 == j / 4 ? nw : na);
    }
    CHECK_MESSAGE(nearest / 4 == i / 4, "doc ", i, " nearest ", nearest);
  }
  CHECK(within / nw > across / na + 0.5);
}

TEST_CASE("text_features: empty texts are zero rows; too large a dim or no text is a ConfigError") {
  const std::vector<std::string> docs{"red apple pie", "", "green apple tart", "...", "blue berry pie"};
  TextFeatureOptions opt;
  opt.svd.dim = 2;
  const TextFeatures f = text_features(docs, opt);
  CHECK(f.empty_texts == 2);
  CHECK(f.values.row(1).norm() == 0.0f);
  CHECK(f.values.row(3).norm() == 0.0f);
  CHECK(f.values.row(0).norm() > 0.1f);
  opt.svd.dim = 6;  // 5 texts
  CHECK_THROWS_AS(text_features(docs, opt), ConfigError);
  opt.svd.dim = 1;
  CHECK_THROWS_WITH_AS(text_features(std::vector<std::string>{"", "!"}, opt), doctest::Contains("every text is empty"),
                       ConfigError);
  opt.tfidf.buckets_log2 = 0;
  CHECK_THROWS_AS(text_features(docs, opt), ConfigError);
  opt.tfidf.buckets_log2 = 2;  // 4 buckets: collisions, still valid
  CHECK(text_features(docs, opt).buckets_used <= 4);
}

TEST_CASE("text views: title / rest split at '. ', one feature matrix per view") {
  const std::string t = "Sanding Roll 80 Grit. Industrial & Scientific Abrasives. PORTER-CABLE.";
  CHECK(text_view(t, TextView::title) == "Sanding Roll 80 Grit");
  CHECK(text_view(t, TextView::rest) == "Industrial & Scientific Abrasives. PORTER-CABLE.");
  CHECK(text_view(t, TextView::all) == t);
  CHECK(text_view("Fire Emblem: The Sacred Stones", TextView::title) == "Fire Emblem: The Sacred Stones");
  CHECK(text_view("Fire Emblem: The Sacred Stones", TextView::rest).empty());
  CHECK(parse_text_view("rest") == TextView::rest);
  CHECK_THROWS_AS(parse_text_view("body"), ConfigError);

  const std::vector<std::string> docs{"red pen. office pens. acme", "blue pen. office pens. acme",
                                      "green ink. office ink. inky", "black ink. office ink. inky"};
  TextViewOptions views;
  views.views = {TextView::title, TextView::rest};
  TextFeatureOptions opt;
  opt.svd.dim = 2;
  const auto f = text_view_features(docs, views, opt);
  REQUIRE(f.size() == 2);
  CHECK(f[0].values.rows() == 4);
  // The rest view of docs 0 and 1 is identical text: identical features.
  CHECK((f[1].values.row(0) - f[1].values.row(1)).norm() < 1e-6f);
  CHECK(cosine(f[0].values.row(0).transpose(), f[0].values.row(2).transpose()) < 0.1);  // pen vs ink titles
}

TEST_CASE("texts_by_index: item2index order, integer ids, errors") {
  std::istringstream in("item_id:token\ttext:token_seq\nB2\tsecond\nB0\tzeroth\nBX\tunused\n");
  const data::ItemText t = data::read_item_text(in, "mem.text");
  const auto r = texts_by_index(t, {"B0", "B1", "B2"});
  CHECK(r.texts == std::vector<std::string>{"zeroth", "", "second"});
  CHECK(r.missing == 1);
  CHECK(r.unmatched == 1);
  CHECK_THROWS_AS(texts_by_index(t), ConfigError);  // ASINs without a table

  std::istringstream g("item_id:token\ttitle:token_seq\n2\tc\n0\ta\n");
  const auto gi = texts_by_index(data::read_item_text(g, "mem.item"));
  CHECK(gi.texts == std::vector<std::string>{"a", "", "c"});
  CHECK(gi.missing == 1);
  std::istringstream dup("item_id:token\ttitle:token_seq\n7\ta\n07\tb\n");
  CHECK_THROWS_AS(texts_by_index(data::read_item_text(dup, "mem.item")), ConfigError);
}

TEST_CASE("write_npy round-trips through read_npy_features; atomic, 64-byte aligned header") {
  const index_t rows = 5, cols = 3;
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 3.25f;
  const std::string path = temp_path("roundtrip.npy");
  data::write_npy(path, v.data(), rows, cols);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  const auto size = std::filesystem::file_size(path);
  CHECK((size - static_cast<std::uintmax_t>(rows * cols * 4)) % 64 == 0);
  const data::FeatureMatrix fm = data::read_npy_features(path, static_cast<std::int32_t>(rows));
  REQUIRE(fm.values.shape() == Shape{rows + 1, cols});
  CHECK_FALSE(fm.had_padding_row);
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = 0; c < cols; ++c) CHECK(fm.values(r + 1, c) == v[static_cast<std::size_t>(r * cols + c)]);
  CHECK(fm.values(0, 0) == 0.0f);
  std::filesystem::remove(path);

  std::ostringstream os;
  data::write_npy(os, v.data(), rows, cols);
  std::istringstream is(os.str());
  CHECK(data::read_npy_features(is, "mem.npy", -1).values(rows, cols - 1) == v.back());
  CHECK_THROWS_AS(data::write_npy("/nonexistent-dir/x.npy", v.data(), rows, cols), IoError);
}

TEST_CASE("Scientific.text: 4,385 items, dim 64, related items are neighbours") {
  const std::string dir = std::string(METAREC_SHARED_DATA) + "/scientific/";
  const data::ItemText t = data::read_item_text(dir + "Scientific.text");
  const auto index = data::read_item2index(dir + "Scientific.item2index");
  const IndexedTexts it = texts_by_index(t, index);
  REQUIRE(it.texts.size() == 4385);
  CHECK(it.missing == 0);
  CHECK(it.unmatched == 0);
  TextFeatureOptions opt;
  opt.svd.dim = 64;
  const auto t0 = std::chrono::steady_clock::now();
  const TextFeatures f = text_features(it.texts, opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("Scientific dim 64: ", secs, " s, buckets ", f.buckets_used, ", explained ", f.explained_variance_ratio);
  REQUIRE(f.values.rows() == 4385);
  REQUIRE(f.values.cols() == 64);
  CHECK(f.empty_texts == 0);
  CHECK(f.explained_variance_ratio > 0.05);
  CHECK(f.explained_variance_ratio < 1.0);
  for (index_t j = 1; j < 64; ++j) CHECK(f.singular_values(j) <= f.singular_values(j - 1));
  // Two PORTER-CABLE sanding rolls (80 and 120 grit) versus an unrelated item.
  auto row = [&](const std::string& asin) {
    const auto p = std::find(index.begin(), index.end(), asin);
    REQUIRE(p != index.end());
    return static_cast<index_t>(p - index.begin());
  };
  const index_t a = row("B0000223SI"), b = row("B0000223SK");
  double others = 0;
  for (index_t r = 0; r < 4385; r += 97) others += cosine(f.values.row(a).transpose(), f.values.row(r).transpose());
  CHECK(cosine(f.values.row(a).transpose(), f.values.row(b).transpose()) > 0.9);
  CHECK(others / 46 < 0.3);
}
