#pragma once
/// @file nccl_sync.hpp
/// Data-parallel training of models on backend::Cuda: the gradients are
/// all-reduced on the devices by NCCL (one ncclAllReduce per parameter inside
/// one ncclGroupStart/End, which NCCL fuses), on the stream the step ran on;
/// MPI (the Communicator) bootstraps NCCL, shards batches and gathers the
/// evaluation ranks exactly as MpiSync does. Needs metarec::nccl (a build with
/// nvcc, MPI and NCCL: METAREC_WITH_NCCL). Each rank takes GPU rank % visible
/// GPUs. Device gradients are dense, so every step moves the whole model
/// (the sparse-row exchange of MpiSync is a host feature).
#include <nccl.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "metarec/cuda/context.hpp"
#include "metarec/cuda/ops.hpp"
#include "metarec/distributed/data_parallel.hpp"

namespace metarec::distributed {

/// An NCCL call failed; names the call, the error and the rank.
class NcclError : public Error {
 public:
  explicit NcclError(const std::string& what) : Error(what) {}
};

class NcclSync {
 public:
  explicit NcclSync(const Communicator& comm) : mpi_(comm) {
    const int gpus = cuda::Context::device_count();
    if (gpus == 0)
      throw NcclError("NcclSync: rank " + std::to_string(comm.rank()) + " sees no CUDA device (" +
                      cuda::Context::device_count_reason() + ")");
    cuda::select_default_device(comm.rank() % gpus);
    ncclUniqueId id{};
    if (comm.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    // The id is 128 opaque bytes; rank 0's goes to every rank over MPI.
    std::vector<char> bytes(reinterpret_cast<const char*>(&id), reinterpret_cast<const char*>(&id) + sizeof id);
    if (MPI_Bcast(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, 0, comm.get()) != MPI_SUCCESS)
      throw NcclError("NcclSync: MPI_Bcast of the NCCL id failed");
    std::memcpy(&id, bytes.data(), sizeof id);
    (void)cuda::default_context();  // the device is selected before NCCL binds to it
    check(ncclCommInitRank(&nccl_, comm.size(), id, comm.rank()), "ncclCommInitRank");
  }
  ~NcclSync() {
    if (nccl_) ncclCommDestroy(nccl_);
  }
  NcclSync(const NcclSync&) = delete;
  NcclSync& operator=(const NcclSync&) = delete;

  int rank() const { return mpi_.rank(); }
  int size() const { return mpi_.size(); }
  std::uint64_t stream_seed(std::uint64_t seed) const { return mpi_.stream_seed(seed); }
  const data::SequenceBatch& shard(const data::SequenceBatch& global) { return mpi_.shard(global); }

  /// g <- sum over ranks of share_r * g_r (share_r: rank r's fraction of the
  /// global batch's targets), so every rank holds the global batch's gradient;
  /// returns the global loss (the weighted losses summed in rank order).
  template <class T>
  double reduce(const std::vector<Parameter<T, backend::Cuda>*>& params, const data::SequenceBatch& mine,
                const data::SequenceBatch& global, double local_loss) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "NcclSync reduces float or double");
    const auto n = static_cast<double>(global.n_targets());
    const double share = n > 0 ? static_cast<double>(mine.n_targets()) / n : 0.0;
    cuda::Context& ctx = cuda::default_context();
    std::uint64_t bytes = 0;
    for (Parameter<T, backend::Cuda>* p : params)
      if (p->trainable && !p->grad.empty()) cuda::scale_forward(ctx, p->grad, share, p->grad);
    check(ncclGroupStart(), "ncclGroupStart");
    for (Parameter<T, backend::Cuda>* p : params) {
      if (!p->trainable || p->grad.empty()) continue;
      check(ncclAllReduce(p->grad.data(), p->grad.data(), static_cast<std::size_t>(p->grad.size()),
                          std::is_same_v<T, float> ? ncclFloat : ncclDouble, ncclSum, nccl_,
                          static_cast<cudaStream_t>(ctx.stream())),
            "ncclAllReduce");
      bytes += static_cast<std::uint64_t>(p->grad.size()) * sizeof(T);
      ++stats_.allreduce_calls;
    }
    check(ncclGroupEnd(), "ncclGroupEnd");
    std::vector<double> mine_loss{share * local_loss}, all(static_cast<std::size_t>(size()));
    mpi_.communicator().allgather(std::span<const double>(mine_loss), std::span<double>(all));
    double loss = 0;
    for (double v : all) loss += v;  // rank order: the same sum on every rank
    ++stats_.steps;
    stats_.dense_payload_bytes += bytes;
    return loss;
  }

  template <class Model>
  eval::Metrics evaluate(Model& model, tape_of<Model>& tape, int k, const data::EvalSet& set,
                         const train::EvalOptions& opt) {
    return mpi_.evaluate(model, tape, k, set, opt);
  }
  const CommStats& stats() const { return stats_; }

 private:
  void check(ncclResult_t r, const char* call) const {
    if (r != ncclSuccess)
      throw NcclError(std::string(call) + " on rank " + std::to_string(rank()) + ": " + ncclGetErrorString(r));
  }
  MpiSync mpi_;
  ncclComm_t nccl_ = nullptr;
  CommStats stats_;
};

/// train::fit of a model on backend::Cuda over the ranks of `sync`.
template <class Model, class... Callbacks>
train::TrainResult fit(Model& model, int k, const data::Split& split, const train::TrainerConfig& cfg, NcclSync& sync,
                       Callbacks&... callbacks) {
  return train::fit_synced(model, k, split, cfg, sync, callbacks...);
}

}  // namespace metarec::distributed
