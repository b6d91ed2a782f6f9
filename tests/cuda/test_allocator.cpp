// The caching allocator's bookkeeping, run over malloc (the CUDA library
// runs the same class over cudaMalloc).
#include <doctest/doctest.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "metarec/cuda/allocator.hpp"

using metarec::cuda::CachingAllocator;
using metarec::cuda::RawAllocator;

namespace {
struct Budget {
  std::size_t left;  // bytes the fake device still has
  int calls = 0;
};
void* budget_alloc(std::size_t n, void* s) {
  auto* b = static_cast<Budget*>(s);
  ++b->calls;
  if (n > b->left) return nullptr;
  b->left -= n;
  void* p = std::malloc(n);
  *static_cast<std::size_t*>(p) = n;
  return p;
}
void budget_free(void* p, void* s) {
  static_cast<Budget*>(s)->left += *static_cast<std::size_t*>(p);
  std::free(p);
}
std::vector<std::pair<void*, std::size_t>> marks;  // in_use calls, in order
void mark(void* p, std::size_t bytes, void*) { marks.emplace_back(p, bytes); }

#if defined(__SANITIZE_ADDRESS__)
#define METAREC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define METAREC_TEST_ASAN 1
#endif
#endif
/// Whether ASan reports an access to p (always false without ASan).
bool poisoned(const void* p) {
#ifdef METAREC_TEST_ASAN
  return __asan_address_is_poisoned(p) != 0;
#else
  (void)p;
  return false;
#endif
}
}  // namespace

TEST_CASE("caching allocator: host blocks expose a request's own bytes (in_use hook, ASan poisoning)") {
  marks.clear();
  Budget b{std::size_t(1) << 30};
  RawAllocator raw{&budget_alloc, &budget_free, &b, "fake"};
  raw.host_memory = true;
  raw.in_use = &mark;
  {
    CachingAllocator a(raw);
    auto* p = static_cast<unsigned char*>(a.allocate(100));  // a 512-byte block
    REQUIRE(!marks.empty());
    CHECK(marks.back() == std::pair<void*, std::size_t>(p, 100));
    p[99] = 1;
#ifdef METAREC_TEST_ASAN
    CHECK(!poisoned(p + 99));
    CHECK(poisoned(p + 100));
    CHECK(poisoned(p + 511));
#endif
    a.deallocate(p);
    CHECK(marks.back() == std::pair<void*, std::size_t>(p, 0));
#ifdef METAREC_TEST_ASAN
    CHECK(poisoned(p));  // a released tensor's bytes
#endif
    auto* q = static_cast<unsigned char*>(a.allocate(300));  // the same cached block, 300 bytes wide now
    CHECK(q == p);
    CHECK(marks.back() == std::pair<void*, std::size_t>(q, 300));
#ifdef METAREC_TEST_ASAN
    CHECK(!poisoned(q + 299));
    CHECK(poisoned(q + 300));
#endif
    a.deallocate(q);
  }  // the destructor hands the block back; budget_free reads its first bytes, so they must be addressable again
  CHECK(b.left == std::size_t(1) << 30);
}

TEST_CASE("caching allocator: size classes") {
  CHECK(CachingAllocator::size_class(0) == 512);
  CHECK(CachingAllocator::size_class(512) == 512);
  CHECK(CachingAllocator::size_class(513) == 1024);
  CHECK(CachingAllocator::size_class(1 << 20) == (1u << 20));
  CHECK(CachingAllocator::size_class((1 << 20) + 1) == (2u << 20));
  CHECK(CachingAllocator::size_class((5u << 20) + 7) == (6u << 20));
}

TEST_CASE("caching allocator: a repeated step allocates from the driver only once") {
  Budget b{std::size_t(1) << 30};
  CachingAllocator a(RawAllocator{&budget_alloc, &budget_free, &b, "fake"});
  for (int step = 0; step < 5; ++step) {
    void* x = a.allocate(1000);
    void* y = a.allocate(3u << 20);
    void* z = a.allocate(1000);
    CHECK(x != z);
    a.deallocate(y);
    a.deallocate(x);
    a.deallocate(z);
  }
  const auto s = a.stats();
  CHECK(s.raw_allocations == 3);
  CHECK(s.cache_hits == 12);
  CHECK(s.bytes_in_use == 0);
  CHECK(s.bytes_cached == 2 * 1024 + (4u << 20));
  CHECK(s.peak_bytes_in_use == 2 * 1024 + (4u << 20));
  a.empty_cache();
  CHECK(a.stats().bytes_cached == 0);
  CHECK(a.stats().raw_frees == 3);
}

TEST_CASE("caching allocator: out of memory releases the cache and retries; double free throws") {
  Budget b{std::size_t(8) << 20};
  CachingAllocator a(RawAllocator{&budget_alloc, &budget_free, &b, "fake"});
  void* big = a.allocate(6u << 20);
  a.deallocate(big);  // cached: the fake device now has 2 MiB left
  void* other = a.allocate(4u << 20);  // fails once, cache released, succeeds
  CHECK(other != nullptr);
  CHECK(a.stats().raw_frees == 1);
  CHECK_THROWS_AS(a.allocate(16u << 20), metarec::Error);
  a.deallocate(other);
  CHECK_THROWS_AS(a.deallocate(other), metarec::Error);
}
