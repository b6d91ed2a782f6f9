#pragma once
/// @file tensor.hpp
/// Row-major contiguous host tensors of rank <= 4. A Tensor is a handle: copies
/// share storage (like a view); clone() copies the data. Storage is either
/// owned (64-byte aligned, reference counted) or borrowed (arena memory, a
/// user's buffer), so views cost nothing.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>

#include "metarec/core/error.hpp"

namespace metarec {

using index_t = std::int64_t;
inline constexpr int max_rank = 4;

/// Dimensions of a tensor; rank 0 means a scalar of one element.
struct Shape {
  std::array<index_t, max_rank> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<index_t> d) {
    if (d.size() > static_cast<std::size_t>(max_rank))
      throw ShapeError("Shape: rank " + std::to_string(d.size()) + " exceeds the maximum of 4");
    for (index_t v : d) {
      if (v < 0) throw ShapeError("Shape: negative dimension " + std::to_string(v));
      dims[static_cast<std::size_t>(rank++)] = v;
    }
  }
  index_t size() const {
    index_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
    return n;
  }
  index_t operator[](int i) const { return dims[static_cast<std::size_t>(i < 0 ? rank + i : i)]; }
  index_t& operator[](int i) { return dims[static_cast<std::size_t>(i < 0 ? rank + i : i)]; }
  /// Last dimension (1 for a scalar).
  index_t cols() const { return rank == 0 ? 1 : dims[static_cast<std::size_t>(rank - 1)]; }
  /// Product of all but the last dimension.
  index_t rows() const { return cols() == 0 ? 0 : size() / cols(); }
  bool operator==(const Shape& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[static_cast<std::size_t>(i)] != o.dims[static_cast<std::size_t>(i)]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[static_cast<std::size_t>(i)]);
    return s + "]";
  }
};

namespace detail {
template <class T>
std::shared_ptr<T[]> aligned_array(index_t n) {
  const std::size_t bytes = static_cast<std::size_t>(std::max<index_t>(n, 1)) * sizeof(T);
  void* p = ::operator new(bytes, std::align_val_t(64));
  return std::shared_ptr<T[]>(static_cast<T*>(p), [](T* q) { ::operator delete(q, std::align_val_t(64)); });
}
}  // namespace detail

/// What every row-major contiguous tensor handle has, wherever its memory lives
/// (host Tensor here, cuda::DeviceTensor on a GPU): the element pointer, the
/// shape, shared ownership, and the views that only move the pointer and the
/// shape. CRTP so that views keep the derived type; `Derived::kName` prefixes
/// the errors. Copies share storage; views cost nothing.
template <class Derived, class T, class Owner>
class ShapedHandle {
 public:
  using value_type = T;

  bool empty() const { return data_ == nullptr; }
  T* data() const { return data_; }
  index_t size() const { return data_ ? shape_.size() : 0; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank; }
  index_t dim(int i) const { return shape_[i]; }
  index_t rows() const { return shape_.rows(); }
  index_t cols() const { return shape_.cols(); }
  bool owns_storage() const { return static_cast<bool>(owner_); }

  /// Non-owning view of `data` (the caller keeps it alive).
  static Derived wrap(T* data, Shape shape) {
    Derived t;
    handle(t).data_ = data;
    handle(t).shape_ = shape;
    return t;
  }
  /// Same storage, new shape with the same number of elements.
  Derived reshape(Shape s) const {
    if (s.size() != shape_.size())
      throw ShapeError(std::string(Derived::kName) + "::reshape: cannot view " + shape_.str() + " as " + s.str());
    Derived t = self();
    handle(t).shape_ = s;
    return t;
  }
  /// Rows [begin, end) along dimension 0, sharing storage.
  Derived slice(index_t begin, index_t end) const {
    if (shape_.rank == 0 || begin < 0 || end > shape_[0] || begin > end)
      throw ShapeError(std::string(Derived::kName) + "::slice: [" + std::to_string(begin) + ", " +
                       std::to_string(end) + ") out of " + shape_.str());
    Derived t = self();
    handle(t).shape_[0] = end - begin;
    handle(t).data_ = data_ + begin * (shape_.size() / std::max<index_t>(shape_[0], 1));
    return t;
  }
  /// Sub-tensor i along dimension 0 (rank drops by one).
  Derived at(index_t i) const {
    Derived t = slice(i, i + 1);
    Shape s;
    s.rank = shape_.rank - 1;
    for (int k = 1; k < shape_.rank; ++k) s.dims[static_cast<std::size_t>(k - 1)] = shape_[k];
    handle(t).shape_ = s;
    return t;
  }

 protected:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
  // The members of another handle, named through this class (the derived class may re-declare them).
  static ShapedHandle& handle(Derived& t) { return t; }

  Owner owner_;
  T* data_ = nullptr;
  Shape shape_;
};

/// Row-major contiguous host tensor with Eigen views; a handle (ShapedHandle).
template <class T>
class Tensor : public ShapedHandle<Tensor<T>, T, std::shared_ptr<T[]>> {
  using Base = ShapedHandle<Tensor<T>, T, std::shared_ptr<T[]>>;

 protected:
  using Base::data_;
  using Base::owner_;
  using Base::shape_;

 public:
  static constexpr const char* kName = "Tensor";
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using MatrixMap = Eigen::Map<Matrix, Eigen::Aligned16>;
  using VectorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;
  using Base::cols;
  using Base::rows;
  using Base::size;

  Tensor() = default;
  /// Owning tensor, zero-initialised.
  explicit Tensor(Shape shape) {
    shape_ = shape;
    owner_ = detail::aligned_array<T>(shape.size());
    data_ = owner_.get();
    std::fill_n(data_, shape.size(), T(0));
  }
  /// Owning tensor filled with `value`.
  Tensor(Shape shape, T value) : Tensor(shape) { fill(value); }

  T* begin() const { return data_; }
  T* end() const { return data_ + size(); }
  T& operator[](index_t i) const { return data_[i]; }
  T& operator()(index_t i, index_t j) const { return data_[i * shape_[1] + j]; }
  T& operator()(index_t i, index_t j, index_t k) const { return data_[(i * shape_[1] + j) * shape_[2] + k]; }

  void fill(T v) const { std::fill_n(data_, size(), v); }
  void zero() const { if (data_) std::memset(static_cast<void*>(data_), 0, static_cast<std::size_t>(size()) * sizeof(T)); }
  void copy_from(const Tensor& o) const {
    if (o.shape_.size() != shape_.size())
      throw ShapeError("copy_from: " + o.shape_.str() + " into " + shape_.str());
    std::copy_n(o.data_, size(), data_);
  }
  Tensor clone() const {
    Tensor t(shape_);
    t.copy_from(*this);
    return t;
  }
  /// Eigen view as a (rows x cols) row-major matrix, cols = last dimension.
  Eigen::Map<Matrix> matrix() const { return Eigen::Map<Matrix>(data_, rows(), cols()); }
  /// Eigen view of all elements as a column vector.
  VectorMap vec() const { return VectorMap(data_, size()); }
};

/// Throws ShapeError naming `op` unless `a` has exactly shape `want`.
inline void expect_shape(const char* op, const char* what, const Shape& got, const Shape& want) {
  if (got != want)
    throw ShapeError(std::string(op) + ": " + what + " has shape " + got.str() + ", expected " + want.str());
}
inline void expect_rank(const char* op, const char* what, const Shape& got, int rank) {
  if (got.rank != rank)
    throw ShapeError(std::string(op) + ": " + what + " has rank " + std::to_string(got.rank) + " (shape " +
                     got.str() + "), expected rank " + std::to_string(rank));
}

}  // namespace metarec
