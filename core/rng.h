// Counter-based random numbers (Philox4x32-10): the value at a position is a pure function of
// (seed, rank, step, stream, index), so any rank can reproduce any draw without carried state and
// a resumed run continues the exact sequence. Streams separate uses (init, shuffle, dropout, ...).
#pragma once

#include <array>
#include <cstdint>

namespace joule {

enum class RngStream : uint32_t { init = 1, shuffle = 2, dropout = 3, data = 4, test = 99 };

class CounterRng {
 public:
  CounterRng(uint64_t seed, uint32_t rank, uint64_t step, RngStream stream);

  uint32_t next_u32();
  uint64_t next_u64();
  float uniform();                 // [0, 1)
  float normal();                  // standard normal (Box-Muller)
  uint64_t below(uint64_t bound);  // uniform in [0, bound), bound > 0, without modulo bias
  void skip_to(uint64_t index);    // position the stream at 32-bit word `index`

 private:
  void refill();

  std::array<uint32_t, 2> key_{};
  uint64_t step_;
  uint32_t stream_;
  uint64_t block_ = 0;  // next block of 4 words
  std::array<uint32_t, 4> buffer_{};
  int used_ = 4;
};

// Philox4x32-10 block function (exposed for tests against the published known-answer vectors).
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);
// SplitMix64's finalizer: spreads a seed's bits into a Philox key (CounterRng, the simulator).
uint64_t splitmix64(uint64_t x);

}  // namespace joule
