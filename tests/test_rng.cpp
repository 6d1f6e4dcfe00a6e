// CounterRng: Philox4x32-10 against the Random123 known-answer vectors, determinism and separation
// by (seed, rank, step, stream), skip_to, and distribution checks. Every statistical test uses a
// fixed seed, so it is deterministic; the bounds are 5 sigma (or a chi-square far in the tail) so
// that a change of seed or mixing would not make them flaky either.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/rng.h"

namespace joule {
namespace {

using Words = std::array<uint32_t, 4>;

std::vector<uint32_t> first_words(uint64_t seed, uint32_t rank, uint64_t step, RngStream stream, int n = 16) {
  CounterRng rng(seed, rank, step, stream);
  std::vector<uint32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(rng.next_u32());
  return out;
}

}  // namespace

TEST(Rng, PhiloxKnownAnswerVectors) {
  // Random123 kat_vectors, philox4x32 with 10 rounds
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (Words{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
            (Words{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
            (Words{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Rng, SameArgumentsGiveTheSameSequence) {
  EXPECT_EQ(first_words(42, 3, 7, RngStream::dropout), first_words(42, 3, 7, RngStream::dropout));
  CounterRng a(1, 0, 0, RngStream::init), b(1, 0, 0, RngStream::init);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(a.uniform(), b.uniform()) << i;
    ASSERT_EQ(a.normal(), b.normal()) << i;
    ASSERT_EQ(a.below(1000), b.below(1000)) << i;
  }
}

TEST(Rng, EachArgumentSeparatesSequences) {
  const std::vector<uint32_t> base = first_words(42, 3, 7, RngStream::dropout);
  EXPECT_NE(first_words(43, 3, 7, RngStream::dropout), base);
  EXPECT_NE(first_words(42, 4, 7, RngStream::dropout), base);
  EXPECT_NE(first_words(42, 3, 8, RngStream::dropout), base);
  EXPECT_NE(first_words(42, 3, 7, RngStream::shuffle), base);
  // high halves of the 64-bit arguments count too
  EXPECT_NE(first_words(42 + (1ull << 40), 3, 7, RngStream::dropout), base);
  EXPECT_NE(first_words(42, 3, 7 + (1ull << 40), RngStream::dropout), base);
  // no overlap between neighbouring steps: step s+1 does not replay step s shifted by a block
  const std::vector<uint32_t> next = first_words(42, 3, 8, RngStream::dropout, 64);
  for (uint32_t word : base) EXPECT_EQ(std::count(next.begin(), next.end(), word), 0) << word;
}

TEST(Rng, NextU64IsTwoWordsHighFirst) {
  CounterRng words(5, 1, 2, RngStream::test), pairs(5, 1, 2, RngStream::test);
  for (int i = 0; i < 10; ++i) {
    const uint64_t hi = words.next_u32();
    const uint64_t lo = words.next_u32();
    ASSERT_EQ(pairs.next_u64(), hi << 32 | lo) << i;
  }
}

TEST(Rng, SkipToReproducesTheIndexedWord) {
  const std::vector<uint32_t> fresh = first_words(9, 2, 11, RngStream::data, 64);
  for (uint64_t index : {0, 1, 2, 3, 4, 5, 7, 8, 17, 63}) {
    CounterRng rng(9, 2, 11, RngStream::data);
    rng.next_u32();  // a position before the skip must not matter
    rng.skip_to(index);
    for (uint64_t i = index; i < fresh.size() && i < index + 6; ++i) {
      ASSERT_EQ(rng.next_u32(), fresh[i]) << index << " " << i;
    }
  }
  // backwards after drawing past it
  CounterRng rng(9, 2, 11, RngStream::data);
  for (int i = 0; i < 40; ++i) rng.next_u32();
  rng.skip_to(6);
  EXPECT_EQ(rng.next_u32(), fresh[6]);
  // far positions, including past 2^32 blocks, agree with a skip to the preceding word
  for (uint64_t index : {uint64_t{1} << 20, (uint64_t{1} << 34) + 3}) {
    CounterRng x(9, 2, 11, RngStream::data), y(9, 2, 11, RngStream::data);
    x.skip_to(index);
    y.skip_to(index - 1);
    y.next_u32();
    EXPECT_EQ(x.next_u32(), y.next_u32()) << index;
  }
}

TEST(Rng, UniformIsInUnitIntervalWithMeanOneHalf) {
  constexpr int n = 100000;
  CounterRng rng(123, 0, 0, RngStream::test);
  double sum = 0;
  float lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  const double sigma = std::sqrt(1.0 / 12.0 / n);
  EXPECT_NEAR(sum / n, 0.5, 5 * sigma);
  EXPECT_LT(lo, 1e-3f);  // covers the interval, not a corner of it
  EXPECT_GT(hi, 1 - 1e-3f);
}

TEST(Rng, NormalHasMeanZeroVarianceOne) {
  constexpr int n = 100000;
  CounterRng rng(321, 1, 5, RngStream::init);
  double sum = 0, sum_sq = 0;
  int beyond_two = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    ASSERT_TRUE(std::isfinite(z)) << i;
    sum += z;
    sum_sq += z * z;
    beyond_two += std::fabs(z) > 2;
  }
  const double mean = sum / n;
  const double variance = sum_sq / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5 / std::sqrt(n));             // sd of the mean: 1/sqrt(n)
  EXPECT_NEAR(variance, 1.0, 5 * std::sqrt(2.0 / n));  // sd of the variance: sqrt(2/n)
  // tails: P(|z| > 2) = 0.0455, binomial sd sqrt(p(1-p)/n) = 0.00066
  EXPECT_NEAR(static_cast<double>(beyond_two) / n, 0.0455, 5 * 0.00066);
}

TEST(Rng, BelowIsInRangeAndUniform) {
  constexpr int n = 100000, bins = 10;
  CounterRng rng(77, 0, 3, RngStream::shuffle);
  std::array<int, bins> counts{};
  for (int i = 0; i < n; ++i) {
    const uint64_t k = rng.below(bins);
    ASSERT_LT(k, static_cast<uint64_t>(bins));
    ++counts[k];
  }
  double chi_square = 0;
  const double expected = static_cast<double>(n) / bins;
  for (int c : counts) chi_square += (c - expected) * (c - expected) / expected;
  // 9 degrees of freedom: mean 9, P(chi2 > 40) ~ 1e-5
  EXPECT_LT(chi_square, 40.0);

  for (int i = 0; i < 100; ++i) ASSERT_EQ(rng.below(1), 0u);
  const uint64_t huge = (uint64_t{1} << 63) + 12345;  // rejection region of almost half the draws
  for (int i = 0; i < 100; ++i) ASSERT_LT(rng.below(huge), huge);
}

TEST(Rng, BelowHasNoModuloBias) {
  // bound = 3 * 2^62: a plain x % bound of a 64-bit draw would land in [0, 2^62) half the time
  // instead of a third. sd of the fraction over n draws: sqrt(2/9/n) = 0.0047 for n = 10000.
  constexpr int n = 10000;
  const uint64_t bound = uint64_t{3} << 62;
  CounterRng rng(2024, 0, 0, RngStream::test);
  int low = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t k = rng.below(bound);
    ASSERT_LT(k, bound);
    low += k < (uint64_t{1} << 62);
  }
  EXPECT_NEAR(static_cast<double>(low) / n, 1.0 / 3.0, 5 * 0.0047);
}

TEST(Rng, BelowZeroIsAnInternalError) {
  CounterRng rng(1, 0, 0, RngStream::test);
  try {
    rng.below(0);
    ADD_FAILURE() << "below(0) did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
  }
}

}  // namespace joule
