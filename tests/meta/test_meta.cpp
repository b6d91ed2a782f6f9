#include <doctest/doctest.h>

#include "metarec/backbones/sasrec.hpp"
#include "metarec/meta/transfer.hpp"
#include "metarec/recommender/recommender.hpp"

#include <filesystem>

#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"

using namespace metarec;

namespace {

/// The ring domain of tests/fixtures/ring.hpp: steps of 1 or 2, lengths 5-10.
data::Split ring_domain(const std::string& name, std::int32_t n_items, int users, std::uint64_t seed) {
  return test::ring_split(name, n_items, users, seed);
}

using VQModel = Recommender<backbones::SASRec, quantizers::MultiHeadVQ>;

template <class Model = VQModel>
typename Model::Config tiny() {
  auto c = test::config<Model>({.d = 16, .inner = 32, .max_len = 10, .dropout = 0.1});
  if constexpr (requires { c.quantizer.codebook_size; }) {
    c.quantizer.heads = 2;
    c.quantizer.codebook_size = 16;
    c.quantizer.code_dim = 4;
  }
  return c;
}

/// The learner's own settings for a quick run: 6 meta iterations of 2 inner steps, 1 joint epoch.
template <class Policy>
config_of<Policy> quick_policy() {
  config_of<Policy> c;
  if constexpr (requires { c.iterations; }) {
    c.iterations = 6;
    c.inner_steps = 2;
  }
  if constexpr (requires { c.epochs; }) c.epochs = 1;
  return c;
}

meta::MetaConfig quick() {
  meta::MetaConfig m;
  m.batch_size = 32;
  m.finetune.epochs = 2;
  m.finetune.batch_size = 32;
  m.finetune.patience = 0;
  return m;
}

template <class Model, class Policy>
meta::TransferResult run(Model& model, const std::vector<data::Split>& sources, const data::Split& target) {
  std::vector<std::pair<int, const data::Split*>> src;
  for (auto& s : sources) src.emplace_back(model.add_domain(s.name, s.n_items), &s);
  const int t = model.add_domain(target.name, target.n_items);
  meta::MetaTransfer<Model, Policy> learner(quick(), quick_policy<Policy>());
  return learner.run(model, src, t, target);
}

/// A task over `model` with the given sources and target attached as new domains.
template <class Model>
meta::TransferTask<Model> attach_task(Model& model, const std::vector<data::Split>& sources, const data::Split& target,
                                      const meta::MetaConfig& cfg) {
  meta::TransferTask<Model> task{model, {}, {}, 0, &target, cfg};
  for (const auto& s : sources) {
    task.sources.push_back(model.add_domain(s.name, s.n_items));
    task.source_splits.push_back(&s);
  }
  task.target = model.add_domain(target.name, target.n_items);
  return task;
}

}  // namespace

TEST_CASE_TEMPLATE("meta-learners run end to end and log per-source weights", Policy, meta::SimilarityRescaled,
                   meta::FOMAML, meta::Reptile, meta::JointPretrain, meta::TargetOnly) {
  const std::vector<data::Split> sources{ring_domain("a", 40, 60, 1), ring_domain("b", 30, 60, 2)};
  const data::Split target = data::limit_training_users(ring_domain("t", 25, 60, 3), 0.5, 4);
  Recommender<backbones::SASRec, quantizers::MultiHeadVQ> model(tiny(), 5);
  const meta::TransferResult r = run<decltype(model), Policy>(model, sources, target);
  CHECK(r.method == std::string(Policy::name));
  CHECK(r.target == "t");
  CHECK(r.finetune.test.count() == static_cast<index_t>(target.test.size()));
  CHECK(std::isfinite(r.finetune.test["NDCG@10"]));
  const bool iterative = std::is_same_v<Policy, meta::SimilarityRescaled> || std::is_same_v<Policy, meta::FOMAML> ||
                         std::is_same_v<Policy, meta::Reptile>;
  // Iterative learners log every meta iteration (quick(): 6); joint pre-training one entry per epoch (1).
  const std::size_t logged = iterative ? 6u : std::is_same_v<Policy, meta::JointPretrain> ? 1u : 0u;
  CHECK(r.iterations.size() == logged);
  for (const auto& it : r.iterations) {
    REQUIRE(it.weight.size() == 2);
    CHECK(it.weight[0] + it.weight[1] == doctest::Approx(1.0));
    if constexpr (std::is_same_v<Policy, meta::SimilarityRescaled>) {
      REQUIRE(it.similarity.size() == 2);
      for (double s : it.similarity) CHECK((s >= -1.0 && s <= 1.0));
      // w = softmax(s / T): the more similar source gets the larger weight.
      CHECK((it.weight[0] >= it.weight[1]) == (it.similarity[0] >= it.similarity[1]));
    }
    if constexpr (std::is_same_v<Policy, meta::FOMAML>) CHECK(it.weight[0] == doctest::Approx(0.5));
  }
  // Source tables are trainable again after fine-tuning.
  for (auto* p : model.domain_parameters(0)) CHECK(p->trainable);
}

TEST_CASE("meta: softmax weights and cosine") {
  auto w = meta::softmax_weights({0.5, -0.5}, 0.1);
  CHECK(w[0] == doctest::Approx(1.0 / (1.0 + std::exp(-10.0))));
  std::vector<float> a{1, 0}, b{0, 1}, c{-2, 0};
  CHECK(meta::cosine(a.data(), b.data(), 2) == doctest::Approx(0.0));
  CHECK(meta::cosine(a.data(), c.data(), 2) == doctest::Approx(-1.0));
}

TEST_CASE("meta: bad input is rejected with clear errors") {
  const data::Split target = ring_domain("t", 25, 30, 3);
  Recommender<backbones::SASRec> model(tiny<Recommender<backbones::SASRec>>(), 5);
  const int t = model.add_domain("t", 25);
  meta::MetaTransfer<decltype(model), meta::SimilarityRescaled> learner(quick());
  CHECK_THROWS_WITH(learner.run(model, {}, t, target), doctest::Contains("needs at least one source domain"));
  CHECK_THROWS_WITH(learner.run(model, {{t, &target}}, t, target), doctest::Contains("cannot also be the target"));
  meta::SimilarityRescaled::Config bad;
  bad.temperature = 0;
  CHECK_THROWS_WITH_AS((meta::MetaTransfer<decltype(model), meta::SimilarityRescaled>(quick(), bad)),
                       doctest::Contains("meta.temperature"), ConfigError);
  CHECK_THROWS_WITH_AS((meta::MetaTransfer<decltype(model), meta::Reptile>(quick(), {.step = -1})),
                       doctest::Contains("meta.reptile_step"), ConfigError);
  CHECK_THROWS_WITH_AS((meta::MetaTransfer<decltype(model), meta::JointPretrain>(quick(), {.epochs = -1})),
                       doctest::Contains("meta.joint_epochs"), ConfigError);
  CHECK_THROWS_AS(data::limit_training_users(target, 0.0, 1), ConfigError);
  CHECK_THROWS_AS(data::limit_training_users(target, 1.5, 1), ConfigError);
  VQModel::Config c = tiny();
  c.quantizer.heads = 3;  // does not divide d = 16
  CHECK_THROWS_AS((VQModel(c)), ConfigError);
  c = tiny();
  c.quantizer.codebook_size = 1;
  CHECK_THROWS_AS((VQModel(c)), ConfigError);
}

#include "metarec/train/pretrained.hpp"

TEST_CASE("pretrained checkpoints: attach a new target domain; mismatched configs fail clearly") {
  const auto dir = std::filesystem::temp_directory_path() / "metarec_test_pretrained";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "pre.ckpt").string();
  using Model = Recommender<backbones::SASRec, quantizers::MultiHeadVQ>;
  Model pre(tiny(), 1);
  pre.add_domain("a", 40);
  pre.add_domain("b", 30);
  save_checkpoint(path, train::model_checkpoint(pre));
  const Checkpoint ck = load_checkpoint(path);

  Model fresh(tiny(), 2);
  fresh.add_domain("a", 40);
  fresh.add_domain("t", 25);  // new target; "b" is not attached
  const auto left = train::load_pretrained(fresh, ck);
  REQUIRE(left.size() == 1);
  CHECK(left[0] == "t");
  CHECK(fresh.parameters().at("items.a.weight").value[5] == pre.parameters().at("items.a.weight").value[5]);
  auto shared_pre = pre.shared_parameters(), shared_new = fresh.shared_parameters();
  for (std::size_t i = 0; i < shared_pre.size(); ++i) CHECK(shared_new[i]->value[0] == shared_pre[i]->value[0]);

  VQModel::Config other = tiny();
  other.model.d = 24;  // another hidden size
  Model wrong(other, 3);
  wrong.add_domain("t", 25);
  const float before = wrong.parameters().at("items.t.weight").value[1];
  CHECK_THROWS_AS(train::load_pretrained(wrong, ck), CheckpointError);
  CHECK(wrong.parameters().at("items.t.weight").value[1] == before);  // nothing half-loaded
  Model wrong_table(tiny(), 4);
  wrong_table.add_domain("a", 41);  // same domain name, another catalogue size
  CHECK_THROWS_WITH(train::load_pretrained(wrong_table, ck), doctest::Contains("items.a.weight"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("meta: source_weight lets the sources' own gradients into the meta-update") {
  const std::vector<data::Split> sources{ring_domain("a", 40, 60, 1), ring_domain("b", 30, 60, 2)};
  const data::Split target = data::limit_training_users(ring_domain("t", 25, 60, 3), 0.5, 4);
  using Model = Recommender<backbones::SASRec, quantizers::MultiHeadVQ>;
  // Shared parameter values after the meta phase alone, for a given lambda.
  auto shared_after = [&](double lambda) {
    Model model(tiny(), 5);
    meta::SimilarityRescaled::Config rc = quick_policy<meta::SimilarityRescaled>();
    rc.source_weight = lambda;
    rc.validate();
    auto task = attach_task(model, sources, target, quick());
    meta::TransferResult res;
    meta::SimilarityRescaled::pretrain(task, rc, res);
    std::vector<float> v;
    for (auto* p : model.shared_parameters())
      for (index_t e = 0; e < p->value.size(); ++e) v.push_back(p->value[e]);
    return v;
  };
  const auto plain = shared_after(0.0), again = shared_after(0.0), mixed = shared_after(1.0);
  REQUIRE(plain.size() == mixed.size());
  CHECK(plain == again);  // deterministic, so a difference below comes from lambda
  double diff = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) diff += std::abs(double(plain[i]) - double(mixed[i]));
  CHECK(diff > 1e-3);
  meta::SimilarityRescaled::Config bad;
  bad.source_weight = 1;
  bad.inner_lr = 0;
  CHECK_THROWS_WITH(bad.validate(), doctest::Contains("needs meta.inner_lr > 0"));
  bad.source_weight = -1;
  CHECK_THROWS_AS(bad.validate(), ConfigError);
}

TEST_CASE("meta: keep_best ends the meta phase on the best validated iteration") {
  // The validation curve is scripted, so which iteration wins cannot depend on the host's float
  // rounding: the test is about selection and restore, not about where training goes.
  const std::vector<data::Split> sources{ring_domain("a", 40, 60, 1), ring_domain("b", 30, 60, 2)};
  const data::Split target = data::limit_training_users(ring_domain("t", 25, 60, 3), 0.5, 4);
  using Model = Recommender<backbones::SASRec, quantizers::MultiHeadVQ>;
  for (bool keep_best : {true, false}) {
    CAPTURE(keep_best);
    Model model(tiny(), 5);
    meta::MetaConfig cfg = quick();
    meta::FOMAML::Config fc = quick_policy<meta::FOMAML>();
    fc.iterations = 12;
    cfg.eval_every = 2;
    cfg.keep_best = keep_best;
    cfg.validate();
    auto task = attach_task(model, sources, target, cfg);
    const auto shared = model.shared_parameters();
    const auto table = model.domain_parameters(task.target);
    std::vector<Parameter<float>*> meta_params = shared;
    meta_params.insert(meta_params.end(), table.begin(), table.end());
    auto values = [&] {
      std::vector<float> v;
      for (auto* p : meta_params) v.insert(v.end(), p->value.data(), p->value.data() + p->value.size());
      return v;
    };
    // Target ranks per validation: NDCG@10 peaks at the 2nd call (iteration 4) and ties at the
    // 4th; the first of equal scores is kept.
    const std::vector<index_t> ranks{6, 2, 4, 2, 8, 9};
    std::vector<std::vector<float>> seen;
    task.validate_target = [&](Model&) {
      eval::Metrics m(cfg.finetune.eval.ks);
      m.add(ranks.at(seen.size()));
      seen.push_back(values());
      return m;
    };
    meta::TransferResult res;
    meta::FOMAML::pretrain(task, fc, res);
    REQUIRE(res.meta_valid.size() == ranks.size());
    REQUIRE(seen.size() == ranks.size());
    for (std::size_t i = 0; i < ranks.size(); ++i) CHECK(res.meta_valid[i].first == 2 * int(i + 1));
    for (std::size_t i = 1; i < seen.size(); ++i) REQUIRE(seen[i] != seen[i - 1]);  // the parameters do move
    if (keep_best) {
      CHECK(res.meta_best_iteration == 4);
      CHECK(values() == seen[1]);  // exactly iteration 4's shared parameters and target table
    } else {
      CHECK(res.meta_best_iteration == 0);
      CHECK(values() == seen.back());  // no restore: the last iteration's parameters
    }
  }

  meta::MetaConfig bad = quick();
  bad.keep_best = true;  // eval_every stays 0: nothing to select on
  CHECK_THROWS_WITH(bad.validate(), doctest::Contains("needs meta.eval_every > 0"));
}
