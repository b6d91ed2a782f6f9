#pragma once
/// @file fault.hpp
/// A rank that throws must not leave the others blocked in a collective
/// forever: run_or_abort prints the error with the rank's number and calls
/// MPI_Abort, which makes Open MPI's mpirun kill every rank and exit
/// non-zero ("MPI_ABORT was invoked on rank R ..."). A rank that dies without
/// throwing (a signal) is detected by mpirun itself, which also ends the job.
#include <cstdio>
#include <exception>
#include <utility>

#include "metarec/distributed/communicator.hpp"

namespace metarec::distributed {

/// Runs f(); on an exception prints "metarec: rank R/N: <what>" to stderr and
/// aborts the whole job with `code`. Returns f()'s result otherwise.
template <class F>
decltype(auto) run_or_abort(const Communicator& comm, F&& f, int code = 1) {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "metarec: rank %d of %d failed: %s (aborting all ranks)\n", comm.rank(), comm.size(), e.what());
    std::fflush(stderr);
    comm.abort(code);
  }
}

}  // namespace metarec::distributed
