#include <doctest/doctest.h>

#include <chrono>
#include <map>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"

using namespace metarec;
using quantizers::MultiHeadVQ;

namespace {

/// The straight-through estimator made literal, for finite differences:
/// z_q = Z + const(q0 - Z0) with the assignment (codes, q0, Z0) frozen at the
/// first call. At that point its value equals MultiHeadVQ's, and its true
/// gradient is what MultiHeadVQ's straight-through gradient must be. Same
/// parameters (it wraps a MultiHeadVQ::Model), so values copy over by index.
struct FrozenVQ {
  static constexpr const char* name = "frozen-vq";
  using Config = MultiHeadVQ::Config;
  template <class T>
  class Model {
   public:
    Model(nn::ParameterStore<T>& s, const ModelConfig& c, const Config& q, Rng& rng) : inner_(s, c, q, rng), q_(q) {}
    void add_domain(int k, index_t rows) { inner_.add_domain(k, rows); }
    void add_domain(int k, index_t rows, const std::string& name) { inner_.add_domain(k, rows, name); }
    QuantizedItems<T> apply(Tape<T>& t, Var<T> table, int k) {
      const index_t R = table.shape()[0], H = inner_.heads(), K = inner_.codebook_size(), dc = inner_.code_dim(),
                    W = H * dc;
      Frozen& f = frozen_[k];
      if (f.q0.empty()) {  // freeze at the base point (eval mode: no state change)
        Tape<T> base;
        base.set_training(false);
        inner_.apply(base, base.leaf(table.value()), k);
        const Tensor<T> z0 = quantizers::head_project(base.leaf(table.value()), base.leaf(inner_.projection().value)).value();
        f.z0 = z0.clone();
        f.q0 = Tensor<T>({R, W});
        f.mask = Tensor<T>({R, W}, T(1));
        for (index_t e = 0; e < W; ++e) f.mask(0, e) = f.z0(0, e) = 0;
        const auto& codes = inner_.codes(k);
        for (index_t r = 1; r < R; ++r)
          for (index_t h = 0; h < H; ++h) {
            const index_t j = codes[static_cast<std::size_t>(h * R + r)];
            f.ids.push_back(static_cast<std::int32_t>(h * K + j));
            for (index_t e = 0; e < dc; ++e) f.q0(r, h * dc + e) = inner_.codebook().value(h, j, e);
          }
        f.offset = Tensor<T>({R, W});
        for (index_t r = 1; r < R; ++r)
          for (index_t e = 0; e < W; ++e) f.offset(r, e) = f.q0(r, e) - f.z0(r, e);
        f.z0_rows = f.z0.slice(1, R).clone();
      }
      Var<T> z = quantizers::head_project(table, t.param(inner_.projection()));
      Var<T> zq = ops::add(ops::mul(z, t.leaf(f.mask)), t.leaf(f.offset));
      Var<T> items = ops::linear(zq, t.param(inner_.output()));
      if (auto* res = inner_.residual(k)) items = ops::add(items, t.param(*res));
      if (q_.skip) {  // the table itself, padding row masked out
        Tensor<T> keep({R, table.shape()[1]}, T(1));
        for (index_t e = 0; e < table.shape()[1]; ++e) keep(0, e) = 0;
        items = ops::add(items, ops::mul(table, t.leaf(keep)));
      }
      const double n = static_cast<double>((R - 1) * W);
      Var<T> diff = ops::mul(ops::sub(z, t.leaf(f.q0)), t.leaf(f.mask));
      Var<T> aux = ops::scale(ops::sum(ops::mul(diff, diff)), q_.beta / n);
      if (!q_.ema) {
        Var<T> flat = ops::reshape(t.param(inner_.codebook()), Shape{H * K, dc});
        Var<T> picked = ops::reshape(ops::embedding(flat, f.ids.data(), Shape{(R - 1) * H}), Shape{R - 1, W});
        Var<T> e = ops::sub(picked, t.leaf(f.z0_rows));
        aux = ops::add(aux, ops::scale(ops::sum(ops::mul(e, e)), 1.0 / n));
      }
      if (q_.input_only) return {items, ops::scale(aux, q_.loss_weight), table};
      return {items, ops::scale(aux, q_.loss_weight)};
    }
    MultiHeadVQ::Model<T>& inner() { return inner_; }

   private:
    struct Frozen {
      Tensor<T> z0, q0, mask, offset, z0_rows;
      std::vector<std::int32_t> ids;
    };
    MultiHeadVQ::Model<T> inner_;
    MultiHeadVQ::Config q_;
    std::map<int, Frozen> frozen_;
  };
};

/// The test's settings in one place: model sizes, SASRec's blocks, the VQ's Config.
struct Settings {
  ModelConfig model;
  backbones::SASRec::Config backbone;
  MultiHeadVQ::Config quantizer;
  /// The Config of a SASRec recommender with quantizer Q (Q's settings are these when it is a VQ).
  template <class Q, class T = double>
  typename RecommenderType<backbones::SASRec, Q, backend::Cpu, T>::Config as() const {
    typename RecommenderType<backbones::SASRec, Q, backend::Cpu, T>::Config r{model, backbone};
    if constexpr (std::is_same_v<config_of<Q>, MultiHeadVQ::Config>) r.quantizer = quantizer;
    return r;
  }
};

Settings vq_config(bool residual, bool ema = false, bool skip = false) {
  Settings c;
  c.model.d = 6;
  c.backbone.layers = 1;
  c.backbone.heads = 2;
  c.backbone.inner = 10;
  c.model.max_len = 5;
  c.backbone.dropout = 0.1;
  c.backbone.attn_dropout = 0.1;
  c.backbone.ln_eps = 1e-5;
  c.model.init_std = 0.3;
  c.quantizer.heads = 3;
  c.quantizer.code_dim = 2;
  c.quantizer.codebook_size = 5;
  c.quantizer.dead_after = 0;
  c.quantizer.residual = residual;
  c.quantizer.ema = ema;
  c.quantizer.skip = skip;
  c.quantizer.loss_weight = 0.7;
  return c;
}

/// Analytic gradients of `loss` on model a vs. central differences of the same
/// loss on the frozen surrogate b (parameters copied from a after a's step).
/// a's state changes (data init, EMA) happen in a warm-up step first; b gets
/// a's parameters as they are when a's measured step reads them.
template <class Loss>
double compare_with_frozen(nn::ParameterStore<double>& sa, nn::ParameterStore<double>& sb, Loss&& loss, int samples) {
  {
    Tape<double> warm(11);
    loss(warm, true);
  }
  auto pa = sa.all(), pb = sb.all();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    REQUIRE(pa[i]->name == pb[i]->name);
    pb[i]->value.copy_from(pa[i]->value);
  }
  sa.zero_grad();
  double base_a = 0;
  {
    Tape<double> t(11);
    auto l = loss(t, true);
    base_a = l.value()[0];
    t.backward(l);
  }
  auto eval_b = [&] {
    Tape<double> t(11);
    return loss(t, false).value()[0];
  };
  CHECK(eval_b() == doctest::Approx(base_a).epsilon(1e-12));  // freezes b at the base point; values agree
  double worst = 0;
  Rng pick(3);
  for (std::size_t i = 0; i < pb.size(); ++i) {
    auto* p = pb[i];
    for (int s = 0; s < samples; ++s) {
      const index_t e = static_cast<index_t>(pick.below(static_cast<std::uint64_t>(p->value.size())));
      const double x0 = p->value[e], eps = 1e-6;
      p->value[e] = x0 + eps;
      const double lp = eval_b();
      p->value[e] = x0 - eps;
      const double lm = eval_b();
      p->value[e] = x0;
      const double num = (lp - lm) / (2 * eps), ana = pa[i]->grad[e];
      const double err = std::abs(num - ana) / std::max({1.0, std::abs(num), std::abs(ana)});
      if (err > 1e-6) MESSAGE(p->name << "[" << e << "]: analytic " << ana << " numeric " << num);
      worst = std::max(worst, err);
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("MultiHeadVQ: apply gradients (table, projections, codebooks, output, residual, skip) match the literal straight-through") {
  for (bool residual : {false, true})
    for (bool ema : {false, true})
      for (bool skip : {false, true}) {
        CAPTURE(residual);
        CAPTURE(ema);
        CAPTURE(skip);
        const Settings c = vq_config(residual, ema, skip);
        nn::ParameterStore<double> sa, sb;
        Rng ra(1), rb(1);
        MultiHeadVQ::Model<double> a(sa, c.model, c.quantizer, ra);
        FrozenVQ::Model<double> b(sb, c.model, c.quantizer, rb);
        const index_t R = 13;
        auto& ta = sa.add("items.0.weight", {R, c.model.d}, nn::Init::normal(0.5), ra);
        auto& tb = sb.add("items.0.weight", {R, c.model.d}, nn::Init::normal(0.5), rb);
        a.add_domain(0, R);
        b.add_domain(0, R);
        if (residual) {  // make the residual non-trivial
          Rng r(5);
          for (auto& v : a.residual(0)->value) v = r.uniform(-0.1, 0.1);
        }
        Rng wr(2);
        Tensor<double> w = random_tensor({R, c.model.d}, wr);
        for (index_t e = 0; e < c.model.d; ++e) w(0, e) = 0;
        auto loss = [&](Tape<double>& t, bool use_a) {
          QuantizedItems<double> q = use_a ? a.apply(t, t.param(ta), 0) : b.apply(t, t.param(tb), 0);
          return ops::add(ops::sum(ops::mul(q.items, t.leaf(w))), q.aux_loss);
        };
        CHECK(compare_with_frozen(sa, sb, loss, 12) < 1e-6);
        // Padding row is exactly zero.
        Tape<double> t;
        auto items = a.apply(t, t.param(ta), 0).items.value();
        for (index_t e = 0; e < c.model.d; ++e) CHECK(items(0, e) == 0.0);
        CHECK((sa.find("quantizer.codebook")->trainable == !ema));
      }
}

TEST_CASE("MultiHeadVQ in a two-domain SASRec recommender: parameter gradients of the whole loss") {
  for (auto [residual, input_only] : {std::pair{false, false}, std::pair{true, false}, std::pair{false, true}}) {
    CAPTURE(residual);
    CAPTURE(input_only);
    Settings c = vq_config(residual);
    c.quantizer.input_only = input_only;
    RecommenderType<backbones::SASRec, MultiHeadVQ, backend::Cpu, double> a(c.as<MultiHeadVQ>(), 5);
    RecommenderType<backbones::SASRec, FrozenVQ, backend::Cpu, double> b(c.as<FrozenVQ>(), 5);
    a.add_domain("toy", 7);
    a.add_domain("other", 9);
    b.add_domain("toy", 7);
    b.add_domain("other", 9);
    std::vector<std::int32_t> items{0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 1};
    std::vector<std::uint8_t> mask{0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1};
    std::vector<std::int32_t> targets{0, 2, 3, 4, 0, 0, 0, 5, 6, 7, 1, 2};
    std::vector<std::int32_t> items2{1, 8, 9, 3, 0, 0, 9, 4, 0, 2, 7, 1};
    std::vector<std::uint8_t> mask2{1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1};
    std::vector<std::int32_t> targets2{8, 9, 3, 5, 0, 0, 4, 9, 0, 7, 1, 2};
    TrainInputs in0{SequenceView{3, 4, items.data(), mask.data()}, targets.data(), nullptr};
    TrainInputs in1{SequenceView{3, 4, items2.data(), mask2.data()}, targets2.data(), nullptr};
    auto loss = [&](Tape<double>& t, bool use_a) {
      return use_a ? ops::add(a.loss(t, 0, in0), a.loss(t, 1, in1)) : ops::add(b.loss(t, 0, in0), b.loss(t, 1, in1));
    };
    CHECK(compare_with_frozen(a.parameters(), b.parameters(), loss, 4) < 1e-6);
    // Codebooks, projections and output are shared; the residual is per domain.
    if (residual) {
      CHECK(a.parameters().find("items.toy.residual") != nullptr);
      CHECK(a.parameters().find("items.other.residual") != nullptr);
      // ... and is one of the domain's own parameters (not meta-learned).
      CHECK(a.domain_parameters(0).size() == 2);
    }
    auto u = a.quantizer().usage(0, 1, 8);
    CHECK(u.items == 7);
    CHECK(u.used_fraction > 0);
    CHECK(u.perplexity >= 1.0);
    CHECK(u.perplexity <= 5.0);
  }
}

namespace {
/// d = 2, one head, identity projection, K = 2 codewords (0,0) and (10,10);
/// rows: padding, (1,0), (0,1), (9,9).
struct TinyVQ {
  Settings c;
  nn::ParameterStore<double> store;
  Rng rng{1};
  std::unique_ptr<MultiHeadVQ::Model<double>> m;
  Parameter<double>* table = nullptr;
  explicit TinyVQ(bool ema, int dead_after = 0, index_t K = 2) {
    c.model.d = 2;
    c.quantizer.heads = 1;
    c.quantizer.code_dim = 2;
    c.quantizer.codebook_size = K;
    c.quantizer.ema = ema;
    c.quantizer.decay = 0.9;
    c.quantizer.dead_after = dead_after;
    c.quantizer.data_init = false;
    m = std::make_unique<MultiHeadVQ::Model<double>>(store, c.model, c.quantizer, rng);
    auto& p = m->projection().value;
    p.zero();
    p(0, 0, 0) = p(0, 1, 1) = 1;
    auto& cb = m->codebook().value;
    cb.zero();
    for (index_t j = 1; j < K; ++j) cb(0, j, 0) = cb(0, j, 1) = 10.0 * static_cast<double>(j);
    if (ema) store.at("quantizer.ema_sum").value.copy_from(cb);
    table = &store.add("items.t.weight", {4, 2}, nn::Init::zeros(), rng);
    table->value(1, 0) = 1;
    table->value(2, 1) = 1;
    table->value(3, 0) = table->value(3, 1) = 9;
    m->add_domain(0, 4);
  }
  /// One apply; returns the auxiliary loss.
  double step(bool training = true) {
    Tape<double> t;
    t.set_training(training);
    return m->apply(t, t.param(*table), 0).aux_loss.value()[0];
  }
};
}  // namespace

TEST_CASE("MultiHeadVQ: EMA update matches a hand computation") {
  TinyVQ v(/*ema=*/true);
  const double aux = v.step();
  // Squared distances 1, 1, 2 over 3 items x 2 dims; beta only (no codebook term under EMA).
  CHECK(aux == doctest::Approx(0.25 * 4.0 / 6.0));
  CHECK(v.m->codes(0) == std::vector<std::int32_t>{-1, 0, 0, 1});
  // N = 0.9 * 1 + 0.1 * (2, 1) = (1.1, 1.0); m0 = 0.1 * (1, 1); m1 = 0.9 * (10, 10) + 0.1 * (9, 9).
  const double eps = 1e-5, total = 2.1;
  const double n0 = (1.1 + eps) / (total + 2 * eps) * total, n1 = (1.0 + eps) / (total + 2 * eps) * total;
  const auto& cb = v.m->codebook().value;
  CHECK(cb(0, 0, 0) == doctest::Approx(0.1 / n0).epsilon(1e-12));
  CHECK(cb(0, 1, 1) == doctest::Approx(9.9 / n1).epsilon(1e-12));
  CHECK(v.store.at("quantizer.ema_count").value[0] == doctest::Approx(1.1));
  // Evaluation never updates.
  const double before = cb(0, 1, 1);
  v.step(/*training=*/false);
  CHECK(cb(0, 1, 1) == before);
}

TEST_CASE("MultiHeadVQ: dead codes restart from projected rows, deterministically") {
  auto run = [](int steps) {
    TinyVQ v(/*ema=*/false, /*dead_after=*/3, /*K=*/4);  // codes 2 and 3 (at 20, 30) are never chosen
    for (int i = 0; i < steps; ++i) v.step();
    return std::make_pair(v.m->restarts(), v.m->codebook().value.clone());
  };
  auto [r2, cb2] = run(2);
  CHECK(r2 == 0);
  CHECK(cb2(0, 3, 0) == 30.0);
  auto [r3, cb3] = run(3);
  CHECK(r3 == 2);
  for (index_t j : {2, 3}) {  // each restarted code is one of the projected item rows
    const double x = cb3(0, j, 0), y = cb3(0, j, 1);
    const bool row = (x == 1 && y == 0) || (x == 0 && y == 1) || (x == 9 && y == 9);
    CHECK(row);
  }
  auto [r3b, cb3b] = run(3);
  CHECK(r3b == r3);
  for (index_t e = 0; e < cb3.size(); ++e) CHECK(cb3[e] == cb3b[e]);
  // Eval-mode applies do not count as steps.
  TinyVQ v(false, 3, 4);
  for (int i = 0; i < 5; ++i) v.step(/*training=*/false);
  CHECK(v.m->restarts() == 0);
  CHECK(v.m->training_steps() == 0);
}

TEST_CASE("MultiHeadVQ: usage statistics of a domain") {
  TinyVQ v(false);
  v.step(false);
  auto u = v.m->usage(0);
  CHECK(u.items == 3);
  CHECK(u.used_fraction == doctest::Approx(1.0));
  CHECK(u.collision_rate == doctest::Approx(2.0 / 3.0));  // rows 1 and 2 share code 0
  CHECK(u.distinct_tuples == 2);
  CHECK(v.m->usage(0, 3, 4).collision_rate == 0.0);
  CHECK_THROWS_AS(v.m->usage(1), ConfigError);
  CHECK_THROWS_AS(v.m->usage(0, 1, 9), ShapeError);
}

TEST_CASE("MultiHeadVQ: configuration errors name the field") {
  auto build = [](auto edit) {
    Settings c;
    edit(c);
    nn::ParameterStore<float> s;
    Rng r;
    MultiHeadVQ::Model<float> m(s, c.model, c.quantizer, r);
  };
  CHECK_THROWS_WITH_AS(build([](Settings& c) { c.quantizer.heads = 3; }), doctest::Contains("quantizer.heads"), ConfigError);
  CHECK_THROWS_WITH_AS(build([](Settings& c) { c.quantizer.stop_table_gradient = true; }),
                       doctest::Contains("quantizer.stop_table_gradient"), ConfigError);
  CHECK_THROWS_WITH_AS(build([](Settings& c) { c.quantizer.codebook_size = 1; }), doctest::Contains("quantizer.codebook_size"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(build([](Settings& c) { c.quantizer.beta = -0.1; }), doctest::Contains("quantizer.beta"), ConfigError);
  CHECK_THROWS_WITH_AS(build([](Settings& c) { c.quantizer.decay = 1.0; }), doctest::Contains("quantizer.decay"), ConfigError);
  CHECK_THROWS_WITH_AS(build([](Settings& c) { c.quantizer.decay = 0.0; }), doctest::Contains("quantizer.decay"), ConfigError);
  CHECK_NOTHROW(build([](Settings&) {}));
  // Through the Recommender as well.
  Settings c;
  c.quantizer.heads = 5;
  CHECK_THROWS_WITH_AS((Recommender<backbones::SASRec, MultiHeadVQ>(c.as<MultiHeadVQ, float>())),
                       doctest::Contains("does not divide d = 64"), ConfigError);
}

namespace {
/// A user-written quantizer: items = 0.5 * table, aux = 1e-3 * mean(table^2).
struct HalfScale {
  static constexpr const char* name = "half";
  template <class T>
  class Model {
   public:
    Model(nn::ParameterStore<T>& s, const ModelConfig&, Rng& rng) : gain_(&s.add("quantizer.gain", {1}, nn::Init::ones(), rng)) {}
    QuantizedItems<T> apply(Tape<T>&, Var<T> table, int) {
      return {ops::scale(table, 0.5), ops::scale(ops::mean(ops::mul(table, table)), 1e-3)};
    }

   private:
    Parameter<T>* gain_;
  };
};
}  // namespace

TEST_CASE("a user-written quantizer plugs into the Recommender and trains") {
  static_assert(Quantizer<HalfScale, double>);
  static_assert(Quantizer<MultiHeadVQ, float>);
  Settings c = vq_config(false);
  c.backbone.dropout = c.backbone.attn_dropout = 0;
  auto train = [&](auto& model) {
    model.add_domain("toy", 7);
    std::vector<std::int32_t> items{0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 1};
    std::vector<std::uint8_t> mask{0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1};
    std::vector<std::int32_t> targets{0, 2, 3, 4, 0, 0, 0, 5, 6, 7, 1, 2};
    TrainInputs in{SequenceView{3, 4, items.data(), mask.data()}, targets.data(), nullptr};
    optim::AdamConfig ac;
    ac.lr = 1e-2;
    optim::Adam<double> opt(model.parameters().all(), ac);
    Tape<double> t;
    double first = 0, last = 0;
    for (int s = 0; s < 30; ++s) {
      t.reset();
      model.parameters().zero_grad();
      auto l = model.loss(t, 0, in);
      t.backward(l);
      opt.step();
      (s == 0 ? first : last) = l.value()[0];
    }
    MESSAGE("user quantizer toy loss: " << first << " -> " << last);
    CHECK(last < first);
  };
  RecommenderType<backbones::SASRec, HalfScale, backend::Cpu, double> user(c.as<HalfScale>(), 3);
  train(user);
  RecommenderType<backbones::SASRec, MultiHeadVQ, backend::Cpu, double> vq(c.as<MultiHeadVQ>(), 3);
  train(vq);
}

TEST_CASE("MultiHeadVQ: stop_table_gradient leaves the table only its skip gradient; projections still learn") {
  Settings c = vq_config(false, false, true);
  c.quantizer.stop_table_gradient = true;
  nn::ParameterStore<double> s;
  Rng r(1);
  MultiHeadVQ::Model<double> q(s, c.model, c.quantizer, r);
  const index_t R = 9;
  auto& table = s.add("items.0.weight", {R, c.model.d}, nn::Init::normal(0.5), r);
  q.add_domain(0, R);
  Rng wr(2);
  Tensor<double> w = random_tensor({R, c.model.d}, wr);
  Tape<double> t(3);
  QuantizedItems<double> out = q.apply(t, t.param(table), 0);
  auto loss = ops::add(ops::sum(ops::mul(out.items, t.leaf(w))), out.aux_loss);
  s.zero_grad();
  t.backward(loss);
  for (index_t e = 0; e < c.model.d; ++e) CHECK(table.grad(0, e) == 0.0);  // padding row
  for (index_t i = 1; i < R; ++i)
    for (index_t e = 0; e < c.model.d; ++e) CHECK(table.grad(i, e) == doctest::Approx(w(i, e)).epsilon(1e-12));
  double proj_norm = 0;
  for (double g : q.projection().grad) proj_norm += g * g;
  CHECK(proj_norm > 0);
}

TEST_CASE("MultiHeadVQ input_only: the encoder reads quantized items, outputs are scored against the table rows") {
  Settings c = vq_config(false);
  c.backbone.dropout = c.backbone.attn_dropout = 0;
  c.quantizer.input_only = true;
  RecommenderType<backbones::SASRec, MultiHeadVQ, backend::Cpu, double> m(c.as<MultiHeadVQ>(), 3);
  m.add_domain("toy", 7);
  Tape<double> t;
  // Scoring matrix = the item table itself (rows 0..n), not the quantized rows.
  const Tensor<double> E = m.item_matrix(t, 0);
  REQUIRE(E.rows() == 8);
  for (index_t i = 0; i < 8; ++i)
    for (index_t e = 0; e < c.model.d; ++e) CHECK(E(i, e) == m.item_table(0).value(i, e));
  t.reset();
  QuantizedItems<double> q = m.items(t, 0);
  REQUIRE(q.scoring.valid());
  double diff = 0;
  for (index_t i = 1; i < 8; ++i)
    for (index_t e = 0; e < c.model.d; ++e) diff += std::abs(q.items.value()(i, e) - E(i, e));
  CHECK(diff > 1e-3);  // the input side is quantized
  // Two items whose rows share every code get identical inputs (their scores use their own rows, checked above).
  const auto& codes = m.quantizer().codes(0);
  const index_t R = 9, H = m.quantizer().heads();
  for (index_t a = 1; a < R - 1; ++a)
    for (index_t b = a + 1; b < R - 1; ++b) {
      bool same = true;
      for (index_t h = 0; h < H; ++h) same = same && codes[static_cast<std::size_t>(h * R + a)] == codes[static_cast<std::size_t>(h * R + b)];
      if (!same) continue;
      for (index_t e = 0; e < c.model.d; ++e) CHECK(q.items.value()(a, e) == doctest::Approx(q.items.value()(b, e)));
    }
  // With stop_table_gradient the table learns from the scoring side only (allowed with input_only).
  Settings s = c;
  s.quantizer.stop_table_gradient = true;
  CHECK_NOTHROW((RecommenderType<backbones::SASRec, MultiHeadVQ, backend::Cpu, double>(s.as<MultiHeadVQ>(), 3)));
}
