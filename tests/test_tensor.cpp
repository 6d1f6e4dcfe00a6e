#include <gtest/gtest.h>

#include "core/tensor.h"

namespace joule {
TEST(Tensor, ReshapeSharesStorage) {
  Tensor t = Tensor::zeros({2, 3});
  Tensor v = t.reshape({3, -1});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  v.data<float>()[5] = 4.0f;
  EXPECT_EQ(t.data<float>()[5], 4.0f);
}
}  // namespace joule
