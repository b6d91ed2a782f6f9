#pragma once
/// @file embedding.hpp
/// Lookup table `<name>.weight` [num, dim]. By default its gradient is
/// row-sparse: a step touches only the looked-up rows, and the optimizer and
/// zero_grad visit only those (an item table can have tens of thousands of rows).
#include <algorithm>
#include <cstdint>
#include <string>

#include "metarec/autograd/ops/embedding.hpp"
#include "metarec/nn/parameter_store.hpp"

namespace metarec::nn {

template <class T, class B = backend::Cpu>
class Embedding {
 public:
  Embedding() = default;
  /// Registers `<name>.weight` [num, dim] filled by `init` (N(0, 0.02) by default).
  Embedding(ParameterStore<T, B>& store, const std::string& name, index_t num, index_t dim, Rng& rng,
            Init init = Init::normal(0.02), bool sparse = true) {
    if (num < 1 || dim < 1)
      throw ConfigError("Embedding '" + name + "': num = " + std::to_string(num) + " and dim = " +
                        std::to_string(dim) + " must both be >= 1");
    weight_ = &store.add(name + ".weight", {num, dim}, init, rng, sparse);
  }
  /// Rows `ids` (borrowed until backward) -> ids_shape + [dim]; rows equal to
  /// padding_idx receive no gradient.
  Var<T, B> operator()(Tape<T, B>& tape, const std::int32_t* ids, Shape ids_shape, std::int32_t padding_idx = -1) const {
    return ops::embedding(tape.param(*weight_), ids, ids_shape, padding_idx);
  }
  Parameter<T, B>& weight() const { return *weight_; }
  index_t num_embeddings() const { return weight_->value.dim(0); }
  index_t embedding_dim() const { return weight_->value.dim(1); }
  /// Sets row r to zero (PyTorch zero-initialises the padding row).
  void zero_row(index_t r) const {
    check_range("Embedding::zero_row row", r, index_t(0), num_embeddings() - 1);
    memory<B>::zero(weight_->value.slice(r, r + 1));
  }

 private:
  Parameter<T, B>* weight_ = nullptr;
};

}  // namespace metarec::nn
