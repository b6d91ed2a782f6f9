#pragma once
/// @file source_sync.hpp
/// The seam between the per-source meta-learners (first_order_meta, Reptile)
/// and per-source meta-training over several processes: a SourceSync says
/// which source tasks this process computes and gathers what each source
/// produced (its meta-gradient, similarity, displacement) so that every
/// process holds every source's block and applies the same meta-update.
/// `SourceSync` itself is one process (owns every source, gathers nothing),
/// so the learners pay nothing for the seam; the MPI version is
/// `distributed::MpiSourceSync` (distributed/meta_parallel.hpp), one layer
/// up, so this layer never needs MPI.
///
/// Placement: source i is computed by process i mod N (one source per
/// process when N >= number of sources; processes beyond it idle in the
/// inner loops). The learners combine the gathered blocks in source order
/// 0..S-1 exactly as one process does, so N processes give the same bits as
/// one (same host, same thread count).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "metarec/autograd/parameter.hpp"

namespace metarec::meta {

class SourceSync {
 public:
  virtual ~SourceSync() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  /// Whether this process computes source i.
  bool owns(std::size_t i) const { return static_cast<int>(i % static_cast<std::size_t>(size())) == rank(); }
  /// `blocks` holds S blocks of `block` values, source i's at i * block. On
  /// entry the blocks of the sources this process owns are filled; on return
  /// every block is, on every process.
  virtual void gather(float* /*blocks*/, std::size_t /*block*/, std::size_t /*S*/) {}
  virtual void gather(double* /*blocks*/, std::size_t /*block*/, std::size_t /*S*/) {}
  /// Copies source i's own parameters (its item tables, trained only by its
  /// owner) from the owner to every process.
  virtual void share(std::size_t /*i*/, const std::vector<Parameter<float>*>& /*params*/) {}
  virtual void share(std::size_t /*i*/, const std::vector<Parameter<double>*>& /*params*/) {}
};

/// The one-process SourceSync (TransferTask's default).
inline SourceSync& local_source_sync() {
  static SourceSync one_process;
  return one_process;
}

/// Seed of source i's random stream (dropout) in meta iteration `it`: each
/// source draws from its own stream, so its draws do not depend on which
/// process computes it or on the sources computed before it.
inline std::uint64_t source_stream_seed(std::uint64_t seed, int it, std::size_t i) {
  return seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(it)) ^
         (0xD1B54A32D192ED03ULL * static_cast<std::uint64_t>(i + 1));
}

}  // namespace metarec::meta
