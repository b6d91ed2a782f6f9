#pragma once
/// @file reduce.hpp
/// Full reductions to a scalar: sum and mean (accumulated in double).
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T, class B = backend::Cpu>
void sum_backward(Tape<T, B>& t, Node<T, B>& n) {
  if constexpr (!B::is_host) {
    cuda::sum_backward(memory<B>::context(), n.grad, n.real[0], t.grad(n.in[0]));
    return;
  } else {
  const T g = static_cast<T>(n.grad[0] * n.real[0]);
  TensorOf<T, B>& gx = t.grad(n.in[0]);
  const index_t total = gx.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) gx[i] += g;
  }
}
template <class T, class B = backend::Cpu>
Var<T, B> reduce(const char* name, Var<T, B> x, double factor) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  if constexpr (!B::is_host) {
    TensorOf<T, B> y = t.alloc(Shape{});
    cuda::sum_forward(memory<B>::context(), xv, factor, y);
    Var<T, B> out = t.record(name, y, {x}, &sum_backward<T, B>);
    t.node(out).real[0] = factor;
    return out;
  } else {
  double s = 0;
  const index_t total = xv.size();
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for reduction(+ : s) if (total >= ::metarec::parallel_grain)
#endif
  for (index_t i = 0; i < total; ++i) s += static_cast<double>(xv[i]);
  TensorOf<T, B> y = t.alloc(Shape{});
  y[0] = static_cast<T>(s * factor);
  Var<T, B> out = t.record(name, y, {x}, &sum_backward<T, B>);
  t.node(out).real[0] = factor;
  return out;
  }
}
}  // namespace detail

/// Sum of all elements (scalar).
template <class T, class B = backend::Cpu>
Var<T, B> sum(Var<T, B> x) { return detail::reduce("sum", x, 1.0); }
/// Mean of all elements (scalar); 0 elements is an error.
template <class T, class B = backend::Cpu>
Var<T, B> mean(Var<T, B> x) {
  if (x.value().size() == 0) throw ShapeError("mean: empty tensor " + x.shape().str());
  return detail::reduce("mean", x, 1.0 / static_cast<double>(x.value().size()));
}

}  // namespace metarec::ops
