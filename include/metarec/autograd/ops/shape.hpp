#pragma once
/// @file shape.hpp
/// Shape ops. reshape is a view (no copy).
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T>
void accumulate_same_order(Tape<T>& t, Node<T>& n) {
  Tensor<T>& gx = t.grad(n.in[0]);
  const index_t total = gx.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) gx[i] += n.grad[i];
}
}  // namespace detail

/// Same elements, new shape (a view of the input's storage).
template <class T>
Var<T> reshape(Var<T> x, Shape s) {
  return x.tape->record("reshape", x.value().reshape(s), {x}, &detail::accumulate_same_order<T>);
}

}  // namespace metarec::ops
