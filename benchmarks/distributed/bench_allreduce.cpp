// Time of one in-place MPI_Allreduce (float sum) of a gradient-sized buffer
// on this machine: min and median over repetitions, for docs/distributed.md.
// On a shared machine the minimum is the closest to an idle machine's time.
//   mpirun -np 2 bench_allreduce [bytes=3511552] [reps=100]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "metarec/distributed/communicator.hpp"

int main(int argc, char** argv) {
  metarec::distributed::Environment env(&argc, &argv);
  metarec::distributed::Communicator comm;
  const std::size_t bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 3511552;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 100;
  std::vector<float> buf(bytes / sizeof(float), 1.0f);
  std::vector<double> t;
  for (int r = 0; r < reps + 5; ++r) {
    comm.barrier();
    const double a = MPI_Wtime();
    comm.allreduce_sum(std::span<float>(buf));
    const double s = comm.allreduce_max(MPI_Wtime() - a);  // the slowest rank's time
    if (r >= 5) t.push_back(s);
  }
  std::sort(t.begin(), t.end());
  if (comm.rank() == 0)
    std::printf("MPI_Allreduce %zu bytes on %d ranks: min %.3f ms, median %.3f ms (%d reps)\n", bytes, comm.size(),
                t.front() * 1e3, t[t.size() / 2] * 1e3, reps);
}
