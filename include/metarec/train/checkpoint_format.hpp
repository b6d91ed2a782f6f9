#pragma once
/// @file checkpoint_format.hpp
/// In-memory checkpoint: named tensors (raw little-endian bytes with dtype and
/// shape) plus string metadata. The file layout and save/load are in
/// checkpoint.hpp.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec {

/// Element type codes as stored in the file (never renumber: old files use them).
enum class DType : std::uint32_t { f32 = 1, f64 = 2, i32 = 3, i64 = 4 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  return "unknown";
}
/// Bytes per element; 0 for a code this version does not know.
inline std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::f32: case DType::i32: return 4;
    case DType::f64: case DType::i64: return 8;
  }
  return 0;
}
template <class V>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<V, float>) return DType::f32;
  else if constexpr (std::is_same_v<V, double>) return DType::f64;
  else if constexpr (std::is_same_v<V, std::int32_t>) return DType::i32;
  else {
    static_assert(std::is_same_v<V, std::int64_t>, "checkpoint dtypes are float, double, int32_t, int64_t");
    return DType::i64;
  }
}

namespace detail {
/// Copies n values of V to/from little-endian bytes (a plain copy on
/// little-endian hosts, a byte swap per element elsewhere).
template <class V>
void to_le(const V* src, std::size_t n, std::uint8_t* dst) {
  if (n == 0) return;  // empty tensors may have null pointers; memcpy must not see them
  std::memcpy(dst, src, n * sizeof(V));
  if constexpr (std::endian::native == std::endian::big)
    for (std::size_t i = 0; i < n; ++i) std::reverse(dst + i * sizeof(V), dst + (i + 1) * sizeof(V));
}
template <class V>
void from_le(const std::uint8_t* src, std::size_t n, V* dst) {
  if (n == 0) return;
  std::memcpy(dst, src, n * sizeof(V));
  if constexpr (std::endian::native == std::endian::big) {
    auto* b = reinterpret_cast<std::uint8_t*>(dst);
    for (std::size_t i = 0; i < n; ++i) std::reverse(b + i * sizeof(V), b + (i + 1) * sizeof(V));
  }
}
}  // namespace detail

/// One named tensor of a checkpoint.
struct CheckpointEntry {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;  ///< empty = scalar
  std::vector<std::uint8_t> bytes;  ///< numel() * dtype_size(dtype) bytes, little-endian

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::string shape_str() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
  bool same_shape(const Shape& s) const {
    if (static_cast<int>(shape.size()) != s.rank) return false;
    for (int i = 0; i < s.rank; ++i)
      if (shape[static_cast<std::size_t>(i)] != s[i]) return false;
    return true;
  }
  bool is_floating() const { return dtype == DType::f32 || dtype == DType::f64; }

  /// Snapshot of a tensor's values (float or double).
  template <class T>
  static CheckpointEntry from_tensor(std::string name, const Tensor<T>& t) {
    CheckpointEntry e{std::move(name), dtype_of<T>(), {}, {}};
    for (int i = 0; i < t.rank(); ++i) e.shape.push_back(t.dim(i));
    e.bytes.resize(static_cast<std::size_t>(t.size()) * sizeof(T));
    detail::to_le(t.data(), static_cast<std::size_t>(t.size()), e.bytes.data());
    return e;
  }
  /// A 1-D entry of plain values (counters, ids, RNG state).
  template <class V>
  static CheckpointEntry from_values(std::string name, const std::vector<V>& v) {
    CheckpointEntry e{std::move(name), dtype_of<V>(), {static_cast<std::int64_t>(v.size())}, {}};
    e.bytes.resize(v.size() * sizeof(V));
    detail::to_le(v.data(), v.size(), e.bytes.data());
    return e;
  }
  /// Values of an entry stored with exactly dtype V (integers are never converted).
  template <class V>
  std::vector<V> values() const {
    if (dtype != dtype_of<V>())
      throw CheckpointError("checkpoint tensor '" + name + "' has dtype " + dtype_name(dtype) + ", expected " +
                            dtype_name(dtype_of<V>()));
    std::vector<V> out(static_cast<std::size_t>(numel()));
    detail::from_le(bytes.data(), out.size(), out.data());
    return out;
  }
  /// Copies into `dst` (same number of elements; the caller checked shape and
  /// dtype). f32 <-> f64 is converted element by element.
  template <class T>
  void copy_to(const Tensor<T>& dst) const {
    const auto n = static_cast<std::size_t>(dst.size());
    if (dtype == dtype_of<T>()) {
      detail::from_le(bytes.data(), n, dst.data());
    } else if (dtype == DType::f32) {
      for (std::size_t i = 0; i < n; ++i) {
        float v;
        detail::from_le(bytes.data() + 4 * i, 1, &v);
        dst.data()[i] = static_cast<T>(v);
      }
    } else if (dtype == DType::f64) {
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        detail::from_le(bytes.data() + 8 * i, 1, &v);
        dst.data()[i] = static_cast<T>(v);
      }
    } else {
      throw CheckpointError("checkpoint tensor '" + name + "' has integer dtype " + dtype_name(dtype) +
                            ", cannot load it into a floating-point tensor");
    }
  }
};

/// A whole checkpoint: metadata (e.g. the model config as JSON text under
/// "config") and named tensors in file order.
struct Checkpoint {
  std::map<std::string, std::string> meta;
  std::vector<CheckpointEntry> entries;

  const CheckpointEntry* find(const std::string& name) const {
    for (const auto& e : entries)
      if (e.name == name) return &e;
    return nullptr;
  }
  /// Appends an entry; a name already present is an error.
  CheckpointEntry& add(CheckpointEntry e) {
    if (find(e.name)) throw CheckpointError("checkpoint: tensor '" + e.name + "' added twice");
    entries.push_back(std::move(e));
    return entries.back();
  }
};

}  // namespace metarec
