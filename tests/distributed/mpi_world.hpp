#pragma once
// What the MPI test files share: the job's communicator (set by main() in
// test_data_parallel.cpp) and the check that a replica is the same everywhere.
#include <cstring>
#include <vector>

#include <doctest/doctest.h>

#include "metarec/distributed/communicator.hpp"

namespace metarec::test {

inline distributed::Communicator* world = nullptr;

/// True on every rank iff `v` has the same bits on every rank.
inline bool same_on_all_ranks(const std::vector<float>& v) {
  std::vector<float> r0(v);
  MPI_Bcast(r0.data(), static_cast<int>(r0.size()), MPI_FLOAT, 0, world->get());
  const int same = std::memcmp(r0.data(), v.data(), v.size() * sizeof(float)) == 0 ? 1 : 0;
  int all = 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, world->get());
  return all == 1;
}

/// main() of an MPI doctest program: runs the cases on every rank (only rank 0
/// reports passing runs) and returns the worst exit code of all ranks.
inline int run_mpi_tests(int argc, char** argv) {
  distributed::Environment env(&argc, &argv);
  distributed::Communicator comm;
  world = &comm;
  doctest::Context ctx(argc, argv);
  ctx.setOption("no-intro", true);
  if (comm.rank() != 0) ctx.setOption("minimal", true);
  const int rc = ctx.run();
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, comm.get());
  world = nullptr;
  return worst;
}

}  // namespace metarec::test
