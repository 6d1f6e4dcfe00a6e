// small_gemm (the per-sample GEMM under conv2d) against a naive product in double, over the row
// and column counts that exercise its tiles: full 8-row tiles and 1..7-row remainders; 1-, 2- and
// 3-vector column blocks with masked last vectors; bias and accumulation. Writes outside C are
// caught by sentinels after it (an overrun inside C lands in a neighbouring row and is caught by
// the comparison).
#include "ops/small_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/support/gradcheck.h"

namespace joule {
namespace {

TEST(SmallGemmTest, MatchesNaiveProduct) {
  constexpr float sentinel = 12345.0f;
  constexpr int64_t guard = 32;
  for (int64_t M : {1, 3, 7, 8, 9, 17})
    for (int64_t Kd : {1, 5, 33})
      for (int64_t N : {1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 65, 81, 100})
        for (int variant = 0; variant < 3; ++variant) {  // plain, + bias, accumulate + bias
          SCOPED_TRACE("M " + std::to_string(M) + " Kd " + std::to_string(Kd) + " N " + std::to_string(N) +
                       " variant " + std::to_string(variant));
          const std::vector<float> a = testing::random_tensor({M, Kd}, 1).to_floats();
          const std::vector<float> b = testing::random_tensor({Kd, N}, 2).to_floats();
          const std::vector<float> bias = testing::random_tensor({M}, 3).to_floats();
          const std::vector<float> prior = testing::random_tensor({M, N}, 4).to_floats();
          std::vector<float> c(static_cast<size_t>(M * N + guard), sentinel);
          const bool accumulate = variant == 2;
          if (accumulate) std::copy(prior.begin(), prior.end(), c.begin());
          small_gemm(a.data(), b.data(), c.data(), variant > 0 ? bias.data() : nullptr, M, Kd, N, accumulate);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
              double expected = variant > 0 ? bias[m] : 0.0;
              if (accumulate) expected += prior[m * N + n];
              for (int64_t d = 0; d < Kd; ++d) expected += static_cast<double>(a[m * Kd + d]) * b[d * N + n];
              // f32 sums of <= 35 O(1) terms
              ASSERT_NEAR(c[m * N + n], expected, 1e-5 * (1 + std::fabs(expected))) << "C[" << m << ", " << n << "]";
            }
          for (int64_t i = M * N; i < M * N + guard; ++i) ASSERT_EQ(c[i], sentinel) << "written past C at " << i;
        }
}

}  // namespace
}  // namespace joule
