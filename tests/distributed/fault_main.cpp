// Rank 1 fails after the first collective while the others wait in a
// barrier; the job must end (driven by run_fault.cmake).
//   (no argument)  rank 1 throws: run_or_abort prints the rank and calls MPI_Abort
//   kill           rank 1 dies by SIGKILL (no handler runs): mpirun must notice
#include <csignal>
#include <stdexcept>
#include <string>

#include "metarec/distributed/fault.hpp"

int main(int argc, char** argv) {
  metarec::distributed::Environment env(&argc, &argv);
  metarec::distributed::Communicator comm;
  const bool kill = argc > 1 && std::string(argv[1]) == "kill";
  return metarec::distributed::run_or_abort(comm, [&] {
    comm.barrier();
    if (comm.rank() == 1) {
      if (kill) std::raise(SIGKILL);
      throw std::runtime_error("injected failure");
    }
    comm.barrier();  // never completes: rank 1 is gone
    return 0;
  });
}
