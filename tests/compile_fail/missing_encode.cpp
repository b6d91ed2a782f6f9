// Must NOT compile: this backbone policy has no encode(). The Recommender's
// static_assert must name the missing member (checked by ctest).
#include "metarec/backbones/sasrec.hpp"
#include "metarec/recommender/recommender.hpp"

struct NoEncode {
  static constexpr const char* name = "no-encode";
  static constexpr metarec::Objective objective = metarec::Objective::next_item;
  template <class T>
  struct Model {
    Model(metarec::nn::ParameterStore<T>&, const std::string&, const metarec::ModelConfig&, metarec::Rng&) {}
  };
};

int main() {
  metarec::Recommender<NoEncode> model(metarec::ModelConfig{});
  return 0;
}
