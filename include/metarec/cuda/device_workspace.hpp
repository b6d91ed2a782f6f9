#pragma once
/// @file device_workspace.hpp
/// The per-step arena of a device tape: core/workspace.hpp's bump arena over
/// blocks of a Context's caching allocator. A training step on backend::Cuda
/// puts every intermediate tensor here; reset() rewinds it, and after the
/// first step the arena is one block, so steady-state steps call no allocator.
/// Rewinding needs no synchronisation: work queued on the stream that still
/// reads the old tensors runs before anything queued later.
#include <cstddef>
#include <memory>

#include "metarec/core/workspace.hpp"
#include "metarec/cuda/context.hpp"

namespace metarec::cuda {

class DeviceWorkspace {
 public:
  explicit DeviceWorkspace(Context& ctx)
      : ctx_(&ctx),
        allocator_(ctx.allocator_ptr()),
        arena_(Workspace::BlockSource{
            [](std::size_t bytes, void* a) { return static_cast<CachingAllocator*>(a)->allocate(bytes); },
            [](void* p, void* a) { static_cast<CachingAllocator*>(a)->deallocate(p); }, allocator_.get()}) {}

  /// Uninitialised device memory valid until the next reset().
  void* allocate(std::size_t bytes) { return arena_.allocate(bytes); }
  template <class T>
  T* allocate_n(index_t n) { return arena_.template allocate_n<T>(n); }
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
  void reset() { arena_.reset(); }
  std::size_t heap_allocations() const { return arena_.heap_allocations(); }
  std::size_t bytes_in_use() const { return arena_.bytes_in_use(); }
  std::size_t peak_bytes() const { return arena_.peak_bytes(); }
  Context& context() const { return *ctx_; }

 private:
  Context* ctx_;
  std::shared_ptr<CachingAllocator> allocator_;  ///< outlives the arena's blocks (declared before it)
  Workspace arena_;
};

}  // namespace metarec::cuda
