#pragma once
/// @file workspace.hpp
/// Per-step bump arena. A training step allocates every intermediate tensor
/// here; reset() rewinds it. After the first step the arena is one block big
/// enough for a whole step, so steady-state steps make no heap allocation.
#include <cstddef>
#include <memory>
#include <vector>

#include "metarec/core/tensor.hpp"

namespace metarec {

class Workspace {
 public:
  static constexpr std::size_t alignment = 64;

  /// Where blocks come from: the heap by default, page-locked host memory for
  /// the staging arena of a device tape (so its uploads can run asynchronously).
  /// (The device arena of cuda/device_workspace.hpp is this class over device blocks.)
  struct BlockSource {
    void* (*alloc)(std::size_t bytes, void* state) = nullptr;  ///< 64-byte aligned, or nullptr on failure
    void (*free)(void* p, void* state) = nullptr;
    void* state = nullptr;
  };
  Workspace() = default;
  explicit Workspace(BlockSource source) : source_(source) {}

  /// Uninitialised, 64-byte aligned memory valid until the next reset().
  void* allocate(std::size_t bytes) {
    bytes = (bytes + alignment - 1) / alignment * alignment;
    if (blocks_.empty() || blocks_.back().used + bytes > blocks_.back().capacity)
      add_block(std::max<std::size_t>(bytes, blocks_.empty() ? initial_ : blocks_.back().capacity * 2));
    Block& b = blocks_.back();
    void* p = b.data.get() + b.used;
    b.used += bytes;
    in_use_ += bytes;
    return p;
  }
  template <class T>
  T* allocate_n(index_t n) { return static_cast<T*>(allocate(static_cast<std::size_t>(n) * sizeof(T))); }

  /// Uninitialised tensor in the arena.
  template <class T>
  Tensor<T> tensor(Shape s) { return Tensor<T>::wrap(allocate_n<T>(s.size()), s); }
  /// Zero-filled tensor in the arena.
  template <class T>
  Tensor<T> zeros(Shape s) {
    Tensor<T> t = tensor<T>(s);
    t.zero();
    return t;
  }

  /// Rewinds the arena; tensors handed out before are invalid afterwards.
  /// Several blocks are merged into one so the next step needs no new block.
  void reset() {
    peak_ = std::max(peak_, in_use_);
    if (blocks_.size() > 1) {
      std::size_t total = 0;
      for (auto& b : blocks_) total += b.capacity;
      blocks_.clear();
      add_block(total);
    }
    if (!blocks_.empty()) blocks_.back().used = 0;
    in_use_ = 0;
  }
  /// Number of heap blocks ever allocated (tests use it to prove steady state).
  std::size_t heap_allocations() const { return heap_allocations_; }
  std::size_t bytes_in_use() const { return in_use_; }
  std::size_t peak_bytes() const { return std::max(peak_, in_use_); }

 private:
  struct Deleter {
    constexpr Deleter() noexcept : free(nullptr), state(nullptr) {}
    constexpr Deleter(void (*f)(void*, void*), void* s) noexcept : free(f), state(s) {}
    void (*free)(void*, void*);
    void* state;
    void operator()(std::byte* p) const {
      if (free) free(p, state);
      else ::operator delete(p, std::align_val_t(alignment));
    }
  };
  struct Block {
    std::unique_ptr<std::byte, Deleter> data;
    std::size_t capacity = 0;
    std::size_t used = 0;
  };
  void add_block(std::size_t bytes) {
    Block b;
    if (source_.alloc) {
      void* p = source_.alloc(bytes, source_.state);
      if (!p) throw std::bad_alloc();
      b.data = std::unique_ptr<std::byte, Deleter>(static_cast<std::byte*>(p), Deleter{source_.free, source_.state});
    } else {
      b.data.reset(static_cast<std::byte*>(::operator new(bytes, std::align_val_t(alignment))));
    }
    b.capacity = bytes;
    blocks_.push_back(std::move(b));
    ++heap_allocations_;
  }
  static constexpr std::size_t initial_ = std::size_t(1) << 20;
  BlockSource source_{};
  std::vector<Block> blocks_;
  std::size_t in_use_ = 0, peak_ = 0, heap_allocations_ = 0;
};

}  // namespace metarec
