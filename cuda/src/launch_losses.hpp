#pragma once
/// @file launch_losses.hpp
/// Private interface between ops_losses.cpp (host glue) and kernels_losses.cu
/// (as launch.hpp for ops.cpp): raw device pointers and sizes only.
#include <cstdint>

#include "metarec/cuda/element_losses.hpp"

namespace metarec::cuda::launch {

using elem::idx;
using Stream = void*;

/// loss_row[i] and coef[2i, 2i + 2) of every row (elem::pair_loss_row).
template <class T>
void pair_loss_rows(Stream, elem::PairLoss kind, const T* h, const T* E, const std::int32_t* pair_ids, idx N, idx d,
                    double invN, T* coef, double* loss_row);
/// gh[i, k] += elem::pair_grad_h_at(g[0], ...).
template <class T>
void pair_grad_h(Stream, const T* g, const T* coef, const T* E, const std::int32_t* pair_ids, idx N, idx d, T* gh);
/// loss_row[i], G's row i (scores in, dloss/dscore out) and gp[i] (elem::shared_loss_row) against the
/// K draws of row i's group (row_group[i], or 0 when null) in neg and log_q.
template <class T>
void shared_loss_rows(Stream, elem::SharedLoss kind, const T* h, const T* E, const std::int32_t* pos,
                      const std::int32_t* neg, const std::int32_t* row_group, const double* log_q, idx K, idx N,
                      idx d, double beta, double invN, double invK1, T* G, T* gp, double* loss_row);
/// gh[i, k] += elem::shared_pos_grad_h_at(g[0], gp[i], E[pos[i]], k).
template <class T>
void shared_pos_grad_h(Stream, const T* g, const T* gp, const T* E, const std::int32_t* pos, idx N, idx d, T* gh);
/// One thread per (unique row, column): elem::scatter_ordered_at.
template <class T>
void scatter_ordered(Stream, const T* g, const T* coef, const T* X, idx per, const std::int32_t* order,
                     const std::int32_t* seg, const std::int32_t* rows, idx unique, idx d, T* G);
template <class T>
void sgd(Stream, const elem::SgdScalars<T>& a, T* w, const T* g, T* buf, idx n);
/// partials[b] = sum of x[i]^2 (in double) over the i of block b's grid-stride
/// share, b < blocks; fixed per-thread order and a fixed tree per block.
template <class T>
void sum_squares_partials(Stream, const T* x, idx n, double* partials, int blocks);

}  // namespace metarec::cuda::launch
