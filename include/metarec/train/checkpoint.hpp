#pragma once
/// @file checkpoint.hpp
/// Versioned binary checkpoints.
///
/// File layout, version 1. All integers little-endian; no padding.
/// ```
///   size      field
///   8         magic "MRECCKPT"
///   4         u32 version = 1
///   4         u32 N, number of tensor entries
///   4         u32 M, number of metadata pairs
///   M times:  u32 key length, key bytes, u32 value length, value bytes
///   N times:  u32 name length, name bytes (unique, non-empty)
///             u32 dtype code (1 f32, 2 f64, 3 i32, 4 i64)
///             u32 rank r (<= 8), r x i64 dims (>= 0)
///             prod(dims) x sizeof(dtype) bytes of data (row-major, little-endian)
///   4         u32 CRC-32 (IEEE, as zlib) of every byte before it
/// ```
/// Readers accept the versions they know and reject newer ones with a clear
/// message; a format change bumps the version and keeps the old reader
/// (dlib's versioned serialization).
///
/// Name conventions: parameters are stored under their ParameterStore name
/// (optionally behind a prefix); other components' state lives in sections
/// named "<section>/..." (the optimizer under "optimizer/"), so a '/' after
/// the prefix marks an entry that is not a parameter (checkpoint_state.hpp).
///
/// save_checkpoint writes `path + ".tmp"`, flushes it to disk and renames it
/// over `path`, so a crash leaves either the old file or the new one, never a
/// half-written one.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "metarec/core/atomic_file.hpp"
#include "metarec/train/checkpoint_format.hpp"
#include "metarec/train/checkpoint_state.hpp"
#include "metarec/train/crc32.hpp"

namespace metarec {

inline constexpr char checkpoint_magic[8] = {'M', 'R', 'E', 'C', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t checkpoint_version = 1;
inline constexpr std::size_t checkpoint_max_rank = 8;

namespace detail {
/// Buffered file writer that checksums what it writes.
class CheckpointWriter {
 public:
  explicit CheckpointWriter(std::FILE* f) : f_(f) {}
  void bytes(const void* p, std::size_t n) {
    crc_.update(p, n);
    if (n && std::fwrite(p, 1, n, f_) != n) ok_ = false;
  }
  template <class V>
  void value(V v) {
    std::uint8_t b[sizeof(V)];
    to_le(&v, 1, b);
    bytes(b, sizeof(V));
  }
  void string(const std::string& s) {
    value(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::uint32_t crc() const { return crc_.value(); }
  bool ok() const { return ok_; }

 private:
  std::FILE* f_;
  Crc32 crc_;
  bool ok_ = true;
};

/// A problem found while parsing: truncation is told apart from other damage.
struct FormatIssue {
  bool truncated;
  std::string what;
};

/// Bounds-checked reader over the bytes before the checksum.
class CheckpointReader {
 public:
  /// Reads n bytes at p; `base` is p's offset in the file (for messages).
  CheckpointReader(const std::uint8_t* p, std::size_t n, std::size_t base) : p_(p), n_(n), base_(base) {}
  const std::uint8_t* take(std::size_t k, const std::string& what) {
    if (k > n_ - pos_)
      throw FormatIssue{true, what + " needs " + std::to_string(k) + " bytes at offset " + std::to_string(base_ + pos_) +
                                  " but only " + std::to_string(n_ - pos_) + " remain"};
    const std::uint8_t* q = p_ + pos_;
    pos_ += k;
    return q;
  }
  template <class V>
  V value(const std::string& what) {
    V v;
    from_le(take(sizeof(V), what), 1, &v);
    return v;
  }
  std::string string(const std::string& what) {
    const auto len = value<std::uint32_t>(what + " length");
    const auto* q = take(len, what);
    return std::string(reinterpret_cast<const char*>(q), len);
  }
  std::size_t remaining() const { return n_ - pos_; }

 private:
  const std::uint8_t* p_;
  std::size_t n_, base_, pos_ = 0;
};

/// Parses everything after magic and version; throws FormatIssue.
inline Checkpoint parse_checkpoint_body(CheckpointReader& r) {
  Checkpoint ck;
  const auto n = r.value<std::uint32_t>("entry count");
  const auto m = r.value<std::uint32_t>("metadata count");
  for (std::uint32_t i = 0; i < m; ++i) {
    std::string key = r.string("metadata key " + std::to_string(i));
    std::string val = r.string("metadata value '" + key + "'");
    if (!ck.meta.emplace(std::move(key), std::move(val)).second)
      throw FormatIssue{false, "metadata key '" + key + "' appears twice"};
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    CheckpointEntry e;
    e.name = r.string("name of tensor " + std::to_string(i));
    const std::string who = "tensor '" + e.name + "'";
    if (e.name.empty()) throw FormatIssue{false, "tensor " + std::to_string(i) + " has an empty name"};
    const auto code = r.value<std::uint32_t>("dtype of " + who);
    e.dtype = static_cast<DType>(code);
    if (dtype_size(e.dtype) == 0) throw FormatIssue{false, who + " has unknown dtype code " + std::to_string(code)};
    const auto rank = r.value<std::uint32_t>("rank of " + who);
    if (rank > checkpoint_max_rank) throw FormatIssue{false, who + " has rank " + std::to_string(rank) + " > 8"};
    std::uint64_t count = 1;
    for (std::uint32_t k = 0; k < rank; ++k) {
      const auto d = r.value<std::int64_t>("dims of " + who);
      if (d < 0) throw FormatIssue{false, who + " has negative dimension " + std::to_string(d)};
      // Any count above the remaining bytes is truncation; saturate to avoid overflow.
      const std::uint64_t cap = std::uint64_t(1) << 56, ud = static_cast<std::uint64_t>(d);
      count = (ud != 0 && count > cap / ud) ? cap : count * ud;
      e.shape.push_back(d);
    }
    const std::uint64_t nbytes = count * dtype_size(e.dtype);
    const std::uint8_t* q = r.take(static_cast<std::size_t>(nbytes), "data of " + who);
    e.bytes.assign(q, q + nbytes);
    if (ck.find(e.name)) throw FormatIssue{false, who + " appears twice"};
    ck.entries.push_back(std::move(e));
  }
  if (r.remaining() != 0)
    throw FormatIssue{false, std::to_string(r.remaining()) + " unexpected bytes after the last tensor"};
  return ck;
}

inline void validate_for_save(const std::string& path, const Checkpoint& ck) {
  const std::string where = "save_checkpoint '" + path + "': ";
  if (ck.entries.size() > UINT32_MAX || ck.meta.size() > UINT32_MAX) throw CheckpointError(where + "too many entries");
  for (const auto& [k, v] : ck.meta)
    if (k.size() > UINT32_MAX || v.size() > UINT32_MAX) throw CheckpointError(where + "metadata '" + k + "' too long");
  for (std::size_t i = 0; i < ck.entries.size(); ++i) {
    const CheckpointEntry& e = ck.entries[i];
    const std::string who = where + "tensor '" + e.name + "'";
    if (e.name.empty() || e.name.size() > UINT32_MAX) throw CheckpointError(where + "tensor " + std::to_string(i) + " has an empty or too long name");
    if (dtype_size(e.dtype) == 0) throw CheckpointError(who + " has an unknown dtype");
    if (e.shape.size() > checkpoint_max_rank) throw CheckpointError(who + " has rank > 8");
    for (auto d : e.shape)
      if (d < 0) throw CheckpointError(who + " has a negative dimension " + e.shape_str());
    if (e.bytes.size() != static_cast<std::size_t>(e.numel()) * dtype_size(e.dtype))
      throw CheckpointError(who + " holds " + std::to_string(e.bytes.size()) + " bytes, shape " + e.shape_str() +
                            " of " + dtype_name(e.dtype) + " needs " +
                            std::to_string(static_cast<std::size_t>(e.numel()) * dtype_size(e.dtype)));
    for (std::size_t j = 0; j < i; ++j)
      if (ck.entries[j].name == e.name) throw CheckpointError(who + " appears twice");
  }
}
}  // namespace detail

/// Writes `ck` atomically (temporary file + rename). Throws CheckpointError for
/// an invalid checkpoint (before touching the disk) and IoError when the file
/// cannot be written; the temporary file is removed on failure.
inline void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  detail::validate_for_save(path, ck);
  write_file_atomically(path, "save_checkpoint", [&](std::FILE* f) {
    detail::CheckpointWriter w(f);
    w.bytes(checkpoint_magic, sizeof checkpoint_magic);
    w.value(checkpoint_version);
    w.value(static_cast<std::uint32_t>(ck.entries.size()));
    w.value(static_cast<std::uint32_t>(ck.meta.size()));
    for (const auto& [k, v] : ck.meta) {
      w.string(k);
      w.string(v);
    }
    for (const auto& e : ck.entries) {
      w.string(e.name);
      w.value(static_cast<std::uint32_t>(e.dtype));
      w.value(static_cast<std::uint32_t>(e.shape.size()));
      for (auto d : e.shape) w.value(static_cast<std::int64_t>(d));
      w.bytes(e.bytes.data(), e.bytes.size());
    }
    w.value(w.crc());
    return w.ok();
  });
}

/// Reads and validates a checkpoint. Throws IoError when the file cannot be
/// read, CheckpointError naming the file and the problem: bad magic,
/// unsupported version, truncation (naming the tensor it cuts), checksum
/// mismatch, malformed content.
inline Checkpoint load_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw IoError("load_checkpoint: '" + path + "' does not exist or is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("load_checkpoint: cannot open '" + path + "'");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0 || !in) throw IoError("load_checkpoint: cannot determine the size of '" + path + "'");
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(size)))
    throw IoError("load_checkpoint: error reading '" + path + "'");
  const std::string where = "checkpoint '" + path + "': ";
  if (buf.empty()) throw CheckpointError(where + "truncated: the file is empty");
  const std::size_t magic_seen = std::min(buf.size(), sizeof checkpoint_magic);
  if (std::memcmp(buf.data(), checkpoint_magic, magic_seen) != 0)
    throw CheckpointError(where + "bad magic (not a metarec checkpoint)");
  if (buf.size() < 12) throw CheckpointError(where + "truncated: file has " + std::to_string(buf.size()) + " bytes");
  std::uint32_t version;
  detail::from_le(buf.data() + 8, 1, &version);
  if (version == 0 || version > checkpoint_version)
    throw CheckpointError(where + "unsupported version " + std::to_string(version) + " (this build reads version " +
                          std::to_string(checkpoint_version) + ")");
  if (buf.size() < 24) throw CheckpointError(where + "truncated: file has " + std::to_string(buf.size()) + " bytes");
  const std::size_t body = buf.size() - 4;
  std::uint32_t stored;
  detail::from_le(buf.data() + body, 1, &stored);
  const std::uint32_t computed = crc32(buf.data(), body);
  detail::CheckpointReader r(buf.data() + 12, body - 12, 12);
  try {
    Checkpoint ck = detail::parse_checkpoint_body(r);
    if (stored == computed) return ck;
  } catch (const detail::FormatIssue& issue) {
    // With a bad checksum, running out of bytes means truncation (or a
    // damaged length field); any other inconsistency is the corruption the
    // checksum reports.
    if (issue.truncated)
      throw CheckpointError(where + "truncated (or a length field is corrupted): " + issue.what + " (file has " +
                            std::to_string(buf.size()) + " bytes)");
    if (stored == computed) throw CheckpointError(where + "malformed: " + issue.what);
  }
  char hex[64];
  std::snprintf(hex, sizeof hex, "stored 0x%08x, computed 0x%08x", stored, computed);
  throw CheckpointError(where + "checksum mismatch (" + hex + "): the file is corrupted");
}

}  // namespace metarec
