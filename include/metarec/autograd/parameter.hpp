#pragma once
/// @file parameter.hpp
/// A named trainable tensor with its gradient buffer. Embedding tables can
/// track which rows a step touched (`sparse_rows`) so optimizers and
/// zero_grad visit only those rows instead of the whole table.
#include <cstdint>
#include <string>
#include <vector>

#include "metarec/autograd/backend_memory.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec {

/// B is the backend whose memory holds value and grad. Row tracking is
/// host bookkeeping fed by the CPU embedding op; on a device every gradient
/// is dense (sparse_rows is cleared), which a GPU updates in one kernel.
template <class T, class B = backend::Cpu>
struct Parameter {
  std::string name;
  TensorOf<T, B> value;
  TensorOf<T, B> grad;
  bool trainable = true;     ///< false = frozen: no gradient is computed for it.
  bool sparse_rows = false;  ///< gradient rows are tracked (embedding tables)
  std::vector<std::int32_t> touched;  ///< rows with a nonzero gradient this step (sparse_rows only)
  std::vector<std::uint8_t> row_mark;  ///< row_mark[r] != 0 iff r is in `touched`
  bool dense_grad = false;  ///< some op wrote the whole gradient this step (e.g. tied output weights)

  // Set by the tape so a parameter used twice in a step maps to one node.
  std::uint64_t tape_step = 0;
  int tape_node = -1;

  Parameter() = default;
  Parameter(std::string n, Shape s, bool sparse = false)
      : name(std::move(n)),
        value(memory<B>::template zeros<T>(s)),
        grad(memory<B>::template zeros<T>(s)),
        sparse_rows(sparse && B::is_host) {
    if (sparse_rows) row_mark.assign(static_cast<std::size_t>(s[0]), 0);
  }

  /// Marks row r as touched (sparse_rows tables only).
  void touch_row(index_t r) {
    if (!row_mark[static_cast<std::size_t>(r)]) {
      row_mark[static_cast<std::size_t>(r)] = 1;
      touched.push_back(static_cast<std::int32_t>(r));
    }
  }
  /// True when the gradient must be treated as dense (not only `touched` rows).
  bool grad_is_dense() const { return !sparse_rows || dense_grad; }

  /// Clears the gradient, visiting only touched rows when the table is sparse.
  void zero_grad() {
    if (grad_is_dense()) {
      memory<B>::zero(grad);
      for (auto r : touched) row_mark[static_cast<std::size_t>(r)] = 0;
    } else {
      const index_t d = grad.cols();
      for (auto r : touched) {
        std::fill_n(grad.data() + r * d, d, T(0));
        row_mark[static_cast<std::size_t>(r)] = 0;
      }
    }
    touched.clear();
    dense_grad = false;
  }
};

/// Copies of the values of a list of parameters: the best model so far (the
/// trainer's early stopping, keep_best) or theta before a meta inner loop.
template <class T, class B = backend::Cpu>
class ParameterSnapshot {
 public:
  void take(const std::vector<Parameter<T, B>*>& ps) {
    values_.resize(ps.size());
    for (std::size_t i = 0; i < ps.size(); ++i) {
      if (values_[i].empty() || values_[i].shape() != ps[i]->value.shape())
        values_[i] = memory<B>::template zeros<T>(ps[i]->value.shape());
      memory<B>::copy(ps[i]->value, values_[i]);
    }
  }
  /// Writes the copies back into the same list (same order, same shapes).
  void restore(const std::vector<Parameter<T, B>*>& ps) const {
    if (ps.size() != values_.size())
      throw ShapeError("ParameterSnapshot::restore: " + std::to_string(ps.size()) + " parameters, snapshot of " +
                       std::to_string(values_.size()));
    for (std::size_t i = 0; i < ps.size(); ++i) memory<B>::copy(values_[i], ps[i]->value);
  }
  const TensorOf<T, B>& operator[](std::size_t i) const { return values_[i]; }
  std::size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }

 private:
  std::vector<TensorOf<T, B>> values_;
};

}  // namespace metarec
