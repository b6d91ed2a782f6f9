// Mixture-of-whitening-experts adaptor (nn/whitening_experts.hpp) and its use in MISSRec.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/mixture.hpp"
#include "metarec/data/split.hpp"
#include "metarec/multimodal/missrec_train.hpp"
#include "metarec/nn/whitening_experts.hpp"
#include "missrec/missrec_fixtures.hpp"

using namespace metarec;
using namespace metarec::multimodal;
using V = Var<double>;
using Inputs = const std::vector<V>&;
using missrec_test::features;
using missrec_test::ring_split;

namespace {

/// small_config with the mixture-of-whitening-experts adaptor.
MissrecConfig moe_config(std::vector<index_t> dims, int experts, bool prefixes = true) {
  MissrecConfig c = missrec_test::small_config(std::move(dims), prefixes);
  c.adaptor = AdaptorKind::moe;
  c.moe_experts = experts;
  return c;
}

}  // namespace

TEST_CASE("gated_sum and softplus: gradients and values") {
  Rng rng(21);
  for (auto [R, E, d] : {std::tuple{1, 1, 1}, std::tuple{4, 3, 5}, std::tuple{3, 8, 2}}) {
    auto y = random_tensor({R, E, d}, rng), g = random_tensor({R, E}, rng);
    auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::gated_sum(v[0], v[1]); }, {y, g});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    Tape<double> t;  // flat [R, E * d] experts give the same values
    auto a = ops::gated_sum(t.leaf(y), t.leaf(g)).value();
    auto b = ops::gated_sum(t.leaf(y.reshape(Shape{R, E * d})), t.leaf(g)).value();
    for (index_t j = 0; j < d; ++j) {
      double s = 0;
      for (index_t k = 0; k < E; ++k) s += g[(R - 1) * E + k] * y[((R - 1) * E + k) * d + j];
      CHECK(a[(R - 1) * d + j] == doctest::Approx(s).epsilon(1e-12));
      CHECK(b[(R - 1) * d + j] == a[(R - 1) * d + j]);
    }
  }
  Tape<double> t;
  CHECK_THROWS_AS(ops::gated_sum(t.leaf(random_tensor({2, 3, 4}, rng)), t.leaf(random_tensor({2, 2}, rng))), ShapeError);
  auto x = random_tensor({3, 7}, rng);
  x[0] = 40.0;
  x[1] = -40.0;
  auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::softplus(v[0]); }, {x});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  auto sp = ops::softplus(t.leaf(x)).value();
  CHECK(sp[0] == doctest::Approx(40.0));
  CHECK(sp[1] == doctest::Approx(std::exp(-40.0)).epsilon(1e-9));
  CHECK(sp[2] == doctest::Approx(std::log1p(std::exp(x[2]))).epsilon(1e-12));
}

TEST_CASE("whitening_experts: gradients of every tensor, both gates, with dropout, odd sizes") {
  Rng rng(22);
  struct Case { Shape x; index_t E, out; double drop; };
  for (const Case& c : {Case{{1, 1}, 1, 1, 0.0}, Case{{5, 4}, 3, 3, 0.3}, Case{{2, 3, 6}, 4, 5, 0.2},
                        Case{{3, 5}, 1, 2, 0.5}}) {
    const index_t in = c.x[-1];
    auto x = random_tensor(c.x, rng), w = random_tensor({c.E * c.out, in}, rng), b = random_tensor({c.E, in}, rng),
         g = random_tensor({c.E, in}, rng), n = random_tensor({c.E, in}, rng);
    auto det = gradcheck([&](Tape<double>&, Inputs v) {
      return nn::whitening_experts(v[0], v[1], v[2], v[3], V{}, c.drop);
    }, {x, w, b, g});
    CHECK_MESSAGE(det.max_rel_error < 1e-7, det.str());
    auto noisy = gradcheck([&](Tape<double>&, Inputs v) {
      return nn::whitening_experts(v[0], v[1], v[2], v[3], v[4], c.drop, 0.05);
    }, {x, w, b, g, n});
    CHECK_MESSAGE(noisy.max_rel_error < 1e-7, noisy.str());
    // Output keeps the leading dims.
    Tape<double> t;
    auto y = nn::whitening_experts(t.leaf(x), t.leaf(w), t.leaf(b), t.leaf(g), V{}, c.drop);
    Shape want = c.x;
    want[-1] = c.out;
    CHECK(y.shape() == want);
  }
}

TEST_CASE("whitening_experts: one expert is (x - b) W^T; E experts are the softmax-gated sum") {
  Rng rng(23);
  const index_t R = 4, in = 5, out = 3;
  auto x = random_tensor({R, in}, rng);
  {  // E = 1: the gate is 1 whatever W_g; eval mode: no dropout, no noise
    auto w = random_tensor({out, in}, rng), b = random_tensor({1, in}, rng), g = random_tensor({1, in}, rng),
         n = random_tensor({1, in}, rng);
    Tape<double> t;
    t.set_training(false);
    auto y = nn::whitening_experts(t.leaf(x), t.leaf(w), t.leaf(b), t.leaf(g), t.leaf(n), 0.4).value();
    for (index_t r = 0; r < R; ++r)
      for (index_t o = 0; o < out; ++o) {
        double s = 0;
        for (index_t i = 0; i < in; ++i) s += (x[r * in + i] - b[i]) * w[o * in + i];
        CHECK(y[r * out + o] == doctest::Approx(s).epsilon(1e-12));
      }
  }
  const index_t E = 3;
  auto w = random_tensor({E * out, in}, rng), b = random_tensor({E, in}, rng), g = random_tensor({E, in}, rng),
       n = random_tensor({E, in}, rng);
  Tape<double> t;
  t.set_training(false);
  auto y = nn::whitening_experts(t.leaf(x), t.leaf(w), t.leaf(b), t.leaf(g), t.leaf(n), 0.4).value();
  for (index_t r = 0; r < R; ++r) {
    std::vector<double> logit(E);
    double z = 0;
    for (index_t k = 0; k < E; ++k) {
      for (index_t i = 0; i < in; ++i) logit[k] += x[r * in + i] * g[k * in + i];
      z += std::exp(logit[k]);
    }
    for (index_t o = 0; o < out; ++o) {
      double s = 0;
      for (index_t k = 0; k < E; ++k) {
        double e = 0;
        for (index_t i = 0; i < in; ++i) e += (x[r * in + i] - b[k * in + i]) * w[(k * out + o) * in + i];
        s += std::exp(logit[k]) / z * e;
      }
      CHECK(y[r * out + o] == doctest::Approx(s).epsilon(1e-12));
    }
  }
  // Training mode: the noisy gate changes the output (its noise is drawn), the deterministic one only by dropout.
  Tape<double> t2(5), t3(5);
  auto det = nn::whitening_experts(t2.leaf(x), t2.leaf(w), t2.leaf(b), t2.leaf(g), V{}, 0.0).value();
  auto noisy = nn::whitening_experts(t3.leaf(x), t3.leaf(w), t3.leaf(b), t3.leaf(g), t3.leaf(n), 0.0).value();
  CHECK(max_abs_difference(det, y) < 1e-12);
  CHECK(max_abs_difference(noisy, y) > 1e-6);
  CHECK_THROWS_WITH_AS(nn::whitening_experts(t.leaf(x), t.leaf(random_tensor({7, in}, rng)), t.leaf(b), t.leaf(g), V{}, 0.0),
                       doctest::Contains("weight [7, 5]"), ShapeError);
}

TEST_CASE("WhiteningExperts module: parameters, UniSRec init, bad options") {
  Rng rng(24);
  nn::ParameterStore<float> store;
  nn::WhiteningExpertsOptions opt;
  opt.experts = 4;
  opt.noisy_gate = true;
  nn::WhiteningExperts<float> m(store, "a", 6, 3, opt, rng);
  CHECK(store.at("a.experts.weight").value.shape() == Shape{12, 6});
  CHECK(store.at("a.experts.center").value.shape() == Shape{4, 6});
  CHECK(store.at("a.gate.weight").value.shape() == Shape{4, 6});
  CHECK(store.at("a.gate.noise").value.shape() == Shape{4, 6});
  CHECK(m.in_features() == 6);
  CHECK(m.out_features() == 3);
  CHECK(store.at("a.gate.weight").value[5] == 0.0f);
  CHECK(store.at("a.experts.weight").value[5] != 0.0f);
  Tape<float> t;
  Tensor<float> x({2, 5, 6});
  for (auto& v : x) v = static_cast<float>(rng.normal());
  auto y = m(t, t.leaf(x));
  CHECK(y.shape() == Shape{2, 5, 3});
  t.backward(ops::sum(y));
  CHECK(store.at("a.experts.center").grad[0] != 0.0f);
  for (int bad : {0, -2}) {
    nn::WhiteningExpertsOptions o;
    o.experts = bad;
    CHECK_THROWS_WITH_AS(nn::WhiteningExperts<float>(store, "b", 6, 3, o, rng), doctest::Contains("experts"), ConfigError);
  }
  nn::WhiteningExpertsOptions o;
  o.dropout = 1.0;
  CHECK_THROWS_AS(nn::WhiteningExperts<float>(store, "c", 6, 3, o, rng), ConfigError);
}

TEST_CASE("MISSRec config: adaptor names and moe_experts < 1 are ConfigErrors") {
  CHECK(parse_adaptor("moe") == AdaptorKind::moe);
  CHECK(parse_adaptor("linear") == AdaptorKind::linear);
  CHECK(std::string(adaptor_name(AdaptorKind::moe)) == "moe");
  CHECK_THROWS_WITH_AS(parse_adaptor("mlp"), doctest::Contains("'mlp'"), ConfigError);
  for (int bad : {0, -1}) {
    auto c = moe_config({6}, bad);
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("moe_experts"), ConfigError);
    CHECK_THROWS_AS(MISSRec(c, 1), ConfigError);
  }
  auto c = moe_config({6}, 2);
  c.moe_dropout = 1.0;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("moe_dropout"), ConfigError);
}

TEST_CASE("checkpoint carry-over of moe adaptors: same shapes load, other widths/kinds/expert counts stay fresh") {
  Rng rng(25);
  auto cfg = moe_config({6, 4}, 3);
  cfg.moe_noisy_gate = true;
  MISSRec pre(cfg, 8);
  pre.add_domain("Games", 11, {features(11, 6, rng), features(11, 4, rng)});
  for (auto* p : pre.parameters().with_prefix("adaptor"))  // non-init values so a load is visible
    for (auto& v : p->value) v = static_cast<float>(rng.normal());
  const std::string path = (std::filesystem::temp_directory_path() / "missrec_moe_test.ckpt").string();
  save_checkpoint(path, train::model_checkpoint(pre));
  Checkpoint ck = load_checkpoint(path);
  std::filesystem::remove(path);

  // Deterministic-gate target with another image width: adaptor0 carries (its noise tensor is not needed), adaptor1 not.
  MISSRec ft(moe_config({6, 5}, 3), 9);
  ft.add_domain("Scientific", 7, {features(7, 6, rng), features(7, 5, rng)});
  CarryReport rep = load_missrec_pretrained(ft, ck);
  for (const char* name : {"adaptor0.experts.weight", "adaptor0.experts.center", "adaptor0.gate.weight"})
    CHECK(ft.parameters().at(name).value[5] == pre.parameters().at(name).value[5]);
  CHECK(ft.parameters().at("adaptor1.gate.weight").value[0] == 0.0f);
  REQUIRE(rep.skipped.size() == 3);  // adaptor1: weight, center, gate
  for (const auto& s : rep.skipped) CHECK_MESSAGE(s.find("adaptor1.experts.weight shape") != std::string::npos, s);
  CHECK(ft.parameters().at("pos.weight").value[3] == pre.parameters().at("pos.weight").value[3]);

  // Another expert count, or a linear model: nothing of the adaptors carries.
  MISSRec four(moe_config({6, 4}, 4), 10);
  four.add_domain("X", 5, {features(5, 6, rng), features(5, 4, rng)});
  CHECK(load_missrec_pretrained(four, ck).skipped.size() == 6);
  auto lin_cfg = moe_config({6, 4}, 3);
  lin_cfg.adaptor = AdaptorKind::linear;
  MISSRec lin(lin_cfg, 11);
  lin.add_domain("X", 5, {features(5, 6, rng), features(5, 4, rng)});
  rep = load_missrec_pretrained(lin, ck);
  REQUIRE(rep.skipped.size() == 4);
  CHECK(rep.skipped[0] == "adaptor0.weight (absent)");
  // A noisy-gate target of the same shapes takes all four tensors per adaptor.
  auto noisy_cfg = moe_config({6, 4}, 3);
  noisy_cfg.moe_noisy_gate = true;
  MISSRec noisy(noisy_cfg, 12);
  noisy.add_domain("X", 5, {features(5, 6, rng), features(5, 4, rng)});
  rep = load_missrec_pretrained(noisy, ck);
  CHECK(rep.skipped.empty());
  CHECK(noisy.parameters().at("adaptor1.gate.noise").value[2] == pre.parameters().at("adaptor1.gate.noise").value[2]);
}

TEST_CASE("MISSRec with moe adaptors trains: pre-training and fine-tuning losses fall") {
  Rng rng(26);
  for (bool noisy : {false, true}) {
    auto cfg = moe_config({6}, 4, false);
    cfg.dropout = cfg.attn_dropout = 0.0;
    cfg.moe_noisy_gate = noisy;
    cfg.interest_ratio = 0.3;
    MISSRec model(cfg, 7);
    auto a = ring_split("A", 12, 40, rng), b = ring_split("B", 9, 40, rng);
    const int ka = model.add_domain("A", 12, {features(12, 6, rng)});
    const int kb = model.add_domain("B", 9, {features(9, 6, rng)});
    const float gate_before = model.parameters().at("adaptor0.gate.weight").value[0];
    PretrainConfig pc;
    pc.epochs = 30;
    pc.batch_size = 16;
    pc.lr = 5e-3;
    auto hist = pretrain(model, {&a, &b}, {ka, kb}, pc, [](const PretrainEpoch&) {});
    const double first = (hist[0].loss + hist[1].loss) / 2, last = (hist[28].loss + hist[29].loss) / 2;
    MESSAGE("moe pre-training loss, noisy " << noisy << ": " << first << " -> " << last);
    CHECK_MESSAGE(last < 0.8 * first, "noisy " << noisy << ": first " << first << " last " << last);
    CHECK(model.parameters().at("adaptor0.gate.weight").value[0] != gate_before);  // the gate learns
  }
  auto s = ring_split("S", 10, 60, rng);
  auto cfg = moe_config({6, 3}, 3);
  MISSRec model(cfg, 4);
  const int k = model.add_domain("S", 10, {features(10, 6, rng), features(10, 3, rng)});
  train::TrainerConfig tc;
  tc.epochs = 4;
  tc.batch_size = 16;
  tc.patience = 0;
  auto r = finetune(model, k, s, tc, true);
  REQUIRE(r.history.size() == 4);
  MESSAGE("moe fine-tuning loss: " << r.history.front().loss << " -> " << r.history.back().loss);
  CHECK_MESSAGE(r.history.back().loss < r.history.front().loss,
                "first " << r.history.front().loss << " last " << r.history.back().loss);
  CHECK(std::isfinite(r.test["NDCG@10"]));
}
