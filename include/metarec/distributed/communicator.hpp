#pragma once
/// @file communicator.hpp
/// RAII wrappers over the few MPI calls metarec uses (MPI 3.1; Open MPI 4.1
/// from Debian). Include only in programs built with MPI (CMake target
/// metarec::mpi, which defines METAREC_WITH_MPI=1); the rest of the library
/// never includes <mpi.h>.
///
/// Errors: the communicator is a duplicate of MPI_COMM_WORLD with
/// MPI_ERRORS_RETURN, and every call's return code goes through check(),
/// which throws distributed::MpiError with MPI_Error_string's text. An
/// error handler that throws from inside the MPI library would unwind
/// through C frames (undefined behaviour), hence return codes.
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "metarec/core/error.hpp"

namespace metarec::distributed {

class MpiError : public Error {
 public:
  using Error::Error;
};

/// Throws MpiError naming the call when `rc` is not MPI_SUCCESS.
inline void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw MpiError(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
}

template <class T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int32_t>) return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, std::int64_t>) return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
  else static_assert(sizeof(T) == 0, "mpi_type: unsupported element type");
}

/// MPI_Init_thread / MPI_Finalize. FUNNELED: only the main thread calls MPI;
/// OpenMP threads compute between calls. Does nothing when MPI is already
/// initialized (a host program that set MPI up itself keeps ownership).
class Environment {
 public:
  Environment(int* argc = nullptr, char*** argv = nullptr) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited) return;
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owner_ = true;
  }
  ~Environment() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owner_ && !finalized) MPI_Finalize();
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  bool owner_ = false;
};

/// A private duplicate of a communicator (MPI_COMM_WORLD by default), so
/// metarec's messages never match a host program's, with errors as exceptions.
class Communicator {
 public:
  explicit Communicator(MPI_Comm parent = MPI_COMM_WORLD) {
    check(MPI_Comm_dup(parent, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  ~Communicator() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm get() const { return comm_; }

  /// In-place element-wise sum over ranks. MPI fixes no summation order; Open
  /// MPI's algorithms give every rank the same bits (checked by the tests).
  template <class T>
  void allreduce_sum(std::span<T> data) const {
    if (data.empty()) return;
    check(MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()), mpi_type<T>(), MPI_SUM, comm_),
          "MPI_Allreduce");
  }
  template <class T>
  T allreduce_max(T v) const {
    check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, mpi_type<T>(), MPI_MAX, comm_), "MPI_Allreduce(max)");
    return v;
  }
  /// out[r * in.size() + i] = rank r's in[i].
  template <class T>
  void allgather(std::span<const T> in, std::span<T> out) const {
    if (out.size() != in.size() * static_cast<std::size_t>(size_)) throw ShapeError("allgather: output size");
    check(MPI_Allgather(in.data(), static_cast<int>(in.size()), mpi_type<T>(), out.data(), static_cast<int>(in.size()),
                        mpi_type<T>(), comm_),
          "MPI_Allgather");
  }
  /// Concatenation of every rank's bytes in rank order; `counts[r]` = rank r's size.
  void allgatherv_bytes(std::span<const std::byte> in, std::span<std::byte> out, std::span<const int> counts) const {
    displs_.resize(static_cast<std::size_t>(size_));
    std::size_t off = 0;
    for (int r = 0; r < size_; ++r) {
      displs_[static_cast<std::size_t>(r)] = static_cast<int>(off);
      off += static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]);
    }
    if (off != out.size() || static_cast<int>(in.size()) != counts[static_cast<std::size_t>(rank_)])
      throw ShapeError("allgatherv: counts do not match the buffers");
    check(MPI_Allgatherv(in.data(), static_cast<int>(in.size()), MPI_BYTE, out.data(), counts.data(), displs_.data(),
                         MPI_BYTE, comm_),
          "MPI_Allgatherv");
  }
  /// Same, for typed elements (counts in elements).
  template <class T>
  void allgatherv(std::span<const T> in, std::span<T> out, std::span<const int> counts) const {
    displs_.resize(static_cast<std::size_t>(size_));
    int off = 0;
    for (int r = 0; r < size_; ++r) displs_[static_cast<std::size_t>(r)] = off, off += counts[static_cast<std::size_t>(r)];
    if (static_cast<std::size_t>(off) != out.size()) throw ShapeError("allgatherv: counts do not match the output");
    check(MPI_Allgatherv(in.data(), static_cast<int>(in.size()), mpi_type<T>(), out.data(), counts.data(),
                         displs_.data(), mpi_type<T>(), comm_),
          "MPI_Allgatherv");
  }
  /// Every rank gets `root`'s data.
  template <class T>
  void broadcast(std::span<T> data, int root) const {
    if (data.empty()) return;
    check(MPI_Bcast(data.data(), static_cast<int>(data.size()), mpi_type<T>(), root, comm_), "MPI_Bcast");
  }
  void barrier() const { check(MPI_Barrier(comm_), "MPI_Barrier"); }
  /// Ends every process of the job (Open MPI's mpirun then exits non-zero and
  /// names the aborting rank).
  [[noreturn]] void abort(int code) const {
    MPI_Abort(comm_, code);
    std::abort();
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  mutable std::vector<int> displs_;
};

}  // namespace metarec::distributed
