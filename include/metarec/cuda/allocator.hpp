#pragma once
/// @file allocator.hpp
/// Caching allocator for device memory (the design of PyTorch's
/// CUDACachingAllocator, much simplified): freed blocks go to a free list of
/// their size class instead of back to the driver, so after the first
/// training step every allocation is a list pop and cudaMalloc / cudaFree
/// (which synchronise the device) are never called in steady state.
///
/// The raw allocation functions are injected, so the same class serves
/// cudaMalloc in the CUDA library and plain malloc in the host tests that
/// check its bookkeeping. Single-stream use: a block freed while kernels on
/// the stream still read it may be handed out again, which is safe because
/// the next user's work is queued behind them on the same stream.
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "metarec/core/error.hpp"

// AddressSanitizer sees the caching allocator's blocks as whole malloc blocks;
// when they are host memory (tests, the CUDA host emulation) the allocator
// poisons the rounding tail and cached blocks, so reads past a tensor's end or
// of a released tensor are reported although the block itself is live.
// (The sanitizer header's macros are no-ops in a build without ASan.)
#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#define METAREC_ASAN_POISON(addr, size) ASAN_POISON_MEMORY_REGION(addr, size)
#define METAREC_ASAN_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION(addr, size)
#endif
#endif
#if !defined(METAREC_ASAN_POISON)
#define METAREC_ASAN_POISON(addr, size) ((void)(addr), (void)(size))
#define METAREC_ASAN_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

namespace metarec::cuda {

/// Raw allocation functions: alloc returns nullptr on failure.
struct RawAllocator {
  void* (*alloc)(std::size_t bytes, void* state) = nullptr;
  void (*free)(void* p, void* state) = nullptr;
  void* state = nullptr;
  const char* name = "raw";
  /// The blocks are host memory (malloc, the CUDA host emulation): under
  /// AddressSanitizer only a request's own bytes are addressable.
  bool host_memory = false;
  /// Optional: told the bytes a block is handed out for (0 when it is
  /// released), so that the raw side can check accesses against a tensor's
  /// own extent (the CUDA host emulation does).
  void (*in_use)(void* p, std::size_t bytes, void* state) = nullptr;
};

class CachingAllocator {
 public:
  struct Stats {
    std::size_t bytes_in_use = 0;     ///< handed out (size-class bytes)
    std::size_t bytes_cached = 0;     ///< on free lists, ready for reuse
    std::size_t peak_bytes_in_use = 0;
    std::size_t raw_allocations = 0;  ///< cudaMalloc calls (the number to keep flat)
    std::size_t raw_frees = 0;
    std::size_t cache_hits = 0;
  };

  explicit CachingAllocator(RawAllocator raw) : raw_(raw) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;
  ~CachingAllocator() {
    empty_cache();  // blocks still in use belong to live tensors; they hold this allocator alive
  }

  /// Bytes actually reserved for a request: 512 B minimum, powers of two up
  /// to 1 MiB (small tensors of one step share few classes), then multiples
  /// of 2 MiB (large tables waste at most 2 MiB instead of up to half).
  static std::size_t size_class(std::size_t bytes) {
    constexpr std::size_t small = 512, big = std::size_t(1) << 20, page = std::size_t(2) << 20;
    if (bytes <= small) return small;
    if (bytes <= big) {
      std::size_t c = small;
      while (c < bytes) c <<= 1;
      return c;
    }
    return (bytes + page - 1) / page * page;
  }

  /// A block of at least `bytes` (0 gives a minimum block, never nullptr).
  /// Throws metarec::Error when the raw allocator fails even after the cache
  /// was released.
  void* allocate(std::size_t bytes) {
    const std::size_t c = size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* p = nullptr;
    auto it = free_.find(c);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= c;
      ++stats_.cache_hits;
    } else {
      p = raw_.alloc(c, raw_.state);
      if (!p) {  // out of memory: give cached blocks back and retry once
        release_cache_locked();
        p = raw_.alloc(c, raw_.state);
      }
      if (!p)
        throw Error(std::string("CachingAllocator: ") + raw_.name + " failed for " + std::to_string(c) +
                    " bytes (in use " + std::to_string(stats_.bytes_in_use) + " bytes)");
      ++stats_.raw_allocations;
    }
    if (raw_.host_memory) {
      METAREC_ASAN_UNPOISON(p, bytes);
      METAREC_ASAN_POISON(static_cast<char*>(p) + bytes, c - bytes);
    }
    if (raw_.in_use) raw_.in_use(p, bytes, raw_.state);
    live_[p] = c;
    stats_.bytes_in_use += c;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return p;
  }

  /// Returns a block to its free list. Unknown pointers throw (double free).
  void deallocate(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) throw Error("CachingAllocator: deallocate of a pointer it did not hand out (double free?)");
    const std::size_t c = it->second;
    live_.erase(it);
    if (raw_.host_memory) METAREC_ASAN_POISON(p, c);  // use after release is reported
    if (raw_.in_use) raw_.in_use(p, 0, raw_.state);
    free_[c].push_back(p);
    stats_.bytes_in_use -= c;
    stats_.bytes_cached += c;
  }

  /// Gives every cached block back to the raw allocator.
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cache_locked();
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  void release_cache_locked() {
    for (auto& [c, list] : free_) {
      for (void* p : list) {
        if (raw_.host_memory) METAREC_ASAN_UNPOISON(p, c);
        raw_.free(p, raw_.state);
        ++stats_.raw_frees;
      }
      stats_.bytes_cached -= c * list.size();
      list.clear();
    }
  }

  RawAllocator raw_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
  std::unordered_map<void*, std::size_t> live_;
  Stats stats_;
};

}  // namespace metarec::cuda
