// CPU-vs-GPU parity of the GPU ops (cuda/X against ops/X, the reference), forward and backward.
// Tolerances, each from the arithmetic:
//   Linear f32: cuBLAS (strict fp32, no TF32) sums the K products in another order than the CPU;
//   each result differs by at most ~2·K·u·Σ|a||b| (u = 2⁻²⁴ the unit roundoff, Σ|a||b| the same
//   product on absolute values); we allow 4·K·u·Σ|a||b|.
//   Linear bf16: both sides multiply the same bf16-rounded operands exactly and accumulate in fp32
//   (the same K·u term); the GPU then rounds the output to bf16: 2⁻⁸ relative more.
//   Softmax-xent: expf/logf against std::exp/std::log, a few ulps each: 1e-6 absolute on
//   probabilities (≤ 1), 1e-5 relative on the loss sum (fp32 sums of N terms on the GPU, double on
//   the CPU).
//   Conv2d f32: cuDNN may pick a Winograd or FFT algorithm, whose error bounds are a small constant
//   times the direct sum's (the operands are transformed): 64·depth·u·Σ|a||b| (depth = the
//   products per output: C·R·S for y, K·R·S for dx, N·P·Q for dweight).
//   Conv2d bf16: the same on bf16-rounded operands, plus the output's bf16 rounding (2⁻⁸ relative).
//   Max pooling: a selection and (for the backward pass) sums in the CPU's order: exact.
//   count_correct and f32↔bf16 conversion: the same comparisons and the same rounding: exact.
//   SGD: the same operations in the same order without fused multiply-adds: bit for bit.
// Every test skips without a CUDA build or a GPU and says why.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/build_info.h"
#include "core/tensor.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "ops/maxpool2d.h"
#include "ops/sgd.h"
#include "ops/softmax_cross_entropy.h"
#include "tests/support/cuda_test.h"
#include "tests/support/gradcheck.h"

#if JOULE_HAVE_CUDA
#include "cuda/conv2d.h"
#include "cuda/convert.h"
#include "cuda/device.h"
#include "cuda/linear.h"
#include "cuda/maxpool2d.h"
#include "cuda/sgd.h"
#include "cuda/softmax_cross_entropy.h"
#endif

namespace joule {
namespace {

using testing::to_bf16;
using testing::widen;

#if JOULE_HAVE_CUDA

Tensor abs_of(const Tensor& t) {
  std::vector<float> v = t.to_floats();
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_floats(v, t.shape());
}

// |got − want| ≤ k_unit · bound + rel · |want| elementwise; returns the number of violations.
int64_t violations(const Tensor& got, const Tensor& want, const Tensor& bound, double k_unit, double rel) {
  const std::vector<float> g = got.to_floats(), w = want.to_floats(), b = bound.to_floats();
  int64_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i)
    bad += std::fabs(double(g[i]) - w[i]) > k_unit * b[i] + rel * std::fabs(double(w[i])) + 1e-30;
  return bad;
}

struct LinearResult {
  Tensor y, dx, dw, db;
};

LinearResult cpu_linear(Context& cpu, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy) {
  LinearResult r;
  linear_forward(cpu, r.y, x, w, b);
  r.dw = Tensor::zeros(w.shape());
  r.db = Tensor::zeros(b.shape());
  linear_backward(cpu, &r.dx, r.dw, &r.db, dy, x, w, GradMode::overwrite);
  return r;
}

TEST(CudaParity, LinearF32MatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0), cpu = make_cpu_context(1, 0);
  const int64_t N = 37, IN = 300, OUT = 65;
  const Tensor x = testing::random_tensor({N, IN}, 1), w = testing::random_tensor({OUT, IN}, 2);
  const Tensor b = testing::random_tensor({OUT}, 3), dy = testing::random_tensor({N, OUT}, 4);
  const LinearResult ref = cpu_linear(cpu, x, w, b, dy);
  const LinearResult bound = cpu_linear(cpu, abs_of(x), abs_of(w), abs_of(b), abs_of(dy));
  Tensor y, dx, dw = cuda::to_device(gpu, Tensor::zeros(w.shape())),
                db = cuda::to_device(gpu, Tensor::zeros(b.shape()));
  const Tensor gx = cuda::to_device(gpu, x), gw = cuda::to_device(gpu, w), gdy = cuda::to_device(gpu, dy);
  cuda::linear_forward(gpu, y, gx, gw, cuda::to_device(gpu, b));
  cuda::linear_backward(gpu, &dx, dw, &db, gdy, gx, gw, GradMode::overwrite);
  const double u = std::ldexp(1.0, -24);
  EXPECT_EQ(violations(cuda::to_host(gpu, y), ref.y, bound.y, 4 * IN * u, 0), 0) << "y";
  EXPECT_EQ(violations(cuda::to_host(gpu, dx), ref.dx, bound.dx, 4 * OUT * u, 0), 0) << "dx";
  EXPECT_EQ(violations(cuda::to_host(gpu, dw), ref.dw, bound.dw, 4 * N * u, 0), 0) << "dweight";
  EXPECT_EQ(violations(cuda::to_host(gpu, db), ref.db, bound.db, 4 * N * u, 0), 0) << "dbias";

  // accumulate: a second backward adds the same gradients (2× within the same bounds)
  cuda::linear_backward(gpu, nullptr, dw, &db, gdy, gx, gw, GradMode::accumulate);
  std::vector<float> twice = ref.dw.to_floats(), twice_bound = bound.dw.to_floats();
  for (float& v : twice) v *= 2;
  for (float& v : twice_bound) v *= 2;
  EXPECT_EQ(violations(cuda::to_host(gpu, dw), Tensor::from_floats(twice, w.shape()),
                       Tensor::from_floats(twice_bound, w.shape()), 4 * N * u, 0),
            0)
      << "accumulated dweight";
}

TEST(CudaParity, LinearBf16MatchesTheCpuOnRoundedInputs) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0), cpu = make_cpu_context(1, 0);
  const int64_t N = 64, IN = 128, OUT = 32;
  const Tensor x16 = to_bf16(testing::random_tensor({N, IN}, 5)), w16 = to_bf16(testing::random_tensor({OUT, IN}, 6));
  const Tensor b16 = to_bf16(testing::random_tensor({OUT}, 7)), dy16 = to_bf16(testing::random_tensor({N, OUT}, 8));
  const LinearResult ref = cpu_linear(cpu, widen(x16), widen(w16), widen(b16), widen(dy16));
  const LinearResult bound =
      cpu_linear(cpu, abs_of(widen(x16)), abs_of(widen(w16)), abs_of(widen(b16)), abs_of(widen(dy16)));
  Tensor y, dx, dw = cuda::to_device(gpu, to_bf16(Tensor::zeros(w16.shape()))),
                db = cuda::to_device(gpu, to_bf16(Tensor::zeros({OUT})));
  const Tensor gx = cuda::to_device(gpu, x16), gw = cuda::to_device(gpu, w16), gdy = cuda::to_device(gpu, dy16);
  cuda::linear_forward(gpu, y, gx, gw, cuda::to_device(gpu, b16));
  cuda::linear_backward(gpu, &dx, dw, &db, gdy, gx, gw, GradMode::overwrite);
  const double u = std::ldexp(1.0, -24), out_rounding = std::ldexp(1.0, -8);
  EXPECT_EQ(violations(widen(cuda::to_host(gpu, y)), ref.y, bound.y, 4 * IN * u, out_rounding), 0) << "y";
  EXPECT_EQ(violations(widen(cuda::to_host(gpu, dx)), ref.dx, bound.dx, 4 * OUT * u, out_rounding), 0) << "dx";
  EXPECT_EQ(violations(widen(cuda::to_host(gpu, dw)), ref.dw, bound.dw, 4 * N * u, out_rounding), 0) << "dweight";
  EXPECT_EQ(violations(widen(cuda::to_host(gpu, db)), ref.db, bound.db, 4 * N * u, out_rounding), 0) << "dbias";
}

TEST(CudaParity, SoftmaxCrossEntropyMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0), cpu = make_cpu_context(1, 0);
  const int64_t N = 300, C = 10;
  const Tensor logits = testing::random_tensor({N, C}, 9, -8.0f, 8.0f);
  Tensor labels = Tensor::empty({N}, DType::i32);
  for (int64_t i = 0; i < N; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>((i * 7) % C);
  Tensor probs;
  const double loss = softmax_cross_entropy_forward(cpu, probs, logits, labels);
  Tensor dlogits;
  softmax_cross_entropy_backward(cpu, dlogits, probs, labels, 1.0f / N);

  Tensor gprobs, gloss, gdlogits;
  const Tensor glabels = cuda::to_device(gpu, labels);
  cuda::softmax_cross_entropy_forward(gpu, gprobs, gloss, cuda::to_device(gpu, logits), glabels);
  cuda::softmax_cross_entropy_backward(gpu, gdlogits, gprobs, glabels, 1.0f / N);
  const std::vector<float> p = cuda::to_host(gpu, gprobs).to_floats(), pr = probs.to_floats();
  const std::vector<float> d = cuda::to_host(gpu, gdlogits).to_floats(), dr = dlogits.to_floats();
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_NEAR(p[i], pr[i], 1e-6) << "probs " << i;
    EXPECT_NEAR(d[i], dr[i], 1e-6 / N) << "dlogits " << i;
  }
  EXPECT_NEAR(cuda::to_host(gpu, gloss).to_floats()[0], loss, 1e-5 * loss) << "loss sum";

  labels.data<int32_t>()[5] = static_cast<int32_t>(C);  // out of range: that row's loss is NaN
  cuda::softmax_cross_entropy_forward(gpu, gprobs, gloss, cuda::to_device(gpu, logits), cuda::to_device(gpu, labels));
  EXPECT_TRUE(std::isnan(cuda::to_host(gpu, gloss).to_floats()[0]));
}

struct ConvResult {
  Tensor y, dx, dw, db;
};

ConvResult cpu_conv(Context& cpu, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
                    const Conv2dParams& params) {
  ConvResult r;
  conv2d_forward(cpu, r.y, x, w, b, params);
  r.dw = Tensor::zeros(w.shape());
  r.db = Tensor::zeros(b.shape());
  conv2d_backward(cpu, &r.dx, r.dw, &r.db, dy, x, w, params, GradMode::overwrite);
  return r;
}

// The CNN's layers in small (3x3 padding 1, C = 1 and C = 8), a strided one and a 1x1, f32 and bf16.
TEST(CudaParity, Conv2dMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0), cpu = make_cpu_context(1, 0);
  struct Case {
    int64_t N, C, H, W, K, R;
    Conv2dParams params;
  };
  const double u = std::ldexp(1.0, -24);
  for (const Case& c : {Case{4, 1, 12, 12, 8, 3, {1, 1}}, Case{3, 8, 10, 9, 16, 3, {1, 1}},
                        Case{2, 5, 9, 9, 6, 3, {2, 0}}, Case{2, 16, 6, 6, 4, 1, {1, 0}}}) {
    for (const DType dtype : {DType::f32, DType::bf16}) {
      const std::string name = "C" + std::to_string(c.C) + " K" + std::to_string(c.K) + " R" + std::to_string(c.R) +
                               " stride " + std::to_string(c.params.stride) + " " + dtype_name(dtype);
      const int64_t P = (c.H + 2 * c.params.padding - c.R) / c.params.stride + 1;
      const int64_t Q = (c.W + 2 * c.params.padding - c.R) / c.params.stride + 1;
      auto input = [&](const Shape& shape, uint64_t seed) {
        const Tensor t = testing::random_tensor(shape, seed);
        return dtype == DType::bf16 ? widen(to_bf16(t)) : t;  // the operands both sides multiply
      };
      const Tensor x = input({c.N, c.C, c.H, c.W}, 21), w = input({c.K, c.C, c.R, c.R}, 22);
      const Tensor b = input({c.K}, 23), dy = input({c.N, c.K, P, Q}, 24);
      const ConvResult ref = cpu_conv(cpu, x, w, b, dy, c.params);
      const ConvResult bound = cpu_conv(cpu, abs_of(x), abs_of(w), abs_of(b), abs_of(dy), c.params);
      auto up = [&](const Tensor& t) { return cuda::to_device(gpu, dtype == DType::bf16 ? to_bf16(t) : t); };
      auto down = [&](const Tensor& t) {
        return dtype == DType::bf16 ? widen(cuda::to_host(gpu, t)) : cuda::to_host(gpu, t);
      };
      Tensor y, dx, dw = up(Tensor::zeros(w.shape())), db = up(Tensor::zeros(b.shape()));
      const Tensor gx = up(x), gw = up(w), gdy = up(dy);
      cuda::conv2d_forward(gpu, y, gx, gw, up(b), c.params);
      cuda::conv2d_backward(gpu, &dx, dw, &db, gdy, gx, gw, c.params, GradMode::overwrite);
      const double out = dtype == DType::bf16 ? std::ldexp(1.0, -8) : 0.0;
      EXPECT_EQ(violations(down(y), ref.y, bound.y, 64.0 * c.C * c.R * c.R * u, out), 0) << name << " y";
      EXPECT_EQ(violations(down(dx), ref.dx, bound.dx, 64.0 * c.K * c.R * c.R * u, out), 0) << name << " dx";
      EXPECT_EQ(violations(down(dw), ref.dw, bound.dw, 64.0 * c.N * P * Q * u, out), 0) << name << " dweight";
      EXPECT_EQ(violations(down(db), ref.db, bound.db, 64.0 * c.N * P * Q * u, out), 0) << name << " dbias";
    }
  }
}

TEST(CudaParity, MaxPoolMatchesTheCpuExactly) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0), cpu = make_cpu_context(1, 0);
  for (const auto& [kernel, stride] : {std::pair{2, 2}, std::pair{3, 1}}) {
    Tensor x = testing::random_tensor({3, 4, 9, 10}, 31);
    x.data<float>()[6] = x.data<float>()[7] = 5.0f;  // a tie for the maximum: the first wins on both
    Tensor y, argmax, dx;
    maxpool2d_forward(cpu, y, argmax, x, kernel, stride);
    const Tensor dy = testing::random_tensor(y.shape(), 32);
    maxpool2d_backward(cpu, dx, dy, argmax, x.shape());
    Tensor gy, gargmax, gdx;
    cuda::maxpool2d_forward(gpu, gy, gargmax, cuda::to_device(gpu, x), kernel, stride);
    cuda::maxpool2d_backward(gpu, gdx, cuda::to_device(gpu, dy), gargmax, x.shape());
    EXPECT_EQ(cuda::to_host(gpu, gy).to_floats(), y.to_floats()) << "kernel " << kernel;
    const Tensor ga = cuda::to_host(gpu, gargmax);
    for (int64_t i = 0; i < argmax.numel(); ++i) EXPECT_EQ(ga.data<int32_t>()[i], argmax.data<int32_t>()[i]) << i;
    EXPECT_EQ(cuda::to_host(gpu, gdx).to_floats(), dx.to_floats()) << "kernel " << kernel;
  }
}

TEST(CudaParity, CountCorrectAndBf16ConversionMatchTheCpuExactly) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0), cpu = make_cpu_context(1, 0);
  Tensor logits = testing::random_tensor({257, 10}, 41);
  logits.data<float>()[3] = logits.data<float>()[4] = 7.0f;            // a tie: the first maximum counts
  logits.data<float>()[25] = std::numeric_limits<float>::quiet_NaN();  // a NaN never wins
  Tensor labels = Tensor::empty({257}, DType::i32);
  for (int64_t i = 0; i < 257; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>((i * 3) % 10);
  labels.data<int32_t>()[0] = 3;
  EXPECT_EQ(count_correct(gpu, cuda::to_device(gpu, logits), cuda::to_device(gpu, labels)),
            count_correct(logits, labels));

  Tensor x = testing::random_tensor({1000}, 42, -1e3f, 1e3f);
  x.data<float>()[0] = std::numeric_limits<float>::infinity();
  Tensor x16, back;
  cuda::convert(gpu, x16, cuda::to_device(gpu, x), DType::bf16);
  cuda::convert(gpu, back, x16, DType::f32);
  const Tensor ref16 = to_bf16(x), got16 = cuda::to_host(gpu, x16);
  for (int64_t i = 0; i < x.numel(); ++i)
    EXPECT_EQ(got16.data<BFloat16>()[i].bits, ref16.data<BFloat16>()[i].bits) << "element " << i;
  EXPECT_EQ(cuda::to_host(gpu, back).to_floats(), widen(ref16).to_floats());
}

TEST(CudaParity, SgdMatchesTheCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  Context gpu = make_cuda_context(0, 1, 0), cpu = make_cpu_context(1, 0);
  for (const SgdOptions& o :
       {SgdOptions{0.0f, false, 0.0f}, SgdOptions{0.9f, false, 1e-4f}, SgdOptions{0.9f, true, 5e-4f}}) {
    Tensor p = testing::random_tensor({10007}, 11), g = testing::random_tensor({10007}, 12);
    Tensor gp = cuda::to_device(gpu, p), gg = cuda::to_device(gpu, g), buf, gbuf;
    for (int step = 0; step < 3; ++step) {
      sgd_step(cpu, p, buf, g, o, 0.05f);
      cuda::sgd_step(gpu, gp, gbuf, gg, o, 0.05f);
    }
    EXPECT_EQ(cuda::to_host(gpu, gp).to_floats(), p.to_floats())
        << "momentum " << o.momentum << " nesterov " << o.nesterov;
  }
}

#else

TEST(CudaParity, BuiltWithoutCuda) {
  GTEST_SKIP() << "built without CUDA (the configure summary says what was missing)";
}

#endif

}  // namespace
}  // namespace joule
