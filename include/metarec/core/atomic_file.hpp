#pragma once
/// @file atomic_file.hpp
/// Writes a file so that a crash never leaves it half-written: into
/// PATH.tmp, flushed and fsync'ed, then renamed over PATH (checkpoints,
/// feature files). The temporary file is removed on failure.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#if __has_include(<unistd.h>)
#include <unistd.h>
#define METAREC_HAVE_FSYNC 1
#endif

#include "metarec/core/error.hpp"

namespace metarec {

/// @param who   names the caller in error messages ("save_checkpoint")
/// @param write `bool(std::FILE*)`: writes the content, false on a failed write
/// @throws IoError naming the file when it cannot be opened, written or renamed
template <class Write>
void write_file_atomically(const std::string& path, const char* who, Write&& write) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw IoError(std::string(who) + ": cannot open '" + tmp + "' for writing: " + std::strerror(errno));
  bool ok = write(f) && std::fflush(f) == 0;
#ifdef METAREC_HAVE_FSYNC
  ok = ok && ::fsync(::fileno(f)) == 0;  // data on disk before the rename makes it visible
#endif
  const int saved_errno = errno;
  ok = (std::fclose(f) == 0) && ok;
  std::error_code ec;
  if (!ok) {
    std::filesystem::remove(tmp, ec);
    throw IoError(std::string(who) + ": writing '" + tmp + "' failed: " + std::strerror(saved_errno));
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw IoError(std::string(who) + ": cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  }
}

}  // namespace metarec
