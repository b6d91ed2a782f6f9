// Must NOT compile: this model has everything train::fit uses except loss().
// The model contract's static_assert must name the missing member (checked by ctest).
#include <span>

#include "metarec/model/contract.hpp"
#include "metarec/train/trainer.hpp"

struct NoLoss {
  using Scalar = float;
  static constexpr metarec::Objective objective = metarec::Objective::next_item;
  struct Sizes {
    metarec::index_t d = 8, max_len = 4;
    double mask_prob = 0.2;
  };
  metarec::nn::ParameterStore<float>& parameters() { return store; }
  const metarec::DomainInfo& domain(int) const { return info; }
  const Sizes& config() const { return sizes; }
  void user_representations(metarec::Tape<float>&, int, std::span<const std::span<const std::int32_t>>,
                            const metarec::Tensor<float>&) {}
  metarec::Tensor<float> item_matrix(metarec::Tape<float>&, int) { return {}; }

  metarec::nn::ParameterStore<float> store;
  metarec::DomainInfo info{"d", 3, "items.d.weight"};
  Sizes sizes;
};

int main() {
  NoLoss model;
  metarec::data::Split split;
  metarec::train::fit(model, 0, split, metarec::train::TrainerConfig{});
  return 0;
}
