#pragma once
/// @file crc32.hpp
/// CRC-32 (IEEE 802.3 / zlib / PNG: reflected polynomial 0xEDB88320, initial
/// and final XOR 0xFFFFFFFF), table-driven. Used to detect corrupted
/// checkpoints; crc32("123456789") == 0xCBF43926.
#include <array>
#include <cstddef>
#include <cstdint>

namespace metarec {

namespace detail {
inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}();
}  // namespace detail

/// Incremental CRC-32: feed bytes with update(), read value().
class Crc32 {
 public:
  void update(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint32_t c = state_;
    for (std::size_t i = 0; i < n; ++i) c = detail::crc32_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    state_ = c;
  }
  std::uint32_t value() const { return state_ ^ 0xFFFFFFFFu; }

 private:
  std::uint32_t state_ = 0xFFFFFFFFu;
};

inline std::uint32_t crc32(const void* data, std::size_t n) {
  Crc32 c;
  c.update(data, n);
  return c.value();
}

}  // namespace metarec
