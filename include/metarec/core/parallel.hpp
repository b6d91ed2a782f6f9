#pragma once
/// @file parallel.hpp
/// Thread control shared by every CPU kernel. OpenMP is optional
/// (METAREC_WITH_OPENMP); without it everything runs on one thread.
#ifdef METAREC_WITH_OPENMP
#include <omp.h>
#endif
#include <Eigen/Core>

namespace metarec {

/// Elementwise loops below this many elements stay serial: forking costs more.
inline constexpr long parallel_grain = 32768;

inline int num_threads() {
#ifdef METAREC_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Sets the threads used by OpenMP loops and Eigen's GEMM.
inline void set_num_threads(int n) {
#ifdef METAREC_WITH_OPENMP
  omp_set_num_threads(n < 1 ? 1 : n);
#endif
  Eigen::setNbThreads(n < 1 ? 1 : n);
}

inline int thread_id() {
#ifdef METAREC_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace metarec

/// `METAREC_PARALLEL_FOR(n)` before a `for` loop: parallel when n is large.
#ifdef METAREC_WITH_OPENMP
#define METAREC_PRAGMA(x) _Pragma(#x)
#define METAREC_PARALLEL_FOR(n) METAREC_PRAGMA(omp parallel for schedule(static) if ((n) >= ::metarec::parallel_grain))
#define METAREC_PARALLEL_FOR_ALWAYS METAREC_PRAGMA(omp parallel for schedule(static))
#define METAREC_PARALLEL_FOR_DYNAMIC METAREC_PRAGMA(omp parallel for schedule(dynamic, 1))
#else
#define METAREC_PARALLEL_FOR(n)
#define METAREC_PARALLEL_FOR_ALWAYS
#define METAREC_PARALLEL_FOR_DYNAMIC
#endif
