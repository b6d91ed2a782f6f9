#pragma once
/// @file device_util.hpp
/// Helpers of the device tests: skip without a GPU, upload / download.
#include "cuda/cuda_test_util.hpp"
#include "metarec/cuda/cuda.hpp"

#include <cstdint>
#include <string>
#include <vector>

/// Ends the test case with a printed reason (and a pass) when no GPU is present.
#define METAREC_REQUIRE_GPU()                                                                              \
  do {                                                                                                     \
    if (::metarec::cuda::Context::device_count() == 0) {                                                  \
      MESSAGE("skipped: no CUDA device (" << ::metarec::cuda::Context::device_count_reason() << ")");     \
      return;                                                                                              \
    }                                                                                                      \
  } while (0)

namespace metarec::test {
template <class T>
cuda::DeviceTensor<T> up(cuda::Context& c, const Tensor<T>& t) { return cuda::copy_to_device(c, t); }
template <class T>
cuda::DeviceTensor<T> up(cuda::Context& c, const std::vector<T>& v) {
  return cuda::copy_to_device(c, v.data(), static_cast<index_t>(v.size()));
}
template <class T>
Tensor<T> down(cuda::Context& c, const cuda::DeviceTensor<T>& t) { return cuda::copy_to_host(c, t); }

/// Device attention forward + backward on (q, k, v) with `args` over `planes`
/// probability entries, compared with the CPU op's run `ref` (output and the
/// three input gradients, labelled "<what> out", "<what> gq", ...). Separate
/// Pd storage when dropout applies, else Pd aliases P as the CPU op does.
template <class T>
void check_attention(cuda::Context& ctx, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                     const cuda::AttentionArgs& args, index_t planes, const CpuRun<T>& ref, const std::string& what) {
  auto P = ctx.alloc<T>({planes});
  auto Pd = args.dropout > 0 ? ctx.alloc<T>({planes}) : P;
  auto out = ctx.alloc<T>(q.shape());
  auto dq = up(ctx, q), dk = up(ctx, k), dv = up(ctx, v);
  auto gq = ctx.zeros<T>(q.shape()), gk = ctx.zeros<T>(k.shape()), gv = ctx.zeros<T>(v.shape());
  cuda::attention_forward(ctx, dq, dk, dv, args, P, Pd, out);
  cuda::attention_backward(ctx, dq, dk, dv, args, P, Pd, up(ctx, ref.seed), gq, gk, gv);
  check_close(down(ctx, out), ref.y, what + " out");
  check_close(down(ctx, gq), ref.grads[0], what + " gq");
  check_close(down(ctx, gk), ref.grads[1], what + " gk");
  check_close(down(ctx, gv), ref.grads[2], what + " gv");
}

/// check_attention for the packed layout: sequences given by host `offsets`
/// (size B + 1), whose plane offsets are computed and uploaded here.
template <class T>
void check_packed_attention(cuda::Context& ctx, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                            const std::vector<std::int32_t>& offsets, int heads, bool causal, double dropout,
                            std::uint64_t seed, const CpuRun<T>& ref, const std::string& what) {
  const index_t sequences = static_cast<index_t>(offsets.size()) - 1;
  std::vector<std::int64_t> planes(offsets.size());
  const index_t nP = cuda::attention_planes(offsets.data(), sequences, heads, planes.data());
  auto doff = up(ctx, offsets);
  auto dplanes = up(ctx, planes);
  cuda::AttentionArgs args;
  args.heads = heads;
  args.causal = causal;
  args.dropout = dropout;
  args.seed = seed;
  args.offsets = doff.data();
  args.plane_offsets = dplanes.data();
  args.sequences = sequences;
  check_attention(ctx, q, k, v, args, nP, ref, what);
}
}  // namespace metarec::test
