// The Transformer encoder's block variants (nn/transformer.hpp): the default
// post-LN stack is the formula it always computed, spelled here with the
// existing ops; pre-LN blocks and the final LayerNorm compute their own
// formulas and pass finite-difference gradient checks.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/activation.hpp"
#include "metarec/autograd/ops/attention.hpp"
#include "metarec/autograd/ops/linear.hpp"
#include "metarec/autograd/ops/normalization.hpp"
#include "metarec/nn/transformer.hpp"

using namespace metarec;

namespace {

constexpr index_t B = 2, L = 4, D = 6;

nn::TransformerConfig small(bool norm_first = false, bool final_norm = false) {
  return {.d = D, .heads = 2, .inner = 10, .max_len = 5, .layers = 2, .dropout = 0.2, .attn_dropout = 0.3,
          .ln_eps = 1e-5, .init_std = 0.3, .norm_first = norm_first, .final_norm = final_norm};
}

// Left-padded: the first row has 3 real items.
const std::vector<std::uint8_t> mask{0, 1, 1, 1, 1, 1, 1, 1};

/// The encoder written out with the ops alone, reading the parameters by name.
template <class T>
struct Reference {
  nn::ParameterStore<T>& store;
  const nn::TransformerConfig& c;
  Var<T> p(Tape<T>& t, const std::string& name) { return t.param(store.at("enc." + name)); }
  Var<T> linear(Tape<T>& t, Var<T> x, const std::string& name) {
    return ops::linear(x, p(t, name + ".weight"), p(t, name + ".bias"));
  }
  Var<T> ln(Tape<T>& t, Var<T> x, const std::string& name) {
    return ops::layer_norm(x, p(t, name + ".weight"), p(t, name + ".bias"), c.ln_eps);
  }
  Var<T> attend(Tape<T>& t, Var<T> x, const std::string& b) {
    Var<T> q = linear(t, x, b + ".attn.q"), k = linear(t, x, b + ".attn.k"), v = linear(t, x, b + ".attn.v");
    ops::AttentionOptions opt{.causal = true, .key_mask = mask.data(), .dropout = c.attn_dropout};
    return linear(t, ops::attention(q, k, v, c.heads, opt), b + ".attn.out");
  }
  Var<T> ffn(Tape<T>& t, Var<T> x, const std::string& b) {
    Var<T> h = ops::dropout(ops::gelu(linear(t, x, b + ".ffn.linear1")), c.dropout);
    return linear(t, h, b + ".ffn.linear2");
  }
  Var<T> operator()(Tape<T>& t, Var<T> x) {
    x = ops::add(x, ops::slice(p(t, "pos.weight"), 0, c.max_len - L, c.max_len));
    x = ops::dropout(ln(t, x, "ln"), c.dropout);
    for (int i = 0; i < c.layers; ++i) {
      const std::string b = "block" + std::to_string(i);
      if (c.norm_first) {  // x + Drop(MHA(LN(x))); x + Drop(FFN(LN(x)))
        x = ops::add(x, ops::dropout(attend(t, ln(t, x, b + ".ln1"), b), c.dropout));
        x = ops::add(x, ops::dropout(ffn(t, ln(t, x, b + ".ln2"), b), c.dropout));
      } else {  // LN(x + Drop(MHA(x))); LN(x + Drop(FFN(x)))
        x = ln(t, ops::add(x, ops::dropout(attend(t, x, b), c.dropout)), b + ".ln1");
        x = ln(t, ops::add(x, ops::dropout(ffn(t, x, b), c.dropout)), b + ".ln2");
      }
    }
    return c.final_norm ? ln(t, x, "final_ln") : x;
  }
};

/// Encoder output and reference output on the same input, tape seed and mode. `perturb` moves every
/// parameter off its initial value, so that layers initialised alike (the LayerNorms: ones and zeros) differ
/// and using one for another shows.
template <class T>
std::pair<Tensor<T>, Tensor<T>> both(const nn::TransformerConfig& c, bool training, bool perturb = true) {
  nn::ParameterStore<T> store;
  Rng rng(17);
  nn::TransformerEncoder<T> enc(store, "enc", c, rng, /*causal=*/true);
  if (perturb)
    for (auto* p : store.all())
      for (auto& v : p->value) v += static_cast<T>(rng.uniform(-0.2, 0.2));
  Tensor<T> x({B, L, D});
  for (auto& v : x) v = static_cast<T>(rng.uniform(-1.0, 1.0));
  auto run = [&](auto&& f) {
    Tape<T> t(99);
    t.set_training(training);
    return f(t, t.leaf(x)).value().clone();
  };
  Reference<T> ref{store, c};
  return {run([&](Tape<T>& t, Var<T> v) { return enc(t, v, mask.data()); }),
          run([&](Tape<T>& t, Var<T> v) { return ref(t, v); })};
}

template <class T>
bool bit_identical(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.size())) == 0;
}

}  // namespace

TEST_CASE("TransformerEncoder: the default (post-LN, no final norm) is bit-identical to the post-LN formula") {
  const nn::TransformerConfig c = small();
  CHECK_FALSE(c.norm_first);
  CHECK_FALSE(c.final_norm);
  for (bool training : {false, true}) {  // training: the same dropout masks, drawn in the same order
    INFO("training " << training);
    auto [enc, ref] = both<float>(c, training);
    CHECK(bit_identical(enc, ref));
  }
  // The default registers no parameter it did not before (old checkpoints load as they are).
  nn::ParameterStore<float> store;
  Rng rng(1);
  nn::TransformerEncoder<float> enc(store, "enc", c, rng, true);
  CHECK(store.find("enc.final_ln.weight") == nullptr);
  CHECK(store.size() == 3 + 2 * 16);  // pos, ln (2); per block: q, k, v, out, linear1, linear2 (12) + ln1, ln2 (4)
}

TEST_CASE("TransformerEncoder: pre-LN blocks and the final LayerNorm compute their formulas") {
  for (bool final_norm : {false, true}) {
    INFO("final_norm " << final_norm);
    for (bool training : {false, true}) {
      auto [enc, ref] = both<float>(small(/*norm_first=*/true, final_norm), training);
      CHECK(bit_identical(enc, ref));
    }
  }
  // The variants are different functions of the same parameters.
  auto [post, post_ref] = both<float>(small(false, false), false);
  auto [pre, pre_ref] = both<float>(small(true, false), false);
  CHECK_FALSE(bit_identical(post, pre));
  // A final LayerNorm normalises every position: mean 0, variance ~1 (scale 1, shift 0 at init).
  auto [normed, normed_ref] = both<double>(small(true, true), false, /*perturb=*/false);
  for (index_t r = 0; r < B * L; ++r) {
    double m = 0, v = 0;
    for (index_t k = 0; k < D; ++k) m += normed[r * D + k] / D;
    for (index_t k = 0; k < D; ++k) v += (normed[r * D + k] - m) * (normed[r * D + k] - m) / D;
    CHECK(m == doctest::Approx(0.0).epsilon(1e-9));
    CHECK(v == doctest::Approx(1.0).epsilon(1e-3));
  }
}

TEST_CASE("TransformerEncoder: gradcheck of pre-LN blocks, with and without the final LayerNorm, with dropout") {
  for (bool final_norm : {false, true}) {
    INFO("final_norm " << final_norm);
    nn::ParameterStore<double> store;
    Rng rng(23);
    nn::TransformerEncoder<double> enc(store, "enc", small(true, final_norm), rng, /*causal=*/true);
    // Input gradients (gradcheck: each evaluation on a fresh tape with the same seed, same dropout masks).
    const auto r = gradcheck([&](Tape<double>& t, const std::vector<Var<double>>& in) { return enc(t, in[0], mask.data()); },
                             {random_tensor({B, L, D}, rng)});
    INFO(r.str());
    CHECK(r.max_rel_error < 1e-6);
    // Parameter gradients, the final LayerNorm's among them.
    Tensor<double> x = random_tensor({B, L, D}, rng), w = random_tensor({B, L, D}, rng);
    auto loss = [&](bool backward) {
      Tape<double> t(5);
      Var<double> y = enc(t, t.leaf(x), mask.data());
      double l = 0;
      for (index_t i = 0; i < y.value().size(); ++i) l += y.value()[i] * w[i];
      if (backward) t.backward(y, w);
      return l;
    };
    store.zero_grad();
    loss(true);
    double worst = 0;
    for (auto* p : store.all()) {
      for (index_t e = 0; e < p->value.size(); e += 3) {
        const double x0 = p->value[e], eps = 1e-6;
        p->value[e] = x0 + eps;
        const double lp = loss(false);
        p->value[e] = x0 - eps;
        const double lm = loss(false);
        p->value[e] = x0;
        const double num = (lp - lm) / (2 * eps), ana = p->grad[e];
        const double err = std::abs(num - ana) / std::max({1.0, std::abs(num), std::abs(ana)});
        if (err > 1e-6) MESSAGE(p->name << "[" << e << "]: analytic " << ana << " numeric " << num);
        worst = std::max(worst, err);
      }
    }
    CHECK(worst < 1e-6);
    if (final_norm) CHECK(store.find("enc.final_ln.weight") != nullptr);
  }
}

TEST_CASE("TransformerEncoder: attn_dropout 0 draws no attention mask, independently of hidden dropout") {
  nn::TransformerConfig c = small();
  c.attn_dropout = 0.0;
  // With attention dropout off, the training-mode output equals the reference with no attention dropout;
  // hidden dropout (0.2) still applies, so it differs from eval mode.
  auto [train_out, train_ref] = both<float>(c, true);
  auto [eval_out, eval_ref] = both<float>(c, false);
  CHECK(bit_identical(train_out, train_ref));
  CHECK_FALSE(bit_identical(train_out, eval_out));
  c.dropout = 0.0;  // both off: training mode is eval mode, bit for bit
  auto [a, a_ref] = both<float>(c, true);
  auto [b, b_ref] = both<float>(c, false);
  CHECK(bit_identical(a, b));
}
