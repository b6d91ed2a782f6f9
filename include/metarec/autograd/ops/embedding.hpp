#pragma once
/// @file embedding.hpp
/// Row gather `table[ids]` with a scatter-add backward. Serves embedding
/// lookups and any "pick rows of a [N, d] matrix" (e.g. the real positions
/// of a [B*L, d] hidden-state matrix).
///
/// Backward is deterministic and race-free without atomics: every thread
/// scans all ids in order but only adds rows it owns (rows are dealt to
/// threads in cache-line-sized groups), so each gradient row receives its
/// contributions in input order, whatever the thread count. For a sparse
/// Parameter (sparse_rows) the scatter writes straight into the parameter
/// gradient and records the touched rows, so the optimizer and zero_grad
/// visit only those rows instead of the whole table.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/parallel.hpp"

namespace metarec::ops {

namespace detail {
/// G[ids[i]] += g[i] for every i with ids[i] != padding_idx. G: [rows, d].
template <class T, class B = backend::Cpu>
void scatter_add_rows(T* G, index_t rows, index_t d, const T* g, const std::int32_t* ids, index_t n,
                      std::int32_t padding_idx) {
  // Rows are owned in groups spanning >= one 64-byte line (no false sharing).
  const index_t group = std::max<index_t>(1, 64 / (static_cast<index_t>(sizeof(T)) * std::max<index_t>(d, 1)));
  auto run = [&](index_t tid, index_t nthreads) {
    for (index_t i = 0; i < n; ++i) {
      const std::int32_t r = ids[i];
      if (r == padding_idx || (r / group) % nthreads != tid) continue;
      T* dst = G + static_cast<index_t>(r) * d;
      const T* src = g + i * d;
      for (index_t k = 0; k < d; ++k) dst[k] += src[k];
    }
  };
#ifdef METAREC_WITH_OPENMP
  if (n * d >= parallel_grain && rows > group) {
#pragma omp parallel
    run(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  (void)rows;
  run(0, 1);
}

template <class T, class B = backend::Cpu>
void embedding_backward(Tape<T, B>& t, Node<T, B>& n) {
  const int tid = n.in[0];
  if (!t.wants_grad(tid)) return;
  const auto* ids = static_cast<const std::int32_t*>(n.ptr[0]);
  const auto pad = static_cast<std::int32_t>(n.integer[0]);
  const index_t count = n.integer[1];
  const TensorOf<T, B>& table = t.value(tid);
  if constexpr (!B::is_host) {  // ids were uploaded by the forward; atomics on the device
    cuda::embedding_backward(memory<B>::context(), n.grad.reshape(Shape{count, table.dim(1)}),
                             cuda::DeviceTensor<std::int32_t>::wrap(const_cast<std::int32_t*>(ids), Shape{count}), pad,
                             t.grad(tid));
    return;
  } else {
  Parameter<T, B>* p = t.node(tid).param;
  if (p && p->sparse_rows) {
    // raw_grad: writing only rows keeps the parameter's gradient sparse.
    scatter_add_rows(t.raw_grad(tid).data(), table.dim(0), table.dim(1), n.grad.data(), ids, count, pad);
    for (index_t i = 0; i < count; ++i)
      if (ids[i] != pad) p->touch_row(ids[i]);
  } else {
    scatter_add_rows(t.grad(tid).data(), table.dim(0), table.dim(1), n.grad.data(), ids, count, pad);
  }
  }
}
}  // namespace detail

/// Gathers rows of `table` [N, d]: output shape ids_shape + [d].
/// @param ids          ids_shape.size() row indices in [0, N), host memory on
///                     every backend (checked here; a device tape uploads
///                     them); borrowed, must stay alive until backward() has run.
/// @param padding_idx  rows equal to it get no gradient (-1: none). Their
///                     output is the table row as stored (as PyTorch).
template <class T, class B = backend::Cpu>
Var<T, B> embedding(Var<T, B> table, const std::int32_t* ids, Shape ids_shape, std::int32_t padding_idx = -1) {
  Tape<T, B>& t = *table.tape;
  const TensorOf<T, B>& tv = table.value();
  expect_rank("embedding", "table", tv.shape(), 2);
  if (ids_shape.rank >= max_rank)
    throw ShapeError("embedding: ids shape " + ids_shape.str() + " has rank " + std::to_string(ids_shape.rank) +
                     "; at most " + std::to_string(max_rank - 1) + " (the output adds the embedding dim)");
  const index_t rows = tv.dim(0), d = tv.dim(1), count = ids_shape.size();
  if (count > 0 && ids == nullptr) throw ShapeError("embedding: ids pointer is null for shape " + ids_shape.str());
  for (index_t i = 0; i < count; ++i)
    if (ids[i] < 0 || ids[i] >= rows)
      throw ShapeError("embedding: id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                       " is out of range for a table of " + std::to_string(rows) + " rows (shape " +
                       tv.shape().str() + ")");
  Shape os = ids_shape;
  os.dims[static_cast<std::size_t>(os.rank++)] = d;
  TensorOf<T, B> y = t.alloc(os);
  if constexpr (B::is_host) {
    const T* src = tv.data();
    T* dst = y.data();
    METAREC_PARALLEL_FOR(count * d)
    for (index_t i = 0; i < count; ++i)
      std::memcpy(dst + i * d, src + static_cast<index_t>(ids[i]) * d, static_cast<std::size_t>(d) * sizeof(T));
  } else {
    ids = t.upload_n(ids, count);  // the device copy lives in the step's arena until backward has run
    cuda::embedding_forward(memory<B>::context(), tv,
                            cuda::DeviceTensor<std::int32_t>::wrap(const_cast<std::int32_t*>(ids), Shape{count}),
                            y.reshape(Shape{count, d}));
  }
  Var<T, B> out = t.record("embedding", y, {table}, &detail::embedding_backward<T, B>);
  Node<T, B>& n = t.node(out);
  n.ptr[0] = ids;
  n.integer[0] = padding_idx;
  n.integer[1] = count;
  return out;
}

}  // namespace metarec::ops
