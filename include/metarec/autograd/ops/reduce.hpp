#pragma once
/// @file reduce.hpp
/// Full reductions to a scalar: sum and mean (accumulated in double).
#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
template <class T>
void sum_backward(Tape<T>& t, Node<T>& n) {
  const T g = static_cast<T>(n.grad[0] * n.real[0]);
  Tensor<T>& gx = t.grad(n.in[0]);
  const index_t total = gx.size();
  METAREC_PARALLEL_FOR(total)
  for (index_t i = 0; i < total; ++i) gx[i] += g;
}
template <class T>
Var<T> reduce(const char* name, Var<T> x, double factor) {
  Tape<T>& t = *x.tape;
  const Tensor<T>& xv = x.value();
  double s = 0;
  const index_t total = xv.size();
#ifdef METAREC_WITH_OPENMP
#pragma omp parallel for reduction(+ : s) if (total >= ::metarec::parallel_grain)
#endif
  for (index_t i = 0; i < total; ++i) s += static_cast<double>(xv[i]);
  Tensor<T> y = t.alloc(Shape{});
  y[0] = static_cast<T>(s * factor);
  Var<T> out = t.record(name, y, {x}, &sum_backward<T>);
  t.node(out).real[0] = factor;
  return out;
}
}  // namespace detail

/// Sum of all elements (scalar).
template <class T>
Var<T> sum(Var<T> x) { return detail::reduce("sum", x, 1.0); }
/// Mean of all elements (scalar); 0 elements is an error.
template <class T>
Var<T> mean(Var<T> x) {
  if (x.value().size() == 0) throw ShapeError("mean: empty tensor " + x.shape().str());
  return detail::reduce("mean", x, 1.0 / static_cast<double>(x.value().size()));
}

}  // namespace metarec::ops
