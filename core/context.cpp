#include "core/context.h"

#include <thread>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "core/eigen.h"

namespace joule {

Context make_cpu_context(int threads, uint64_t seed) {
  Context ctx;
  ctx.device = Device::cpu();
  ctx.num_threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ctx.seed = seed;
#if defined(_OPENMP)
  omp_set_num_threads(ctx.num_threads);  // OpenMP keeps this per calling thread: the training thread
#endif
  Eigen::setNbThreads(ctx.num_threads);
  return ctx;
}

}  // namespace joule
