#pragma once
/// @file xtensor_interop.hpp
/// Zero-copy bridges between metarec::Tensor and xtensor (the array library
/// of the CPU backend's public surface): a user can compute on a model's
/// tensors with xtensor expressions, or hand xtensor data to metarec.
#include <array>
#include <cstddef>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "metarec/core/tensor.hpp"

namespace metarec {

/// An xtensor view (row-major, no copy) of a metarec tensor's elements.
/// The tensor's storage must outlive the view.
template <class T>
auto as_xtensor(const Tensor<T>& t) {
  std::vector<std::size_t> shape;
  for (int i = 0; i < t.rank(); ++i) shape.push_back(static_cast<std::size_t>(t.dim(i)));
  return xt::adapt(t.data(), static_cast<std::size_t>(t.size()), xt::no_ownership(), shape);
}

/// A metarec tensor viewing a contiguous row-major xtensor container (no copy).
template <class E>
Tensor<typename E::value_type> tensor_view(E& e) {
  using T = typename E::value_type;
  if (e.dimension() > static_cast<std::size_t>(max_rank))
    throw ShapeError("tensor_view: rank " + std::to_string(e.dimension()) + " exceeds 4");
  if (e.layout() != xt::layout_type::row_major)
    throw ShapeError("tensor_view: the xtensor container must be row-major");
  Shape s;
  s.rank = static_cast<int>(e.dimension());
  for (std::size_t i = 0; i < e.dimension(); ++i) s.dims[i] = static_cast<index_t>(e.shape()[i]);
  return Tensor<T>::wrap(e.data(), s);
}

/// An owning copy as an xt::xarray.
template <class T>
xt::xarray<T> to_xarray(const Tensor<T>& t) {
  return xt::xarray<T>(as_xtensor(t));
}

}  // namespace metarec
