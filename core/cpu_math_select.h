// Choosing the CPU math backend for a model, like cuDNN's algorithm search: record the GEMMs one
// training step runs (GemmRecorder), time every available backend on exactly those shapes for a
// few passes (interleaved, best kept per shape), check each against Eigen, and take the fastest for
// each shape (libraries differ by shape: oneDNN wins skinny products, OpenBLAS some transposed ones).
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
  double seconds = -1;      // one pass over the workload (all calls): the sum of shape_seconds, when it ran
  double max_error = 0;     // largest |C - C_eigen| / max |C_eigen| over the shapes
  std::vector<double> shape_seconds;  // per workload entry, all its calls: the best of the passes
};

// Times every backend of all_cpu_math() on `workload`: one warm-up pass (primitives are created)
// and at least `min_passes` timed passes, backends interleaved pass by pass, more (up to 10) while a
// backend has run for less than `min_seconds` in all. A backend whose results differ from Eigen's by
// more than 1e-4 (relative to the largest entry) is marked unavailable.
std::vector<BackendTiming> time_cpu_math(const std::vector<GemmWorkload>& workload, int min_passes = 3,
                                         double min_seconds = 0.05);

// Runs each shape of `workload` once on `backend` (zero operands): per-shape state is created before
// training starts, and kernel() names the kernel of the model's largest GEMM.
void warm_up_gemm(GemmBackend& backend, const std::vector<GemmWorkload>& workload);

struct CpuMathChoice {
  CpuMath kind = CpuMath::eigen;    // the fastest single backend for the whole step
  std::vector<CpuMath> per_shape;   // the backend each workload entry runs on
  std::string name;                 // "openblas", or "onednn+openblas" when shapes run on several
  std::string reason;  // "fastest per shape of the model's 8 GEMM shapes: 56.1 ms per step; whole step on one: ..."
};

// Per shape the fastest backend that ran (ties: the order of all_cpu_math()); mixing backends only
// when that saves at least 2% of the step's GEMM time over the best single one; the numbers as reason.
CpuMathChoice choose_cpu_math(const std::vector<BackendTiming>& timings, const std::vector<GemmWorkload>& workload);

// The backend for a choice: one backend, or a router sending each workload shape to its backend
// (other shapes to choice.kind); kernel() names each backend used with its share of the shapes.
std::unique_ptr<GemmBackend> make_chosen_gemm(const CpuMathChoice& choice, const std::vector<GemmWorkload>& workload);

}  // namespace joule
