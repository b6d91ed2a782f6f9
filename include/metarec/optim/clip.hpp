#pragma once
/// @file clip.hpp
/// Global gradient-norm clipping (Pascanu, Mikolov & Bengio, ICML 2013), as
/// torch.nn.utils.clip_grad_norm_. The squared norm is accumulated in double
/// per fixed-size span and the spans are summed in a fixed order, so the result
/// is the same bits for any thread count.
#include <string>
#include <vector>

#include "metarec/optim/optimizer.hpp"

namespace metarec::optim {

namespace detail {
/// Sum of squared gradient entries of p (only touched rows of a sparse table).
template <class T, class B = backend::Cpu>
double grad_sq_norm(const Parameter<T, B>& p) {
  thread_local std::vector<double> partial;  // grows once, reused every step
  const index_t spans = grad_span_count(p);
  if (partial.size() < static_cast<std::size_t>(spans)) partial.resize(static_cast<std::size_t>(spans));
  double* out = partial.data();
  const T* g = p.grad.data();
  for_each_grad_span(p, [=](index_t k, index_t off, index_t len) {
    out[k] = ConstArraySpan<T>(g + off, len).template cast<double>().square().sum();
  });
  double total = 0;
  for (index_t k = 0; k < spans; ++k) total += out[k];
  return total;
}
}  // namespace detail

/// Global L2 norm of the gradients of the trainable parameters (sparse tables:
/// touched rows only, unless their gradient is dense).
template <class T, class B = backend::Cpu>
double grad_norm(const std::vector<Parameter<T, B>*>& params) {
  if constexpr (!B::is_host) throw ConfigError("gradient clipping has no device path yet (backend::Cuda)");
  double sq = 0;
  for (const Parameter<T, B>* p : params)
    if (p && detail::has_gradient(*p)) sq += detail::grad_sq_norm(*p);
  return std::sqrt(sq);
}

/// Scales all gradients in place by max_norm / (norm + 1e-6) when their global
/// norm exceeds max_norm (PyTorch's coefficient). Returns the norm before
/// clipping. Throws NumericError naming the first parameter whose gradient is
/// not finite: clipping cannot repair it and the update would poison the model.
template <class T, class B = backend::Cpu>
double clip_grad_norm(const std::vector<Parameter<T, B>*>& params, double max_norm) {
  if (!(max_norm > 0 && std::isfinite(max_norm)))
    throw ConfigError("clip_grad_norm: max_norm = " + std::to_string(max_norm) + " must be finite and > 0");
  const double norm = grad_norm(params);
  if (!std::isfinite(norm)) {
    for (const Parameter<T, B>* p : params)
      if (p && detail::has_gradient(*p) && !std::isfinite(detail::grad_sq_norm(*p)))
        throw NumericError("clip_grad_norm: gradient of parameter '" + p->name + "' " + p->value.shape().str() +
                           " is not finite (norm " + std::to_string(norm) + ")");
    throw NumericError("clip_grad_norm: global gradient norm overflows (" + std::to_string(norm) + ")");
  }
  if (norm <= max_norm) return norm;
  const T coef = static_cast<T>(max_norm / (norm + 1e-6));
  for (Parameter<T, B>* p : params) {
    if (!p || !detail::has_gradient(*p)) continue;
    T* g = p->grad.data();
    detail::for_each_grad_span(*p, [=](index_t, index_t off, index_t len) {
      detail::ArraySpan<T>(g + off, len) *= coef;
    });
  }
  return norm;
}

}  // namespace metarec::optim
