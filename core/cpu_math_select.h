// Choosing the CPU math backend for a model, like cuDNN's algorithm search: record the GEMMs one
// training step runs (GemmRecorder), time every available backend on exactly those shapes for a
// few passes (interleaved, best pass kept), check each against Eigen, and take the fastest.
#pragma once

#include <string>
#include <vector>

#include "core/gemm.h"

namespace joule {

struct GemmWorkload {
  GemmShape shape;
  int calls = 0;  // how often one step runs it
};

// A GemmBackend that computes through Eigen and records each distinct shape with its call count.
class GemmRecorder final : public GemmBackend {
 public:
  CpuMath kind() const override { return CpuMath::eigen; }
  std::string kernel() const override { return "recorder"; }
  void gemm(const GemmShape& shape, const float* A, const float* B, float* C) override;
  const std::vector<GemmWorkload>& workload() const { return workload_; }

 private:
  std::vector<GemmWorkload> workload_;
};

struct BackendTiming {
  CpuMath kind = CpuMath::eigen;
  std::string kernel;       // GemmBackend::kernel() after the run ("" when unavailable)
  std::string unavailable;  // why it did not run; "" when it did
  double seconds = -1;      // best time of one pass over the workload (all calls), when it ran
  double max_error = 0;     // largest |C - C_eigen| / max |C_eigen| over the shapes
};

// Times every backend of all_cpu_math() on `workload`: one warm-up pass (primitives are created)
// and `passes` timed passes, backends interleaved pass by pass. A backend whose results differ from
// Eigen's by more than 1e-4 (relative to the largest entry) is marked unavailable.
std::vector<BackendTiming> time_cpu_math(const std::vector<GemmWorkload>& workload, int passes = 3);

// Runs each shape of `workload` once on `backend` (zero operands): per-shape state is created before
// training starts, and kernel() names the kernel of the model's largest GEMM.
void warm_up_gemm(GemmBackend& backend, const std::vector<GemmWorkload>& workload);

struct CpuMathChoice {
  CpuMath kind = CpuMath::eigen;
  std::string reason;  // "fastest on the model's 6 GEMM shapes: onednn 2.91 ms, openblas 3.40 ms, ..."
};

// The fastest backend that ran (ties: the order of all_cpu_math()), with the numbers as reason.
CpuMathChoice choose_cpu_math(const std::vector<BackendTiming>& timings, size_t shape_count);

}  // namespace joule
