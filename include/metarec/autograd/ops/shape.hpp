#pragma once
/// @file shape.hpp
/// Shape ops. reshape is a view (no copy).
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T, class B = backend::Cpu>
void accumulate_same_order(Tape<T, B>& t, Node<T, B>& n) {
  TensorOf<T, B>& gx = t.grad(n.in[0]);
  if constexpr (!B::is_host) {
    memory<B>::add_into(n.grad, gx);
    return;
  } else {
  const index_t total = gx.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) gx[i] += n.grad[i];
  }
}
}  // namespace detail

/// Same elements, new shape (a view of the input's storage).
template <class T, class B = backend::Cpu>
Var<T, B> reshape(Var<T, B> x, Shape s) {
  return x.tape->record("reshape", x.value().reshape(s), {x}, &detail::accumulate_same_order<T, B>);
}

}  // namespace metarec::ops
