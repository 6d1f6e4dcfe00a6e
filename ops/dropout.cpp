// Inverted dropout, CPU reference.
//
// Randomness: elements are grouped in fixed chunks of 4096 (independent of the thread count).
// Chunk c of site s takes a 64-bit key from the counter RNG's dropout stream of (seed, rank, step)
// at word (s << 40) + 2c; element j of the chunk is kept when the top 24 bits of
// splitmix64(key + (j + 1)·γ), read as a uniform in [0, 1), are ≥ p. One Philox block per chunk
// positions everything (any thread can start anywhere), and the per-element hash is a few integer
// multiplies the compiler vectorizes — Philox per element would cost ~6 ns each here.
// SplitMix64 over a Weyl sequence passes BigCrush; chunk keys are independent Philox draws.
#include "ops/dropout.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace joule {
namespace {

constexpr int64_t kChunk = 4096;
constexpr int kSiteShift = 40;
constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull;  // SplitMix64's Weyl increment

inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void check_p(float p, const char* op) {
  JOULE_CHECK(p >= 0.0f && p < 1.0f, op, ": p must be in [0, 1), got ", p);  // NaN fails too
}

}  // namespace

void dropout_forward(Context& ctx, Tensor& y, Tensor& mask, const Tensor& x, float p, uint32_t site, bool training) {
  const char* op = "dropout_forward";
  check_cpu_tensor(x, op, "x", -1, DType::f32);
  check_p(p, op);
  JOULE_CHECK(site < (1u << 24), op, ": site must be < 2^24, got ", site);
  const int64_t n = x.numel();
  JOULE_CHECK(n < (int64_t{1} << kSiteShift), op, ": x has ", n, " elements, more than a site's 2^40");
  ensure_tensor(ctx, y, x.shape(), DType::f32);
  ensure_tensor(ctx, mask, x.shape(), DType::u8);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  uint8_t* pm = mask.data<uint8_t>();

  if (!training || p == 0.0f) {
    if (py != px) std::memcpy(py, px, x.nbytes());
    std::memset(pm, 1, static_cast<size_t>(n));
    return;
  }
  const float scale = 1.0f / (1.0f - p);
  // kept ⇔ u · 2^-24 ≥ p ⇔ u ≥ ⌈p · 2^24⌉ for the 24-bit integer u (p · 2^24 is exact in double)
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(static_cast<double>(p) * 16777216.0));
  const CounterRng stream = ctx.rng(RngStream::dropout);
  const uint64_t origin = static_cast<uint64_t>(site) << kSiteShift;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (n > 32768)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
    CounterRng rng = stream;
    rng.skip_to(origin + 2 * static_cast<uint64_t>(c));
    const uint64_t key = rng.next_u64();
    uint8_t* m = pm + begin;
    for (int64_t j = 0; j < len; ++j) {
      m[j] = (splitmix64_mix(key + static_cast<uint64_t>(j + 1) * kGamma) >> 40) >= threshold;
    }
    const float* xc = px + begin;
    float* yc = py + begin;
    for (int64_t j = 0; j < len; ++j) yc[j] = xc[j] * (static_cast<float>(m[j]) * scale);
  }
}

void dropout_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& mask, float p) {
  const char* op = "dropout_backward";
  check_cpu_tensor(dy, op, "dy", -1, DType::f32);
  check_cpu_tensor(mask, op, "mask", -1, DType::u8);
  JOULE_CHECK(mask.shape() == dy.shape(), op, ": mask must have the shape of dy = ", shape_str(dy.shape()),
              ", got ", mask.describe());
  check_p(p, op);
  ensure_tensor(ctx, dx, dy.shape(), DType::f32);  // a no-op when dx is dy (in place)
  const float scale = 1.0f / (1.0f - p);
  const float* pdy = dy.data<float>();
  const uint8_t* pm = mask.data<uint8_t>();
  float* pdx = dx.data<float>();
  const int64_t n = dy.numel();
#pragma omp parallel for simd num_threads(ctx.num_threads) schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) pdx[i] = pdy[i] * (static_cast<float>(pm[i]) * scale);
}

}  // namespace joule
