// The one way to include Eigen in joule, with the row-major map types our tensors use.
// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized inside Eigen's packet code (a false
// positive on `__m512 __Y = __Y;` in avx512fintrin.h), so that warning is silenced for Eigen only.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace joule {

using MatrixR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatrixR>;
using ConstMapR = Eigen::Map<const MatrixR>;

}  // namespace joule
