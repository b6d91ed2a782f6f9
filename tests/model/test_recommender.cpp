#include <doctest/doctest.h>

#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/evaluate.hpp"
#include "fixtures/small_config.hpp"

using namespace metarec;

namespace {

test::Sizes small_sizes(double dropout = 0.1) {
  return {.d = 6, .layers = 2, .heads = 2, .inner = 10, .max_len = 5, .dropout = dropout, .ln_eps = 1e-5, .init_std = 0.3};
}
template <class Model>
typename Model::Config small_config(double dropout = 0.1) {
  return test::config<Model>(small_sizes(dropout));
}

struct Batch {
  std::vector<std::int32_t> items, targets, negatives;
  std::vector<std::uint8_t> mask;
  std::vector<std::int32_t> shared{3, 6, 3, 1};  // 3 twice; hits of the targets 3, 6 and 1
  std::vector<double> log_q{0.5, -0.2, 0.5, 1.0};
  // K = 4 draws per sequence (NegativeScope::sequence): hits and repeats within and across rows.
  std::vector<std::int32_t> per_sequence{3, 6, 3, 1, 7, 2, 2, 5, 4, 6, 1, 7};
  std::vector<double> per_sequence_log_q{0.5, -0.2, 0.5, 1.0, 0.1, -0.4, -0.4, 0.2, 0.0, -0.2, 1.0, 0.1};
  TrainInputs inputs(index_t B, index_t L, NegativeScope scope = NegativeScope::batch) {
    TrainInputs in{SequenceView{B, L, items.data(), mask.data()}, targets.data(),
                   negatives.empty() ? nullptr : negatives.data()};
    const bool seq = scope == NegativeScope::sequence;
    in.shared_negatives = seq ? per_sequence.data() : shared.data();
    in.n_shared = 4;
    in.shared_scope = scope;
    in.log_q = seq ? per_sequence_log_q.data() : log_q.data();
    return in;
  }
};

// Left-padded batch of 3 rows, length 4; one row has a single item.
Batch make_batch(std::int32_t mask_token = 0) {
  Batch b;
  b.items = {0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 1};
  b.mask = {0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1};
  b.targets = {0, 2, 3, 4, 0, 0, 0, 5, 6, 7, 1, 2};
  if (mask_token) {  // cloze: some inputs replaced by [MASK], targets only there
    b.targets = {0, 0, 2, 0, 0, 0, 0, 4, 0, 6, 0, 0};
    b.items[2] = b.items[7] = b.items[9] = mask_token;
  }
  b.negatives = {0, 5, 6, 7, 0, 0, 0, 1, 2, 3, 4, 5};
  return b;
}

/// Compares Parameter::grad with central differences on a sample of entries
/// of every parameter (double precision).
template <class Model>
double max_param_grad_error(Model& model, int dom, Batch& batch, LossKind kind,
                            NegativeScope scope = NegativeScope::batch) {
  auto in = batch.inputs(3, 4, scope);
  auto loss_at = [&](bool backward) {
    Tape<double> tape(11);  // same seed: same dropout masks every evaluation
    auto l = model.loss(tape, dom, in, kind);
    if (backward) tape.backward(l);
    return l.value()[0];
  };
  model.parameters().zero_grad();
  loss_at(true);
  double worst = 0;
  Rng pick(3);
  for (auto* p : model.parameters().all()) {
    const Tensor<double> g = p->grad.clone();
    for (int s = 0; s < 4; ++s) {
      const index_t e = static_cast<index_t>(pick.below(static_cast<std::uint64_t>(p->value.size())));
      const double x0 = p->value[e], eps = 1e-6;
      p->value[e] = x0 + eps;
      const double lp = loss_at(false);
      p->value[e] = x0 - eps;
      const double lm = loss_at(false);
      p->value[e] = x0;
      const double num = (lp - lm) / (2 * eps);
      const double err = std::abs(num - g[e]) / std::max({1.0, std::abs(num), std::abs(g[e])});
      if (err > worst) {
        worst = err;
        if (err > 1e-5) MESSAGE(p->name << "[" << e << "]: analytic " << g[e] << " numeric " << num);
      }
    }
  }
  return worst;
}

}  // namespace

TEST_CASE_TEMPLATE("recommender: parameter gradients match finite differences", Policy, backbones::SASRec,
                   backbones::GRU4Rec) {
  using M = RecommenderType<Policy, quantizers::Identity, backend::Cpu, double>;
  M model(small_config<M>(), 5);
  const int dom = model.add_domain("toy", 7);
  auto batch = make_batch();
  CHECK(max_param_grad_error(model, dom, batch, LossKind::ce) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::bce) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::bpr) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::sampled_softmax) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::gbce) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::sampled_softmax, NegativeScope::sequence) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::gbce, NegativeScope::sequence) < 1e-5);
}

TEST_CASE("recommender: K draws per sequence read each sequence's own draws") {
  using M = RecommenderType<backbones::SASRec, quantizers::Identity, backend::Cpu, double>;
  M model(small_config<M>(0.0), 5);
  const int dom = model.add_domain("toy", 7);
  auto batch = make_batch();
  auto loss_of = [&](NegativeScope scope) {
    Tape<double> tape(11);
    return model.loss(tape, dom, batch.inputs(3, 4, scope), LossKind::sampled_softmax).value()[0];
  };
  const double shared = loss_of(NegativeScope::batch);
  // Every sequence drawing the batch's K items: the batch-shared loss (to rounding: one GEMM per sequence).
  const auto own = batch.per_sequence;
  const auto own_q = batch.per_sequence_log_q;
  for (std::size_t j = 0; j < own.size(); ++j) {
    batch.per_sequence[j] = batch.shared[j % 4];
    batch.per_sequence_log_q[j] = batch.log_q[j % 4];
  }
  CHECK(loss_of(NegativeScope::sequence) == doctest::Approx(shared).epsilon(1e-13));
  // Other draws for the last sequence alone move the loss.
  for (std::size_t j = 8; j < 12; ++j) batch.per_sequence[j] = own[j], batch.per_sequence_log_q[j] = own_q[j];
  CHECK(std::abs(loss_of(NegativeScope::sequence) - shared) > 1e-6);
}

TEST_CASE_TEMPLATE("recommender: item dropout, parameter gradients and what it drops", Policy, backbones::SASRec,
                   backbones::GRU4Rec) {
  using M = RecommenderType<Policy, quantizers::Identity, backend::Cpu, double>;
  typename M::Config c = small_config<M>(0.0);
  c.model.item_dropout = 0.3;
  M model(c, 5);
  const int dom = model.add_domain("toy", 7);
  auto batch = make_batch();
  CHECK(max_param_grad_error(model, dom, batch, LossKind::ce) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::sampled_softmax, NegativeScope::sequence) < 1e-5);
  // Training draws a mask (the loss moves against the same model without item dropout); evaluation
  // (no training flag) does not.
  typename M::Config c0 = c;
  c0.model.item_dropout = 0.0;
  M plain(c0, 5);
  (void)plain.add_domain("toy", 7);
  auto loss_of = [&](M& m, bool training) {
    Tape<double> tape(11);
    tape.set_training(training);
    return m.loss(tape, dom, batch.inputs(3, 4), LossKind::ce).value()[0];
  };
  CHECK(std::abs(loss_of(model, true) - loss_of(plain, true)) > 1e-6);
  CHECK(loss_of(model, false) == loss_of(plain, false));
  M sparse(c, 5);
  sparse.set_sparse_item_tables(true);
  (void)sparse.add_domain("toy", 7);
  CHECK_THROWS_WITH_AS(loss_of(sparse, true), doctest::Contains("cannot be combined with sparse item tables"), ConfigError);
  c.model.item_dropout = 1.0;
  CHECK_THROWS_WITH_AS(c.model.validate(), doctest::Contains("item_dropout = 1"), ConfigError);
}

TEST_CASE("recommender: BERT4Rec cloze loss gradients") {
  using M = RecommenderType<backbones::BERT4Rec, quantizers::Identity, backend::Cpu, double>;
  M model(small_config<M>(), 5);
  const int dom = model.add_domain("toy", 7);
  auto batch = make_batch(/*mask_token=*/8);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::ce) < 1e-5);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::sampled_softmax, NegativeScope::sequence) < 1e-5);
}

TEST_CASE_TEMPLATE("recommender: pre-LN blocks with a final LayerNorm, parameter gradients", Policy,
                   backbones::SASRec, backbones::BERT4Rec) {
  using M = RecommenderType<Policy, quantizers::Identity, backend::Cpu, double>;
  typename M::Config c = small_config<M>();
  c.backbone.norm_first = true;
  c.backbone.final_norm = true;
  M model(c, 5);
  const int dom = model.add_domain("toy", 7);
  CHECK(model.parameters().find("backbone.final_ln.weight") != nullptr);
  const bool cloze = Policy::objective == Objective::cloze;
  auto batch = make_batch(cloze ? 8 : 0);
  CHECK(max_param_grad_error(model, dom, batch, LossKind::ce) < 1e-5);
  if (!cloze) CHECK(max_param_grad_error(model, dom, batch, LossKind::sampled_softmax) < 1e-5);
}

TEST_CASE("recommender: user representations ignore padding and the trimmed window") {
  const auto c = small_config<Recommender<backbones::SASRec>>(0).model;
  Recommender<backbones::SASRec> model(small_config<Recommender<backbones::SASRec>>(0), 1);
  const int dom = model.add_domain("toy", 9);
  Tape<float> tape;
  std::vector<std::int32_t> a{1, 2, 3}, b{4, 5, 6, 7, 8, 9, 1, 2};  // b longer than max_len
  std::vector<std::span<const std::int32_t>> both{a, b}, only_a{a};
  Tensor<float> u2({2, c.d}), u1({1, c.d});
  model.user_representations(tape, dom, both, u2);
  model.user_representations(tape, dom, only_a, u1);
  for (index_t j = 0; j < c.d; ++j) CHECK(u2(0, j) == doctest::Approx(u1(0, j)).epsilon(1e-5));
  std::vector<std::int32_t> bad{1, 10};
  std::vector<std::span<const std::int32_t>> with_bad{bad};
  CHECK_THROWS_AS(model.user_representations(tape, dom, with_bad, u1), ShapeError);
}

TEST_CASE_TEMPLATE("user_matrix batches by history length and returns rows in the set's order", Policy,
                   backbones::GRU4Rec, backbones::SASRec) {
  const auto c = small_config<Recommender<Policy>>(0).model;
  Recommender<Policy> model(small_config<Recommender<Policy>>(0), 2);
  const int dom = model.add_domain("toy", 9);
  data::EvalSet set;
  set.histories = {{1, 2, 3, 4, 5}, {6}, {7, 8}, {9, 1, 2, 3, 4, 5, 6}, {2}, {3, 4, 5}};
  for (std::size_t i = 0; i < set.histories.size(); ++i) {
    set.users.push_back(static_cast<std::int32_t>(i));
    set.targets.push_back(1);
  }
  Tape<float> tape;
  const Tensor<float> U = train::user_matrix(model, tape, dom, set, /*batch_users=*/4);
  REQUIRE(U.rows() == 6);
  Tensor<float> one({1, c.d});
  for (std::size_t i = 0; i < set.histories.size(); ++i) {
    std::vector<std::span<const std::int32_t>> h{set.histories[i]};
    model.user_representations(tape, dom, h, one);
    for (index_t j = 0; j < c.d; ++j) CHECK(U(static_cast<index_t>(i), j) == doctest::Approx(one(0, j)).epsilon(1e-5));
  }
}

TEST_CASE("recommender: configuration errors") {
  auto c = small_config<Recommender<backbones::SASRec>>();
  c.backbone.heads = 4;  // does not divide d = 6
  CHECK_THROWS_WITH([&] { Recommender<backbones::SASRec> m(c); }(), doctest::Contains("heads = 4 does not divide d = 6"));
  c.backbone.heads = 2;
  c.model.d = 0;
  CHECK_THROWS_WITH([&] { Recommender<backbones::SASRec> m(c); }(), doctest::Contains("d = 0 is out of range"));
  auto g = small_config<Recommender<backbones::GRU4Rec>>();
  g.backbone.hidden = -1;
  CHECK_THROWS_WITH([&] { Recommender<backbones::GRU4Rec> m(g); }(), doctest::Contains("gru_hidden"));
  auto b = small_config<Recommender<backbones::BERT4Rec>>();
  b.backbone.mask_prob = 1.5;
  CHECK_THROWS_WITH([&] { Recommender<backbones::BERT4Rec> m(b); }(), doctest::Contains("mask_prob"));
  Recommender<backbones::SASRec> ok(small_config<Recommender<backbones::SASRec>>());
  ok.add_domain("a", 3);
  CHECK_THROWS_AS(ok.add_domain("a", 3), ConfigError);
  CHECK_THROWS_AS(ok.add_domain("b", 0), ConfigError);
}

namespace {
/// A user-written policy: SASRec's padded path only (no encode_packed).
struct PaddedSASRec {
  static constexpr const char* name = "padded-sasrec";
  static constexpr Objective objective = Objective::next_item;
  template <class T>
  class Model {
   public:
    Model(nn::ParameterStore<T>& store, const std::string& prefix, const ModelConfig& m, Rng& rng)
        : inner_(store, prefix, m, settings(), rng) {}
    /// The test's sizes, fixed here: a policy without a Config of its own.
    static backbones::SASRec::Config settings() { return test::config<Recommender<backbones::SASRec>>(small_sizes(0)).backbone; }
    Var<T> encode(Tape<T>& t, Var<T> x, const SequenceView& s) { return inner_.encode(t, x, s); }

   private:
    backbones::SASRec::Model<T> inner_;
  };
};
}  // namespace

TEST_CASE("recommender: packed and padded layouts give the same loss and gradients") {
  static_assert(Backbone<PaddedSASRec, double>);
  static_assert(!concepts::HasPackedEncode<PaddedSASRec, double>);
  static_assert(concepts::HasPackedEncode<backbones::SASRec, double>);
  const auto cs = small_config<RecommenderType<backbones::SASRec, quantizers::Identity, backend::Cpu, double>>(0);
  const ModelConfig c = cs.model;
  RecommenderType<backbones::SASRec, quantizers::Identity, backend::Cpu, double> packed(cs, 9);
  RecommenderType<PaddedSASRec, quantizers::Identity, backend::Cpu, double> padded(c, 9);
  const int d1 = packed.add_domain("toy", 7), d2 = padded.add_domain("toy", 7);
  auto batch = make_batch();
  Tape<double> t1, t2;
  auto l1 = packed.loss(t1, d1, batch.inputs(3, 4));
  auto l2 = padded.loss(t2, d2, batch.inputs(3, 4));
  CHECK(l1.value()[0] == doctest::Approx(l2.value()[0]).epsilon(1e-12));
  t1.backward(l1);
  t2.backward(l2);
  auto p1 = packed.parameters().all(), p2 = padded.parameters().all();
  REQUIRE(p1.size() == p2.size());
  for (std::size_t i = 0; i < p1.size(); ++i)
    for (index_t e = 0; e < p1[i]->grad.size(); ++e)
      REQUIRE(p1[i]->grad[e] == doctest::Approx(p2[i]->grad[e]).epsilon(1e-10));
  // Inference representations agree too.
  std::vector<std::int32_t> a{1, 2, 3}, b{4, 5};
  std::vector<std::span<const std::int32_t>> hs{a, b};
  Tensor<double> u1({2, c.d}), u2({2, c.d});
  packed.user_representations(t1, d1, hs, u1);
  padded.user_representations(t2, d2, hs, u2);
  for (index_t e = 0; e < u1.size(); ++e) CHECK(u1[e] == doctest::Approx(u2[e]).epsilon(1e-12));
}
