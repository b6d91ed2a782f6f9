// Rank 1 throws after the first collective while the others wait in a
// barrier; run_or_abort must end the whole job (driven by run_fault.cmake).
#include <stdexcept>

#include "metarec/distributed/distributed.hpp"

int main(int argc, char** argv) {
  metarec::distributed::Environment env(&argc, &argv);
  metarec::distributed::Communicator comm;
  return metarec::distributed::run_or_abort(comm, [&] {
    comm.barrier();
    if (comm.rank() == 1) throw std::runtime_error("injected failure");
    comm.barrier();  // never completes: rank 1 is gone
    return 0;
  });
}
