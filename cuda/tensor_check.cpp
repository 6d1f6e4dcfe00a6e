// See tensor_check.h.
#include "cuda/tensor_check.h"

#include <algorithm>
#include <string>

namespace joule::cuda {

void check_gpu_tensor(const Context& ctx, const Tensor& t, const char* op, const char* name, int rank,
                      std::initializer_list<DType> dtypes) {
  JOULE_CHECK(t.defined(), op, ": ", name, " is undefined");
  JOULE_CHECK(t.device() == ctx.device, op, ": ", name, " ", t.describe(), " is not on the context's ",
              ctx.device.str());
  JOULE_CHECK(rank < 0 || t.ndim() == rank, op, ": ", name, " must have ", rank, " dimensions, got ", t.describe());
  std::string accepted;
  for (DType d : dtypes) accepted += std::string(accepted.empty() ? "" : " or ") + dtype_name(d);
  JOULE_CHECK(std::find(dtypes.begin(), dtypes.end(), t.dtype()) != dtypes.end(), op, ": ", name, " must be ", accepted,
              ", got ", t.describe());
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::clamp<int64_t>((n + 255) / 256, 1, 1024)); }

}  // namespace joule::cuda
