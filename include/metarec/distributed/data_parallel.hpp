#pragma once
/// @file data_parallel.hpp
/// Data-parallel training and evaluation over MPI (Open MPI 4.1 tested).
///
/// Every rank reads the data and draws the same global batches (the batch
/// order depends only on the seed). Rank r of N computes rows r, r+N, r+2N...
/// of each global batch (strided: shard sizes differ by at most one row).
/// The loss is a mean over the target positions of the GLOBAL batch, so rank
/// r's gradient (of the mean over its n_r positions) is scaled by n_r / n
/// before the sum over ranks: sum_r (n_r/n) * (1/n_r) sum_{i in r} g_i =
/// (1/n) sum_i g_i, the single-process gradient of the global batch.
///
/// After backward (not during it: see docs/distributed.md), GradientReducer
/// combines:
/// - dense gradients (every parameter without row tracking, and a row-tracked
///   table whose gradient is dense on some rank, e.g. tied output weights
///   under full-softmax CE): packed in parameter order into buckets of
///   `bucket_bytes`, each summed in place by one MPI_Allreduce. MPI fixes no
///   summation order over ranks; the result differs from one process's sum
///   over rows in the last bits (float tolerance), and Open MPI gives every
///   rank the same bits, so replicas stay identical (tested);
/// - row-tracked item tables (`Parameter::sparse_rows`, e.g. BCE / BPR): the
///   touched rows only, as (row ids, values) in one MPI_Allgatherv; every
///   rank then adds the contributions in rank order 0..N-1 into zeroed rows,
///   so the sum order is fixed and identical on all ranks. The whole table
///   never travels.
/// A small MPI_Allgather first tells every rank each rank's row counts (or
/// that its gradient is dense) and its weighted loss (summed in rank order).
///
/// Per-rank random streams (dropout, sampled negatives) are seeded with the
/// rank (rank 0 keeps the single-process seed): with dropout or sampled
/// negatives N ranks draw other masks than one process, so trajectories agree
/// in distribution, not in value; without them (dropout 0, CE) parameters
/// agree within float tolerance.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "metarec/autograd/parameter.hpp"
#include "metarec/data/batching.hpp"
#include "metarec/data/split.hpp"
#include "metarec/distributed/communicator.hpp"
#include "metarec/eval/metrics.hpp"
#include "metarec/train/evaluate.hpp"
#include "metarec/train/step_sync.hpp"
#include "metarec/train/trainer.hpp"

namespace metarec::distributed {

/// What this rank sent and received, for the measurements of
/// docs/distributed.md. "Payload" is the buffer handed to MPI; a ring
/// all-reduce moves 2(N-1)/N times that over each rank's link.
struct CommStats {
  std::uint64_t steps = 0;
  std::uint64_t allreduce_calls = 0;
  std::uint64_t dense_payload_bytes = 0;   ///< all-reduced bytes (buckets)
  std::uint64_t sparse_sent_bytes = 0;     ///< this rank's (ids, rows) in the all-gather
  std::uint64_t sparse_received_bytes = 0; ///< the other ranks' (ids, rows)
  std::uint64_t header_bytes = 0;          ///< the per-step all-gather of counts and losses (sent)
  double seconds = 0;                      ///< wall time inside reduce() (includes waiting for other ranks)
  double cpu_seconds = 0;                  ///< this thread's CPU time inside reduce() (packing, summing, MPI polling)
};

struct DataParallelOptions {
  std::size_t bucket_bytes = std::size_t{8} << 20;  ///< dense all-reduce bucket (PyTorch DDP uses 25 MiB)
};

/// Sums gradients over the ranks of a communicator (see the file comment).
class GradientReducer {
 public:
  explicit GradientReducer(const Communicator& comm, DataParallelOptions opt = {}) : comm_(&comm), opt_(opt) {
    if (opt_.bucket_bytes < 64) throw ConfigError("DataParallelOptions.bucket_bytes must be >= 64");
  }

  /// Scales this rank's gradients by `share` (its fraction of the global
  /// batch's target positions), sums them over ranks and returns the global
  /// loss sum_r share_r * loss_r. Every rank must call it with the same
  /// parameter list (names and shapes), in the same step.
  template <class T>
  double reduce(const std::vector<Parameter<T>*>& params, double share, double local_loss) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    const int N = comm_->size();
    const T w = static_cast<T>(share);
    // Header: one int64 per row-tracked table (-1 = dense here, else touched rows) + the weighted loss.
    sparse_.clear();
    for (Parameter<T>* p : params)
      if (p->trainable && !p->grad.empty() && p->sparse_rows) sparse_.push_back(p);
    const std::size_t H = sparse_.size() + 1;
    header_.resize(H);
    for (std::size_t i = 0; i < sparse_.size(); ++i) {
      const auto* p = static_cast<const Parameter<T>*>(sparse_[i]);
      header_[i] = p->grad_is_dense() ? -1 : static_cast<std::int64_t>(p->touched.size());
    }
    const double wl = share * local_loss;
    std::memcpy(&header_[H - 1], &wl, sizeof wl);
    all_headers_.resize(H * static_cast<std::size_t>(N));
    comm_->allgather(std::span<const std::int64_t>(header_), std::span<std::int64_t>(all_headers_));
    stats_.header_bytes += H * sizeof(std::int64_t);
    double loss = 0;
    for (int r = 0; r < N; ++r) {  // rank order: the same sum on every rank
      double v;
      std::memcpy(&v, &all_headers_[static_cast<std::size_t>(r) * H + H - 1], sizeof v);
      loss += v;
    }
    // A table is exchanged densely when any rank has a dense gradient for it.
    globally_dense_.assign(sparse_.size(), 0);
    for (std::size_t i = 0; i < sparse_.size(); ++i)
      for (int r = 0; r < N; ++r)
        if (all_headers_[static_cast<std::size_t>(r) * H + i] < 0) globally_dense_[i] = 1;

    reduce_dense(params, w);
    reduce_sparse<T>(w, H);
    ++stats_.steps;
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats_.cpu_seconds += thread_cpu_seconds() - c0;
    return loss;
  }

  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  static double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);  // POSIX; MPI runs on Linux and BSDs here
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  template <class T>
  bool is_globally_dense_table(const Parameter<T>* p) const {
    const auto it = std::find(sparse_.begin(), sparse_.end(), static_cast<const void*>(p));
    if (it == sparse_.end()) return false;
    return globally_dense_[static_cast<std::size_t>(it - sparse_.begin())] != 0;
  }

  /// Buckets over the dense gradients in parameter order; a parameter larger
  /// than a bucket is split over several.
  template <class T>
  void reduce_dense(const std::vector<Parameter<T>*>& params, T w) {
    const std::size_t cap = std::max<std::size_t>(opt_.bucket_bytes / sizeof(T), 1);
    bucket_.resize((cap * sizeof(T) + sizeof(double) - 1) / sizeof(double));  // double storage: aligned for T
    T* buf = reinterpret_cast<T*>(bucket_.data());
    std::vector<Segment>& segs = segments_;
    segs.clear();
    std::size_t fill = 0;
    auto flush = [&] {
      if (fill == 0) return;
      comm_->allreduce_sum(std::span<T>(buf, fill));
      ++stats_.allreduce_calls;
      stats_.dense_payload_bytes += fill * sizeof(T);
      for (const Segment& s : segs) std::copy_n(buf + s.at, s.len, static_cast<Parameter<T>*>(s.p)->grad.data() + s.off);
      segs.clear();
      fill = 0;
    };
    for (Parameter<T>* p : params) {
      if (!p->trainable || p->grad.empty()) continue;
      if (p->sparse_rows && !is_globally_dense_table(p)) continue;
      const auto n = static_cast<std::size_t>(p->grad.size());
      const T* g = p->grad.data();
      for (std::size_t off = 0; off < n;) {
        const std::size_t take = std::min(n - off, cap - fill);
        for (std::size_t i = 0; i < take; ++i) buf[fill + i] = w * g[off + i];
        segs.push_back({p, off, fill, take});
        fill += take;
        off += take;
        if (fill == cap) flush();
      }
      // Rows outside `touched` were zero here (zero_grad keeps them zero), so
      // the sum is right; the optimizer must now visit every row.
      if (p->sparse_rows) p->dense_grad = true;
    }
    flush();
  }

  /// One section per rank: for each sparse table in order, its row ids
  /// (int64, so the values after them stay aligned) then its rows (T).
  template <class T>
  void reduce_sparse(T w, std::size_t H) {
    const int N = comm_->size(), me = comm_->rank();
    bool any = false;
    for (std::size_t i = 0; i < sparse_.size(); ++i) any = any || !globally_dense_[i];
    if (!any) return;
    auto width = [&](std::size_t i) {
      const auto* p = static_cast<const Parameter<T>*>(sparse_[i]);
      return static_cast<std::size_t>(p->value.dim(0) > 0 ? p->value.size() / p->value.dim(0) : 0);
    };
    auto section_bytes = [&](int r) {
      std::size_t b = 0;
      for (std::size_t i = 0; i < sparse_.size(); ++i) {
        if (globally_dense_[i]) continue;
        const auto rows = static_cast<std::size_t>(all_headers_[static_cast<std::size_t>(r) * H + i]);
        b += rows * (sizeof(std::int64_t) + width(i) * sizeof(T));
      }
      return b;
    };
    counts_.resize(static_cast<std::size_t>(N));
    std::size_t total = 0;
    for (int r = 0; r < N; ++r) {
      const std::size_t b = section_bytes(r);
      if (b > static_cast<std::size_t>(INT32_MAX)) throw MpiError("sparse gradient section over 2 GiB");
      counts_[static_cast<std::size_t>(r)] = static_cast<int>(b);
      total += b;
    }
    send_.resize((section_bytes(me) + 7) / 8);
    recv_.resize((total + 7) / 8);
    auto* out = reinterpret_cast<std::byte*>(send_.data());
    for (std::size_t i = 0; i < sparse_.size(); ++i) {
      if (globally_dense_[i]) continue;
      auto* p = static_cast<Parameter<T>*>(sparse_[i]);
      const std::size_t d = width(i);
      for (std::int32_t r : p->touched) {
        const std::int64_t id = r;
        std::memcpy(out, &id, sizeof id);
        out += sizeof id;
      }
      for (std::int32_t r : p->touched) {
        const T* g = p->grad.data() + static_cast<std::size_t>(r) * d;
        T* o = reinterpret_cast<T*>(out);
        for (std::size_t j = 0; j < d; ++j) o[j] = w * g[j];
        out += d * sizeof(T);
      }
    }
    comm_->allgatherv_bytes(std::span<const std::byte>(reinterpret_cast<const std::byte*>(send_.data()),
                                                       static_cast<std::size_t>(counts_[static_cast<std::size_t>(me)])),
                            std::span<std::byte>(reinterpret_cast<std::byte*>(recv_.data()), total), counts_);
    stats_.sparse_sent_bytes += static_cast<std::uint64_t>(counts_[static_cast<std::size_t>(me)]);
    stats_.sparse_received_bytes += total - static_cast<std::uint64_t>(counts_[static_cast<std::size_t>(me)]);
    // Rebuild each table's touched rows as the rank-ordered sum.
    for (std::size_t i = 0; i < sparse_.size(); ++i)
      if (!globally_dense_[i]) static_cast<Parameter<T>*>(sparse_[i])->zero_grad();
    const auto* in = reinterpret_cast<const std::byte*>(recv_.data());
    for (int r = 0; r < N; ++r)
      for (std::size_t i = 0; i < sparse_.size(); ++i) {
        if (globally_dense_[i]) continue;
        auto* p = static_cast<Parameter<T>*>(sparse_[i]);
        const std::size_t d = width(i);
        const auto rows = static_cast<std::size_t>(all_headers_[static_cast<std::size_t>(r) * H + i]);
        const std::byte* ids = in;
        const T* vals = reinterpret_cast<const T*>(in + rows * sizeof(std::int64_t));
        for (std::size_t k = 0; k < rows; ++k) {
          std::int64_t id;
          std::memcpy(&id, ids + k * sizeof id, sizeof id);
          if (id < 0 || id >= p->value.dim(0)) throw MpiError("sparse gradient: row id out of range from rank " + std::to_string(r));
          p->touch_row(id);
          T* g = p->grad.data() + id * static_cast<index_t>(d);
          for (std::size_t j = 0; j < d; ++j) g[j] += vals[k * d + j];
        }
        in += rows * (sizeof(std::int64_t) + d * sizeof(T));
      }
  }

  struct Segment {  // grad[off, off + len) of parameter p sits at bucket[at, at + len)
    void* p;
    std::size_t off, at, len;
  };
  const Communicator* comm_;
  DataParallelOptions opt_;
  std::vector<Segment> segments_;
  std::vector<void*> sparse_;  // row-tracked tables of this step (Parameter<T>*)
  std::vector<std::uint8_t> globally_dense_;
  std::vector<std::int64_t> header_, all_headers_;
  std::vector<double> bucket_, send_, recv_;  // double storage keeps T views aligned
  std::vector<int> counts_;
  CommStats stats_;
};

/// train::StepSync over MPI: pass it to train::fit_synced (or use
/// distributed::fit). Also evaluates with users split over ranks.
class MpiSync {
 public:
  explicit MpiSync(const Communicator& comm, DataParallelOptions opt = {}) : comm_(&comm), reducer_(comm, opt) {}

  int rank() const { return comm_->rank(); }
  int size() const { return comm_->size(); }
  /// Rank 0 keeps the single-process stream; the others get distinct ones
  /// (the same stream on every rank would repeat dropout masks across shards).
  std::uint64_t stream_seed(std::uint64_t seed) const {
    return seed + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(comm_->rank());
  }

  /// Rows rank, rank + N, rank + 2N, ... of the global batch.
  const data::SequenceBatch& shard(const data::SequenceBatch& global) {
    const int N = size(), r = rank();
    if (N == 1) return global;
    const index_t L = global.length;
    const index_t rows = global.batch > r ? (global.batch - r + N - 1) / N : 0;
    shard_.resize(rows, L);
    for (index_t i = 0; i < rows; ++i) {
      const auto src = static_cast<std::size_t>((r + i * N) * L), dst = static_cast<std::size_t>(i * L);
      std::copy_n(global.items.begin() + static_cast<std::ptrdiff_t>(src), L, shard_.items.begin() + static_cast<std::ptrdiff_t>(dst));
      std::copy_n(global.targets.begin() + static_cast<std::ptrdiff_t>(src), L, shard_.targets.begin() + static_cast<std::ptrdiff_t>(dst));
      std::copy_n(global.mask.begin() + static_cast<std::ptrdiff_t>(src), L, shard_.mask.begin() + static_cast<std::ptrdiff_t>(dst));
      shard_.user[static_cast<std::size_t>(i)] = global.user[static_cast<std::size_t>(r + i * N)];
    }
    return shard_;
  }

  template <class T>
  double reduce(const std::vector<Parameter<T>*>& params, const data::SequenceBatch& mine,
                const data::SequenceBatch& global, double local_loss) {
    const auto n = static_cast<double>(global.n_targets());
    const double share = n > 0 ? static_cast<double>(mine.n_targets()) / n : 0.0;
    return reducer_.reduce(params, share, local_loss);
  }

  /// Each rank ranks a contiguous block of the set's cases; the ranks are
  /// gathered in case order and the metrics computed from all of them in
  /// that order, so they are the single-process metrics whenever each case's
  /// rank is the same (representations do not depend on the other cases).
  template <class Model>
  eval::Metrics evaluate(Model& model, tape_of<Model>& tape, int k, const data::EvalSet& set,
                         const train::EvalOptions& opt) {
    const int N = size(), r = rank();
    const std::size_t n = set.size();
    auto bound = [&](int q) { return n * static_cast<std::size_t>(q) / static_cast<std::size_t>(N); };
    const std::size_t lo = bound(r), hi = bound(r + 1);
    data::EvalSet part;
    part.users.assign(set.users.begin() + static_cast<std::ptrdiff_t>(lo), set.users.begin() + static_cast<std::ptrdiff_t>(hi));
    part.targets.assign(set.targets.begin() + static_cast<std::ptrdiff_t>(lo), set.targets.begin() + static_cast<std::ptrdiff_t>(hi));
    part.histories.assign(set.histories.begin() + static_cast<std::ptrdiff_t>(lo), set.histories.begin() + static_cast<std::ptrdiff_t>(hi));
    std::vector<index_t> mine(hi - lo), all(n);
    if (!mine.empty()) train::evaluate(model, tape, k, part, opt, std::span<index_t>(mine));
    std::vector<int> counts(static_cast<std::size_t>(N));
    for (int q = 0; q < N; ++q) counts[static_cast<std::size_t>(q)] = static_cast<int>(bound(q + 1) - bound(q));
    comm_->allgatherv(std::span<const index_t>(mine), std::span<index_t>(all), counts);
    return eval::Metrics::from_ranks(all, opt.ks);
  }

  const CommStats& stats() const { return reducer_.stats(); }
  void reset_stats() { reducer_.reset_stats(); }
  const Communicator& communicator() const { return *comm_; }

 private:
  const Communicator* comm_;
  GradientReducer reducer_;
  data::SequenceBatch shard_;
};

/// train::fit with data parallelism over `sync`'s communicator. Every rank
/// returns the same TrainResult; pass progress callbacks on rank 0 only.
template <class Model, class... Callbacks>
train::TrainResult fit(Model& model, int k, const data::Split& split, const train::TrainerConfig& cfg, MpiSync& sync,
                       Callbacks&... callbacks) {
  return train::fit_synced(model, k, split, cfg, sync, callbacks...);
}

/// train::evaluate with the cases split over ranks (same metrics on every rank).
template <class Model>
eval::Metrics evaluate(Model& model, tape_of<Model>& tape, int k, const data::EvalSet& set,
                       const train::EvalOptions& opt, MpiSync& sync) {
  return sync.evaluate(model, tape, k, set, opt);
}

}  // namespace metarec::distributed
