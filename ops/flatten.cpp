// Flatten, all backends: a reshape of the (always contiguous) tensor, so both passes are views.
#include "ops/flatten.h"

namespace joule {

void flatten_forward(Context& ctx, Tensor& y, const Tensor& x) {
  (void)ctx;
  JOULE_CHECK(x.defined(), "flatten_forward: x is undefined");
  JOULE_CHECK(x.ndim() >= 1, "flatten_forward: x must have at least 1 dim [N, ...], got ", x.describe());
  const int64_t N = x.size(0);
  Shape rest(x.shape().begin() + 1, x.shape().end());
  y = x.reshape({N, shape_numel(rest)});
}

void flatten_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Shape& x_shape) {
  (void)ctx;
  JOULE_CHECK(!x_shape.empty(), "flatten_backward: x_shape must have at least 1 dim [N, ...], got ",
              shape_str(x_shape));
  const Shape rest(x_shape.begin() + 1, x_shape.end());
  const Shape expected{x_shape[0], shape_numel(rest)};
  JOULE_CHECK(dy.defined(), "flatten_backward: dy is undefined");
  JOULE_CHECK(dy.shape() == expected, "flatten_backward: dy must be [N, F] = ", shape_str(expected),
              " for x_shape ", shape_str(x_shape), ", got ", dy.describe());
  dx = dy.reshape(x_shape);
}

}  // namespace joule
