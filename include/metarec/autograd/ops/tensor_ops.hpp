#pragma once
/// @file tensor_ops.hpp
/// Data movement: permute (rank <= 4, e.g. [B, L, H, dh] -> [B, H, L, dh]),
/// slice along any dimension and concat along any dimension. Backward passes
/// move the gradient the opposite way; slice along the outermost non-unit
/// dimension is a view (no copy).
#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
/// dim in [-rank, rank) -> [0, rank), else ShapeError naming the op.
inline int normalize_dim(const char* op, int dim, const Shape& s) {
  if (dim < -s.rank || dim >= s.rank)
    throw ShapeError(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for shape " + s.str());
  return dim < 0 ? dim + s.rank : dim;
}
/// Product of dims [0, dim) and (dim, rank).
inline index_t outer_size(const Shape& s, int dim) {
  index_t n = 1;
  for (int i = 0; i < dim; ++i) n *= s[i];
  return n;
}
inline index_t inner_size(const Shape& s, int dim) {
  index_t n = 1;
  for (int i = dim + 1; i < s.rank; ++i) n *= s[i];
  return n;
}

/// dst[o*ds + k] (+)= src[o*ss + k] for o < outer, k < len.
template <bool Accumulate, class T>
void copy_blocks(index_t outer, index_t len, const T* src, index_t ss, T* dst, index_t ds) {
  METAREC_PARALLEL_FOR(outer * len)
  for (index_t o = 0; o < outer; ++o) {
    const T* s = src + o * ss;
    T* d = dst + o * ds;
    if constexpr (Accumulate) {
      for (index_t k = 0; k < len; ++k) d[k] += s[k];
    } else {
      std::memcpy(d, s, static_cast<std::size_t>(len) * sizeof(T));
    }
  }
}

// ---- permute ---------------------------------------------------------------
/// Output dims padded to rank 4, and the input stride of each output axis.
struct PermutePlan {
  std::array<index_t, 4> dims{1, 1, 1, 1}, stride{0, 0, 0, 0};
};
inline PermutePlan permute_plan(const Shape& in, const index_t* order) {
  std::array<index_t, 4> in_stride{};
  index_t s = 1;
  for (int i = in.rank - 1; i >= 0; --i) {
    in_stride[static_cast<std::size_t>(i)] = s;
    s *= in[i];
  }
  PermutePlan p;
  const int pad = 4 - in.rank;
  for (int k = 0; k < in.rank; ++k) {
    p.dims[static_cast<std::size_t>(pad + k)] = in[static_cast<int>(order[k])];
    p.stride[static_cast<std::size_t>(pad + k)] = in_stride[static_cast<std::size_t>(order[k])];
  }
  return p;
}
/// Forward: out[o] = in[i]; backward (Accumulate): in[i] += out[o], over the
/// bijection o <-> i. Parallel over output rows (race-free: it is a bijection).
template <bool Accumulate, class In, class Out>
void permute_move(const PermutePlan& p, In* in, Out* out) {
  const auto [d0, d1, d2, d3] = p.dims;
  const auto [s0, s1, s2, s3] = p.stride;
  const index_t outer = d0 * d1 * d2;
  METAREC_PARALLEL_FOR(outer * d3)
  for (index_t idx = 0; idx < outer; ++idx) {
    const index_t a = idx / (d1 * d2), b = (idx / d2) % d1, c = idx % d2;
    const index_t base = a * s0 + b * s1 + c * s2;
    Out* o = out + idx * d3;
    for (index_t j = 0; j < d3; ++j) {
      if constexpr (Accumulate) in[base + j * s3] += o[j];
      else o[j] = in[base + j * s3];
    }
  }
}

template <class T, class B = backend::Cpu>
void permute_backward(Tape<T, B>& t, Node<T, B>& n) {
  const PermutePlan p = permute_plan(t.value(n.in[0]).shape(), n.integer.data());
  permute_move<true>(p, t.grad(n.in[0]).data(), static_cast<const T*>(n.grad.data()));
}

// ---- slice / concat -----------------------------------------------------------
template <class T, class B = backend::Cpu>
void slice_backward(Tape<T, B>& t, Node<T, B>& n) {
  const Shape& in = t.value(n.in[0]).shape();
  const int dim = static_cast<int>(n.integer[0]);
  const index_t inner = inner_size(in, dim), len = n.value.shape()[dim] * inner;
  copy_blocks<true>(outer_size(in, dim), len, n.grad.data(), len,
                    t.grad(n.in[0]).data() + n.integer[1] * inner, in[dim] * inner);
}

template <class T, class B = backend::Cpu>
void concat_backward(Tape<T, B>& t, Node<T, B>& n) {
  const int* ids = static_cast<const int*>(n.ptr[0]);
  const int dim = static_cast<int>(n.integer[1]);
  const Shape& out = n.value.shape();
  const index_t outer = outer_size(out, dim), inner = inner_size(out, dim);
  index_t offset = 0;
  for (index_t i = 0; i < n.integer[0]; ++i) {
    const index_t len = t.value(ids[i]).shape()[dim] * inner;
    if (t.wants_grad(ids[i]))
      copy_blocks<true>(outer, len, n.grad.data() + offset, out[dim] * inner, t.grad(ids[i]).data(), len);
    offset += len;
  }
}
}  // namespace detail

/// Reorders dimensions: output dim k is input dim order[k]. Rank <= 4.
template <class T, class B = backend::Cpu>
Var<T, B> permute(Var<T, B> x, std::initializer_list<int> order) {
  const Shape& in = x.shape();
  std::array<index_t, 6> ord{};
  std::array<bool, 4> seen{};
  bool ok = static_cast<int>(order.size()) == in.rank;
  int k = 0;
  for (int o : order) {
    ok = ok && o >= 0 && o < in.rank && !seen[static_cast<std::size_t>(o)];
    if (!ok) break;
    seen[static_cast<std::size_t>(o)] = true;
    ord[static_cast<std::size_t>(k++)] = o;
  }
  if (!ok) {
    std::string s = "(";
    for (int o : order) s += (s.size() > 1 ? ", " : "") + std::to_string(o);
    throw ShapeError("permute: order " + s + ") is not a permutation of the " + std::to_string(in.rank) +
                     " dimensions of " + in.str());
  }
  bool identity = true;
  for (int i = 0; i < in.rank; ++i) identity = identity && ord[static_cast<std::size_t>(i)] == i;
  if (identity) return x;
  Tape<T, B>& t = *x.tape;
  Shape os = in;
  for (int i = 0; i < in.rank; ++i) os[i] = in[static_cast<int>(ord[static_cast<std::size_t>(i)])];
  TensorOf<T, B> y = t.alloc(os);
  detail::permute_move<false>(detail::permute_plan(in, ord.data()), static_cast<const T*>(x.value().data()),
                              y.data());
  Var<T, B> out = t.record("permute", y, {x}, &detail::permute_backward<T, B>);
  t.node(out).integer = ord;
  return out;
}

/// Elements [begin, end) along `dim` (negative dims count from the end).
template <class T, class B = backend::Cpu>
Var<T, B> slice(Var<T, B> x, int dim, index_t begin, index_t end) {
  Tape<T, B>& t = *x.tape;
  const TensorOf<T, B>& xv = x.value();
  const Shape& in = xv.shape();
  dim = detail::normalize_dim("slice", dim, in);
  if (begin < 0 || begin > end || end > in[dim])
    throw ShapeError("slice: range [" + std::to_string(begin) + ", " + std::to_string(end) + ") along dim " +
                     std::to_string(dim) + " is out of bounds for shape " + in.str());
  Shape os = in;
  os[dim] = end - begin;
  const index_t outer = detail::outer_size(in, dim), inner = detail::inner_size(in, dim);
  TensorOf<T, B> y;
  if (outer == 1) {  // contiguous: a view into x
    y = TensorOf<T, B>::wrap(xv.data() + begin * inner, os);
  } else {
    y = t.alloc(os);
    detail::copy_blocks<false>(outer, os[dim] * inner, xv.data() + begin * inner, in[dim] * inner, y.data(),
                               os[dim] * inner);
  }
  Var<T, B> out = t.record("slice", y, {x}, &detail::slice_backward<T, B>);
  t.node(out).integer[0] = dim;
  t.node(out).integer[1] = begin;
  return out;
}

/// Joins tensors along `dim`; all other dimensions must agree.
template <class T, class B = backend::Cpu>
Var<T, B> concat(std::span<const Var<T, B>> xs, int dim) {
  if (xs.empty()) throw ShapeError("concat: no inputs");
  Tape<T, B>& t = *xs[0].tape;
  const Shape& first = xs[0].shape();
  dim = detail::normalize_dim("concat", dim, first);
  Shape os = first;
  os[dim] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool ok = s.rank == first.rank;
    for (int k = 0; ok && k < s.rank; ++k) ok = k == dim || s[k] == first[k];
    if (!ok)
      throw ShapeError("concat: input " + std::to_string(i) + " has shape " + s.str() + ", incompatible with " +
                       first.str() + " along dim " + std::to_string(dim));
    os[dim] += s[dim];
  }
  TensorOf<T, B> y = t.alloc(os);
  const index_t outer = detail::outer_size(os, dim), inner = detail::inner_size(os, dim);
  index_t offset = 0;
  for (const Var<T, B>& v : xs) {
    const index_t len = v.shape()[dim] * inner;
    detail::copy_blocks<false>(outer, len, v.value().data(), len, y.data() + offset, os[dim] * inner);
    offset += len;
  }
  // The node has 4 input slots; the full input list lives in the arena.
  // record() is given one input that needs a gradient (if any) to decide
  // whether backward bookkeeping is needed.
  Var<T, B> key = xs[0];
  for (const Var<T, B>& v : xs)
    if (t.wants_grad(v.id)) key = v;
  Var<T, B> out = t.record("concat", y, {key}, &detail::concat_backward<T, B>);
  Node<T, B>& n = t.node(out);
  if (n.requires_grad) {
    int* ids = t.template alloc_n<int>(static_cast<index_t>(xs.size()));
    for (std::size_t i = 0; i < xs.size(); ++i) {
      ids[i] = xs[i].id;
      if (i < n.in.size()) n.in[i] = xs[i].id;
    }
    n.ptr[0] = ids;
    n.integer[0] = static_cast<index_t>(xs.size());
    n.integer[1] = dim;
  }
  return out;
}
template <class T, class B = backend::Cpu>
Var<T, B> concat(std::initializer_list<Var<T, B>> xs, int dim) {
  return concat(std::span<const Var<T, B>>(xs.begin(), xs.size()), dim);
}
template <class T, class B = backend::Cpu>
Var<T, B> concat(const std::vector<Var<T, B>>& xs, int dim) {
  return concat(std::span<const Var<T, B>>(xs.data(), xs.size()), dim);
}

}  // namespace metarec::ops
