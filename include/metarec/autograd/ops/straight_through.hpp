#pragma once
/// @file straight_through.hpp
/// Straight-through estimator (VQ-VAE, van den Oord et al. 2017, "Neural
/// Discrete Representation Learning"): the forward value is the quantized
/// z_q, the backward pass copies the gradient unchanged to the encoder output
/// z_e and sends none to z_q, i.e. z_e + sg(z_q - z_e) without the arithmetic.
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T, class B = backend::Cpu>
void straight_through_backward(Tape<T, B>& t, Node<T, B>& n) {
  if (!t.wants_grad(n.in[0])) return;
  if constexpr (!B::is_host) {
    memory<B>::add_into(n.grad, t.grad(n.in[0]));
  } else {
    T* g = t.grad(n.in[0]).data();
    const index_t total = n.grad.size();
    METAREC_PARALLEL_FOR(total)
    for (index_t i = 0; i < total; ++i) g[i] += n.grad[i];
  }
}
}  // namespace detail

/// Value z_q; gradient passed to z_e only. Shapes must match.
template <class T, class B = backend::Cpu>
Var<T, B> straight_through(Var<T, B> z_e, Var<T, B> z_q) {
  expect_shape("straight_through", "z_q", z_q.shape(), z_e.shape());
  Tape<T, B>& t = *z_e.tape;
  // The value aliases z_q's storage (values on the tape are never modified);
  // z_q is not an input of the node, so no gradient can reach it through here.
  return t.record("straight_through", z_q.value(), {z_e}, &detail::straight_through_backward<T, B>);
}

}  // namespace metarec::ops
