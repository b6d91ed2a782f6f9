#pragma once
/// @file clip.hpp
/// Global gradient-norm clipping (Pascanu, Mikolov & Bengio, ICML 2013), as
/// torch.nn.utils.clip_grad_norm_. The squared norm is accumulated in double
/// per fixed-size span and the spans are summed in a fixed order, so the result
/// is the same bits for any thread count. On backend::Cuda each gradient's
/// squared norm is summed in double by fixed per-block partials
/// (cuda::sum_squares: the same bits every run, not the host's bits) and the
/// scale runs in place on the device; device gradients are dense.
#include <string>
#include <vector>

#include "metarec/cuda/ops_losses.hpp"
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
  for_each_grad_span(p, [=](index_t k, index_t off, index_t len) {  // Eigen: vectorised squares and sums
    out[k] = ConstArraySpan<T>(g + off, len).template cast<double>().square().sum();
  });
  double total = 0;
  for (index_t k = 0; k < spans; ++k) total += out[k];
  return total;
}
/// Device: the squared gradient norm of every parameter (0 where has_gradient
/// is false), from one cuda::sum_squares over the (dense) device gradients.
template <class T, class B>
std::vector<double> device_grad_sq_norms(const std::vector<Parameter<T, B>*>& params) {
  static_assert(!B::is_host, "the host sums with grad_sq_norm");
  std::vector<double> sq(params.size(), 0.0);
  std::vector<TensorOf<T, B>> grads;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < params.size(); ++i)
    if (params[i] && has_gradient(*params[i])) grads.push_back(params[i]->grad), which.push_back(i);
  const std::vector<double> s = cuda::sum_squares(memory<B>::context(), grads);
  for (std::size_t j = 0; j < which.size(); ++j) sq[which[j]] = s[j];
  return sq;
}
}  // namespace detail

/// Global L2 norm of the gradients of the trainable parameters (sparse tables:
/// touched rows only, unless their gradient is dense).
template <class T, class B = backend::Cpu>
double grad_norm(const std::vector<Parameter<T, B>*>& params) {
  if constexpr (!B::is_host) {
    double sq = 0;
    for (double v : detail::device_grad_sq_norms(params)) sq += v;  // parameter order, as the host
    return std::sqrt(sq);
  } else {
    double sq = 0;
    for (const Parameter<T, B>* p : params)
      if (p && detail::has_gradient(*p)) sq += detail::grad_sq_norm(*p);
    return std::sqrt(sq);
  }
}

/// Scales all gradients in place by max_norm / (norm + 1e-6) when their global
/// norm exceeds max_norm (PyTorch's coefficient). Returns the norm before
/// clipping. Throws NumericError naming the first parameter whose gradient is
/// not finite: clipping cannot repair it and the update would poison the model.
template <class T, class B = backend::Cpu>
double clip_grad_norm(const std::vector<Parameter<T, B>*>& params, double max_norm) {
  if (!(max_norm > 0 && std::isfinite(max_norm)))
    throw ConfigError("clip_grad_norm: max_norm = " + std::to_string(max_norm) + " must be finite and > 0");
  if constexpr (!B::is_host) {
    const std::vector<double> sq = detail::device_grad_sq_norms(params);  // one pass, one copy to the host
    double total = 0;
    for (double v : sq) total += v;
    const double norm = std::sqrt(total);
    if (!std::isfinite(norm)) {
      for (std::size_t i = 0; i < params.size(); ++i)
        if (!std::isfinite(sq[i]))
          throw NumericError("clip_grad_norm: gradient of parameter '" + params[i]->name + "' " +
                             params[i]->value.shape().str() + " is not finite (norm " + std::to_string(norm) + ")");
      throw NumericError("clip_grad_norm: global gradient norm overflows (" + std::to_string(norm) + ")");
    }
    if (norm <= max_norm) return norm;
    const double coef = max_norm / (norm + 1e-6);  // cast to T in the kernel's glue, as the host's coefficient
    for (Parameter<T, B>* p : params)
      if (p && detail::has_gradient(*p)) cuda::scale_in_place(memory<B>::context(), p->grad, coef);
    return norm;
  } else {
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
      detail::ArraySpan<T>(g + off, len) *= coef;  // Eigen: vectorised, the same IEEE products as a scalar loop
    });
  }
  return norm;
  }
}

}  // namespace metarec::optim
