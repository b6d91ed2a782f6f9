#pragma once
/// @file npy_writer.hpp
/// Writes a float32 rank-2 matrix as a NumPy `.npy` file, format 1.0
/// (numpy.lib.format): magic "\x93NUMPY", version 1.0, a little-endian uint16
/// header length, the header dict
///   {'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }
/// padded with spaces and ended by '\n' so that the data starts on a 64-byte
/// boundary, then rows * cols little-endian float32 values in C order.
/// read_npy_features (features.hpp) reads these files back; numpy.load does too.
///
/// The path variant writes `path + ".tmp"`, flushes (and fsyncs where POSIX
/// is available) and renames it over `path`: a crash never leaves a
/// half-written feature file, and the temporary is removed on failure.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "metarec/core/atomic_file.hpp"
#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec::data {

namespace detail {

/// The complete header (magic .. '\n') of a float32 C-order [rows, cols] array.
inline std::string npy_header_f32(std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0)
    throw ShapeError("write_npy: negative shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                     std::to_string(cols) + "), }";
  const std::size_t unpadded = 10 + dict.size() + 1;  // magic(6) + version(2) + length(2) + dict + '\n'
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  const auto len = static_cast<std::uint16_t>(dict.size());  // < 200 bytes: always fits format 1.0
  std::string h = "\x93NUMPY";
  h.push_back('\x01');
  h.push_back('\x00');
  h.push_back(static_cast<char>(len & 0xFF));
  h.push_back(static_cast<char>(len >> 8));
  return h + dict;
}

/// Calls sink(bytes, n) with the header, then the data in little-endian chunks.
template <class Sink>
void emit_npy_f32(const float* data, std::int64_t rows, std::int64_t cols, Sink&& sink) {
  const std::string h = npy_header_f32(rows, cols);
  sink(h.data(), h.size());
  const auto total = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  if constexpr (std::endian::native == std::endian::little) {
    sink(reinterpret_cast<const char*>(data), total * sizeof(float));
  } else {
    std::vector<std::uint32_t> buf;
    for (std::size_t at = 0; at < total; at += 1 << 16) {
      const std::size_t n = std::min<std::size_t>(total - at, 1 << 16);
      buf.resize(n);
      std::memcpy(buf.data(), data + at, n * sizeof(float));
      for (auto& w : buf) w = (w >> 24) | ((w >> 8) & 0xFF00u) | ((w << 8) & 0xFF0000u) | (w << 24);
      sink(reinterpret_cast<const char*>(buf.data()), n * sizeof(float));
    }
  }
}

}  // namespace detail

/// Writes row-major float32 `data` [rows, cols] to a stream as .npy 1.0.
/// @throws IoError when the stream fails.
inline void write_npy(std::ostream& out, const float* data, std::int64_t rows, std::int64_t cols,
                      const std::string& name = "<stream>") {
  detail::emit_npy_f32(data, rows, cols, [&](const char* p, std::size_t n) {
    out.write(p, static_cast<std::streamsize>(n));
  });
  if (!out.flush()) throw IoError("write_npy: writing '" + name + "' failed");
}

/// Writes row-major float32 `data` [rows, cols] to `path` atomically.
/// @throws IoError naming the file when it cannot be written or renamed.
inline void write_npy(const std::string& path, const float* data, std::int64_t rows, std::int64_t cols) {
  write_file_atomically(path, "write_npy", [&](std::FILE* f) {
    bool ok = true;
    detail::emit_npy_f32(data, rows, cols, [&](const char* p, std::size_t n) {
      ok = ok && std::fwrite(p, 1, n, f) == n;
    });
    return ok;
  });
}

/// A rank-2 Tensor<float> (rank 1 is written as one row).
inline void write_npy(const std::string& path, const Tensor<float>& t) {
  if (t.rank() > 2) throw ShapeError("write_npy: expected a rank-2 tensor, got shape " + t.shape().str());
  write_npy(path, t.data(), t.shape().rows(), t.shape().cols());
}

}  // namespace metarec::data
