#pragma once
/// @file device_workspace.hpp
/// The device twin of core/workspace.hpp: a per-step bump arena over blocks
/// of a Context's caching allocator. A training step on backend::Cuda puts
/// every intermediate tensor here; reset() rewinds it, and after the first
/// step the arena is one block, so steady-state steps call no allocator.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "metarec/cuda/context.hpp"

namespace metarec::cuda {

class DeviceWorkspace {
 public:
  static constexpr std::size_t alignment = 256;  ///< cudaMalloc's own alignment: coalesced, vector loads

  explicit DeviceWorkspace(Context& ctx) : ctx_(&ctx) {}

  /// Uninitialised device memory valid until the next reset().
  void* allocate(std::size_t bytes) {
    bytes = std::max<std::size_t>((bytes + alignment - 1) / alignment * alignment, alignment);
    if (blocks_.empty() || blocks_.back().used + bytes > blocks_.back().capacity)
      add_block(std::max<std::size_t>(bytes, blocks_.empty() ? initial_ : blocks_.back().capacity * 2));
    Block& b = blocks_.back();
    void* p = static_cast<std::byte*>(b.data.get()) + b.used;
    b.used += bytes;
    in_use_ += bytes;
    return p;
  }
  template <class T>
  T* allocate_n(index_t n) { return static_cast<T*>(allocate(static_cast<std::size_t>(n) * sizeof(T))); }
  /// Uninitialised device tensor in the arena.
  template <class T>
  DeviceTensor<T> tensor(Shape s) { return DeviceTensor<T>::wrap(allocate_n<T>(s.size()), s); }
  /// Zero-filled device tensor in the arena (a queued memset).
  template <class T>
  DeviceTensor<T> zeros(Shape s) {
    DeviceTensor<T> t = tensor<T>(s);
    ctx_->memset_zero(t.data(), static_cast<std::size_t>(s.size()) * sizeof(T));
    return t;
  }

  /// Rewinds the arena. Blocks are merged into one so the next step needs no
  /// new block. Work queued on the stream that still reads the old tensors
  /// runs before anything queued later, so no synchronisation is needed.
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
  std::size_t heap_allocations() const { return heap_allocations_; }
  std::size_t bytes_in_use() const { return in_use_; }
  std::size_t peak_bytes() const { return std::max(peak_, in_use_); }
  Context& context() const { return *ctx_; }

 private:
  struct Block {
    std::shared_ptr<void> data;
    std::size_t capacity = 0;
    std::size_t used = 0;
  };
  void add_block(std::size_t bytes) {
    std::shared_ptr<CachingAllocator> a = ctx_->allocator_ptr();
    void* p = a->allocate(bytes);
    blocks_.push_back(Block{std::shared_ptr<void>(p, [a](void* q) { a->deallocate(q); }), bytes, 0});
    ++heap_allocations_;
  }
  static constexpr std::size_t initial_ = std::size_t(1) << 20;
  Context* ctx_;
  std::vector<Block> blocks_;
  std::size_t in_use_ = 0, peak_ = 0, heap_allocations_ = 0;
};

}  // namespace metarec::cuda
