#include "core/rng.h"

#include <cmath>

#include "core/error.h"

namespace joule {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u, w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(m0) * c[0];
    uint64_t p1 = static_cast<uint64_t>(m1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
    k[0] += w0;
    k[1] += w1;
  }
  return c;
}

CounterRng::CounterRng(uint64_t seed, uint32_t rank, uint64_t step, RngStream stream)
    : step_(step), stream_(static_cast<uint32_t>(stream)) {
  uint64_t mixed = splitmix64(seed ^ splitmix64(0x5bd1e995ull + rank));
  key_ = {static_cast<uint32_t>(mixed), static_cast<uint32_t>(mixed >> 32)};
}

void CounterRng::refill() {
  // counter = (block, step_lo, step_hi ^ stream): unique per (step, stream, block) under one key
  buffer_ = philox4x32_10({static_cast<uint32_t>(block_), static_cast<uint32_t>(block_ >> 32),
                           static_cast<uint32_t>(step_), static_cast<uint32_t>(step_ >> 32) ^ (stream_ << 24)},
                          key_);
  ++block_;
  used_ = 0;
}

uint32_t CounterRng::next_u32() {
  if (used_ == 4) refill();
  return buffer_[used_++];
}

uint64_t CounterRng::next_u64() {
  uint64_t hi = next_u32();
  return hi << 32 | next_u32();
}

float CounterRng::uniform() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }

float CounterRng::normal() {
  float u1 = (static_cast<float>(next_u32() >> 8) + 0.5f) * (1.0f / 16777216.0f);  // (0, 1)
  float u2 = uniform();
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
}

uint64_t CounterRng::below(uint64_t bound) {
  JOULE_ASSERT(bound > 0, "below(0)");
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  for (;;) {
    uint64_t x = next_u64();
    if (x < limit) return x % bound;
  }
}

void CounterRng::skip_to(uint64_t index) {
  block_ = index / 4;
  refill();
  used_ = static_cast<int>(index % 4);
}

}  // namespace joule
