#pragma once
/// @file meta_parallel.hpp
/// Per-source meta-training over MPI: the meta::SourceSync of a
/// communicator. Rank r computes the inner loops of sources r, r + N, ...
/// (one source per rank when N >= number of sources); after them one
/// MPI_Allgatherv per quantity gives every rank every source's block
/// (meta-gradient, similarity and query loss; Reptile: displacement), and the
/// learner sums them in source order 0..S-1 on every rank, as one process
/// does: same bits as one process on the same host with the same threads.
/// At the end of the meta phase each source's own item tables (trained by
/// its owner only) are broadcast from the owner.
///
/// ```cpp
/// distributed::MpiSourceSync sync(comm);
/// meta::MetaTransfer<Model, meta::SimilarityRescaled> learner(cfg, policy);
/// auto res = learner.run_synced(sync, model, sources, target, split /*, callbacks on rank 0 */);
/// ```
#include <limits>
#include <span>
#include <vector>

#include "metarec/distributed/communicator.hpp"
#include "metarec/meta/source_sync.hpp"

namespace metarec::distributed {

class MpiSourceSync : public meta::SourceSync {
 public:
  explicit MpiSourceSync(const Communicator& comm) : comm_(&comm) {}
  int rank() const override { return comm_->rank(); }
  int size() const override { return comm_->size(); }
  void gather(float* blocks, std::size_t block, std::size_t S) override { gather_blocks(blocks, block, S); }
  void gather(double* blocks, std::size_t block, std::size_t S) override { gather_blocks(blocks, block, S); }
  void share(std::size_t i, const std::vector<Parameter<float>*>& ps) override { share_params(i, ps); }
  void share(std::size_t i, const std::vector<Parameter<double>*>& ps) override { share_params(i, ps); }
  /// Bytes this rank received in gathers so far (sources it does not own).
  std::size_t received_bytes() const { return received_; }

 private:
  std::size_t owned_by(int r, std::size_t S) const {
    const auto n = static_cast<std::size_t>(size());
    return static_cast<std::size_t>(r) < S ? (S - static_cast<std::size_t>(r) + n - 1) / n : 0;
  }
  template <class T>
  void gather_blocks(T* blocks, std::size_t block, std::size_t S) {
    const int N = size();
    if (N == 1 || block == 0 || S == 0) return;
    const auto n = static_cast<std::size_t>(N);
    std::vector<int> counts(n);
    std::size_t total = 0;
    for (int r = 0; r < N; ++r) {
      const std::size_t c = owned_by(r, S) * block;
      if (c > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw MpiError("MpiSourceSync::gather: " + std::to_string(c) + " values from one rank exceed MPI's int count");
      counts[static_cast<std::size_t>(r)] = static_cast<int>(c);
      total += c;
    }
    // Own blocks (sources rank, rank + N, ...) packed, all ranks' blocks in rank order, then back to source order.
    std::vector<T> mine, all(total);
    for (std::size_t i = static_cast<std::size_t>(rank()); i < S; i += n)
      mine.insert(mine.end(), blocks + i * block, blocks + (i + 1) * block);
    comm_->allgatherv(std::span<const T>(mine), std::span<T>(all), std::span<const int>(counts));
    std::size_t at = 0;
    for (int r = 0; r < N; ++r)
      for (std::size_t i = static_cast<std::size_t>(r); i < S; i += n, at += block)
        if (r != rank()) std::copy_n(all.data() + at, block, blocks + i * block);
    received_ += (total - mine.size()) * sizeof(T);
  }
  template <class T>
  void share_params(std::size_t i, const std::vector<Parameter<T>*>& ps) {
    const int owner = static_cast<int>(i % static_cast<std::size_t>(size()));
    for (Parameter<T>* p : ps)
      comm_->broadcast(std::span<T>(p->value.data(), static_cast<std::size_t>(p->value.size())), owner);
  }

  const Communicator* comm_;
  std::size_t received_ = 0;
};

}  // namespace metarec::distributed
