// A user-defined backbone plugged into metarec::Recommender with no library
// change: a first-order Markov encoder h_t = x_t + MLP(x_t) (each position
// sees only its own item). It meets the metarec::Backbone contract:
//   name, objective, its own settings `Config` (validate + visit, see
//   model/policy_config.hpp; optional), template <class T> class Model {
//   Model(store, prefix, model config, config, rng);
//   Var<T> encode(Tape<T>&, Var<T> x [B, L, d], const SequenceView&); }
// and trains with the library's trainer on a synthetic "ring" domain where the
// next item is always the current one + 1, which it must learn (exit code 1 otherwise).
#include <cstdio>

#include "metarec/autograd.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/nn/linear.hpp"
#include "metarec/train/trainer.hpp"

namespace my {

struct MarkovMLP {
  static constexpr const char* name = "markov-mlp";
  static constexpr metarec::Objective objective = metarec::Objective::next_item;

  /// The policy's own settings: the tool would offer `--hidden` from visit(), and validate() guards them.
  struct Config {
    metarec::index_t hidden = 64;  ///< MLP width
    template <class V>
    void visit(V&& v) {
      v("hidden", hidden, "markov-mlp: MLP width");
    }
    void validate(const metarec::ModelConfig&) const { metarec::check_range<metarec::index_t>("hidden", hidden, 1, 1 << 16); }
  };

  template <class T>
  class Model {
   public:
    Model(metarec::nn::ParameterStore<T>& store, const std::string& prefix, const metarec::ModelConfig& m,
          const Config& c, metarec::Rng& rng)
        : hidden_(store, prefix + ".hidden", m.d, c.hidden, rng), out_(store, prefix + ".out", c.hidden, m.d, rng) {}
    metarec::Var<T> encode(metarec::Tape<T>& t, metarec::Var<T> x, const metarec::SequenceView&) {
      return metarec::ops::add(x, out_(t, metarec::ops::relu(hidden_(t, x))));
    }

   private:
    metarec::nn::Linear<T> hidden_, out_;
  };
};

}  // namespace my

int main() {
  using namespace metarec;
  static_assert(Backbone<my::MarkovMLP>, "my::MarkovMLP satisfies the Backbone contract");
  data::Domain d;
  d.name = "ring";
  d.n_items = 30;
  Rng rng(1);
  for (int u = 0; u < 300; ++u) {
    std::vector<std::int32_t> s;
    auto item = static_cast<std::int32_t>(1 + rng.below(30));
    for (int t = 0; t < 8; ++t) s.push_back(item = item % 30 + 1);
    d.sequences.push_back(s);
  }
  const data::Split split = data::split_leave_one_out(d);
  Recommender<my::MarkovMLP>::Config cfg;
  cfg.model.d = 16;
  cfg.model.max_len = 10;
  cfg.backbone.hidden = 32;
  Recommender<my::MarkovMLP> model(cfg, 3);
  const int k = model.add_domain("ring", d.n_items);
  train::TrainerConfig tc;
  tc.epochs = 30;
  tc.batch_size = 64;
  tc.lr = 1e-2;
  tc.patience = 5;
  const train::TrainResult r = train::fit(model, k, split, tc);
  std::printf("markov-mlp on the ring: test HR@5 %.3f NDCG@10 %.3f (best epoch %d)\n", r.test["HR@5"],
              r.test["NDCG@10"], r.best_epoch);
  return r.test["HR@5"] > 0.9 ? 0 : 1;
}
