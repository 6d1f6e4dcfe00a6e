// The CUDA backend's basics: device probing, the caching allocator, host↔device copies and the
// first op's CPU-vs-GPU parity (ReLU, forward and backward, f32 and bf16). Without a CUDA build or
// without a GPU every test here skips and says why; the probe's own test runs everywhere it is built.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/build_info.h"
#include "core/tensor.h"
#include "ops/relu.h"
#include "tests/support/cuda_test.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

#if JOULE_HAVE_CUDA
#include "cuda/device.h"
#include "cuda/relu.h"
#endif

namespace joule {
namespace {

// In every build: an op given a context on a GPU that carries no GPU ops (a build without CUDA, or a
// context not made by make_cuda_context) refuses, naming the op, instead of touching device memory.
TEST(GpuDispatch, AGpuContextWithoutGpuOpsIsRefusedByName) {
  Context ctx = make_cpu_context(1, 0);
  ctx.device = Device::cuda(0);
  Tensor y;
  const Tensor x = Tensor::zeros({2, 3});
  testing::expect_invalid_input([&] { relu_forward(ctx, y, x); }, {"relu_forward", "cuda:0", "no GPU ops"});
  testing::expect_invalid_input([&] { (void)empty_tensor(ctx, {4}); }, {"cuda:0", "device runtime"});
}

#if JOULE_HAVE_CUDA

TEST(CudaDevices, ProbeNeverThrowsAndExplainsNone) {
  const CudaDevices devices = probe_cuda_devices();
  EXPECT_GE(devices.count, 0);
  if (devices.count == 0) {
    EXPECT_FALSE(devices.why_none.empty()) << "no device must come with the runtime's reason";
    EXPECT_THROW(make_cuda_context(0, 1, 0), Error) << "a context on a missing GPU is refused";
  } else {
    EXPECT_NE(describe_cuda_device(0).find("sm_"), std::string::npos) << describe_cuda_device(0);
  }
}

TEST(CudaAllocator, SteadyStateReusesBlocksWithoutCudaMalloc) {
  SKIP_WITHOUT_GPU();
  Context ctx = make_cuda_context(0, 1, 0);
  CachingAllocator& allocator = device_state(ctx).allocator();
  for (int step = 0; step < 5; ++step) {  // the same sizes every "step"
    Tensor a = cuda::empty(ctx, {1000, 10}), b = cuda::empty(ctx, {3, 300000}), c = cuda::empty(ctx, {7});
    EXPECT_FALSE(a.raw_data() == b.raw_data() || b.raw_data() == c.raw_data());
  }
  EXPECT_EQ(allocator.stats().device_allocations, 3u) << "only the first step reaches cudaMalloc";
  EXPECT_EQ(allocator.stats().requests, 15u);
  EXPECT_EQ(allocator.stats().in_use_bytes, 0u);
  EXPECT_EQ(CachingAllocator::rounded(1), 512u);
  EXPECT_EQ(CachingAllocator::rounded((1u << 20) + 1), 2u << 20);
}

TEST(CudaCopies, RoundTripIsExact) {
  SKIP_WITHOUT_GPU();
  Context ctx = make_cuda_context(0, 1, 0);
  const Tensor host = testing::random_tensor({17, 33}, 5);
  const Tensor back = cuda::to_host(ctx, cuda::to_device(ctx, host));
  EXPECT_EQ(back.to_floats(), host.to_floats());
  // batches reach the device through one buffer kept across steps
  Tensor buffer;
  const Tensor first = to_context_device(ctx, host, buffer);
  const Tensor second = to_context_device(ctx, testing::random_tensor({17, 33}, 6), buffer);
  EXPECT_EQ(first.raw_data(), second.raw_data()) << "the same device buffer";
  EXPECT_EQ(cuda::to_host(ctx, second).to_floats(), testing::random_tensor({17, 33}, 6).to_floats());
  Context cpu = make_cpu_context(1, 0);
  Tensor unused;
  EXPECT_EQ(to_context_device(cpu, host, unused).raw_data(), host.raw_data()) << "a CPU context takes the host tensor";
}

// ReLU is exact in both precisions (a comparison and a copy), so the GPU must match the CPU bit for
// bit: f32 directly, bf16 against the CPU on the bf16-rounded inputs. NaN propagates forward.
TEST(CudaParity, ReluForwardBackwardMatchTheCpuExactly) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0);
  Context cpu = make_cpu_context(1, 0);
  Tensor x = testing::random_tensor({64, 129}, 7), dy = testing::random_tensor({64, 129}, 8);
  x.data<float>()[3] = 0.0f;
  x.data<float>()[4] = std::numeric_limits<float>::quiet_NaN();
  Tensor y_cpu, dx_cpu;
  relu_forward(cpu, y_cpu, x);
  relu_backward(cpu, dx_cpu, dy, y_cpu);
  Tensor y_gpu, dx_gpu;
  cuda::relu_forward(gpu, y_gpu, cuda::to_device(gpu, x));
  cuda::relu_backward(gpu, dx_gpu, cuda::to_device(gpu, dy), y_gpu);
  const std::vector<float> y = cuda::to_host(gpu, y_gpu).to_floats(), dx = cuda::to_host(gpu, dx_gpu).to_floats();
  const std::vector<float> y_ref = y_cpu.to_floats(), dx_ref = dx_cpu.to_floats();
  ASSERT_EQ(y.size(), y_ref.size());
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isnan(y_ref[i])) {
      EXPECT_TRUE(std::isnan(y[i])) << i;
      continue;
    }
    EXPECT_EQ(y[i], y_ref[i]) << i;
    EXPECT_EQ(dx[i], dx_ref[i]) << i;
  }

  // bf16: the CPU reference on the bf16 roundings; the GPU's bf16 results read back and widened
  const Tensor x16 = testing::to_bf16(x), dy16 = testing::to_bf16(dy);
  const Tensor x_rounded = testing::widen(x16), dy_rounded = testing::widen(dy16);
  relu_forward(cpu, y_cpu, x_rounded);
  relu_backward(cpu, dx_cpu, dy_rounded, y_cpu);
  Tensor y16, dx16;
  cuda::relu_forward(gpu, y16, cuda::to_device(gpu, x16));
  cuda::relu_backward(gpu, dx16, cuda::to_device(gpu, dy16), y16);
  const std::vector<float> y_b = testing::widen(cuda::to_host(gpu, y16)).to_floats(),
                           dx_b = testing::widen(cuda::to_host(gpu, dx16)).to_floats();
  const std::vector<float> y_bref = y_cpu.to_floats(), dx_bref = dx_cpu.to_floats();
  for (size_t i = 0; i < y_b.size(); ++i) {
    if (std::isnan(y_bref[i])) continue;
    EXPECT_EQ(y_b[i], y_bref[i]) << "bf16 " << i;
    EXPECT_EQ(dx_b[i], dx_bref[i]) << "bf16 " << i;
  }
}

// The ops/ names reach the GPU versions on a GPU context (ops/gpu_ops.h): the same bits as cuda::X.
TEST(GpuDispatch, OpsNamesRunTheGpuVersionOnAGpuContext) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0);
  const Tensor x = cuda::to_device(gpu, testing::random_tensor({8, 5}, 3));
  Tensor via_ops, direct;
  relu_forward(gpu, via_ops, x);
  cuda::relu_forward(gpu, direct, x);
  EXPECT_TRUE(via_ops.device() == gpu.device) << via_ops.describe();
  EXPECT_EQ(cuda::to_host(gpu, via_ops).to_floats(), cuda::to_host(gpu, direct).to_floats());
  const Tensor zeros = zeros_tensor(gpu, {3, 3});
  EXPECT_EQ(cuda::to_host(gpu, zeros).to_floats(), std::vector<float>(9, 0.0f));
}

#else

TEST(CudaDevices, BuiltWithoutCuda) {
  GTEST_SKIP() << "built without CUDA (the configure summary says what was missing)";
}

#endif

}  // namespace
}  // namespace joule
