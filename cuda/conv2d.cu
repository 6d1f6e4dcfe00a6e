// See conv2d.h.
#include "cuda/conv2d.h"

#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/tensor_check.h"

namespace joule::cuda {
namespace {

constexpr size_t kWorkspaceLimit = size_t{256} << 20;  // per pass

struct Key {
  int64_t N, C, H, W, K, R, S;
  int stride, pad;
  DType dtype;
  bool operator==(const Key& o) const {
    return N == o.N && C == o.C && H == o.H && W == o.W && K == o.K && R == o.R && S == o.S && stride == o.stride &&
           pad == o.pad && dtype == o.dtype;
  }
};

struct Plan {
  Key key{};
  int64_t P = 0, Q = 0;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;
  ~Plan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

using Plans = std::vector<std::unique_ptr<Plan>>;

cudnnDataType_t dnn_type(DType d) { return d == DType::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }

std::string describe(const Key& k) {
  return "N" + std::to_string(k.N) + " C" + std::to_string(k.C) + " " + std::to_string(k.H) + "x" +
         std::to_string(k.W) + " K" + std::to_string(k.K) + " " + std::to_string(k.R) + "x" + std::to_string(k.S) +
         " " + dtype_name(k.dtype);
}

// The first deterministic algorithm within the workspace limit among cuDNN's ranked candidates.
template <class Perf, class Algo>
void pick(const Perf* perf, int count, const Key& key, const char* pass, Algo* algo, size_t* bytes) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
        perf[i].memory <= kWorkspaceLimit) {
      *algo = perf[i].algo;
      *bytes = perf[i].memory;
      return;
    }
  JOULE_FAIL("cuDNN offers no deterministic ", pass, " algorithm within ", kWorkspaceLimit >> 20, " MiB for ",
             describe(key));
}

Plan& plan_for(Context& ctx, const Key& k) {
  DeviceState& state = device_state(ctx);
  std::shared_ptr<void>& slot = state.op_cache("conv2d");
  if (!slot) slot = std::make_shared<Plans>();
  Plans& plans = *static_cast<Plans*>(slot.get());
  for (auto& p : plans)
    if (p->key == k) return *p;
  auto p = std::make_unique<Plan>();
  p->key = k;
  const cudnnDataType_t type = dnn_type(k.dtype);
  JOULE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  JOULE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  JOULE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  JOULE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  JOULE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  JOULE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, type, int(k.N), int(k.C), int(k.H), int(k.W)));
  JOULE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, type, CUDNN_TENSOR_NCHW, int(k.K), int(k.C), int(k.R), int(k.S)));
  JOULE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, k.pad, k.pad, k.stride, k.stride, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  JOULE_CUDNN_CHECK(
      cudnnSetConvolutionMathType(p->conv, k.dtype == DType::bf16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  int n, c, h, w;
  JOULE_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  p->P = h, p->Q = w;
  JOULE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, type, n, c, h, w));
  JOULE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, type, 1, int(k.K), 1, 1));
  cudnnHandle_t dnn = state.dnn();
  constexpr int kCandidates = 16;
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[kCandidates];
  JOULE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(dnn, p->x, p->w, p->conv, p->y, kCandidates, &found, fwd));
  pick(fwd, found, k, "forward", &p->fwd, &p->fwd_bytes);
  cudnnConvolutionBwdDataAlgoPerf_t data[kCandidates];
  JOULE_CUDNN_CHECK(
      cudnnGetConvolutionBackwardDataAlgorithm_v7(dnn, p->w, p->y, p->conv, p->x, kCandidates, &found, data));
  pick(data, found, k, "backward-data", &p->bwd_data, &p->bwd_data_bytes);
  cudnnConvolutionBwdFilterAlgoPerf_t filter[kCandidates];
  JOULE_CUDNN_CHECK(
      cudnnGetConvolutionBackwardFilterAlgorithm_v7(dnn, p->x, p->y, p->conv, p->w, kCandidates, &found, filter));
  pick(filter, found, k, "backward-filter", &p->bwd_filter, &p->bwd_filter_bytes);
  plans.push_back(std::move(p));
  return *plans.back();
}

Key key_of(const char* op, const Context& ctx, const Tensor& x, const Tensor& weight, const Conv2dParams& params) {
  check_gpu_tensor(ctx, x, op, "x", 4, {DType::f32, DType::bf16});
  check_gpu_tensor(ctx, weight, op, "weight", 4, {x.dtype()});
  JOULE_CHECK(weight.size(1) == x.size(1), op, ": weight ", weight.describe(), " has ", weight.size(1),
              " in-channels, expected C = ", x.size(1), " from x ", x.describe());
  JOULE_CHECK(params.stride >= 1 && params.padding >= 0, op, ": stride must be >= 1 and padding >= 0");
  JOULE_CHECK(weight.size(2) <= x.size(2) + 2 * params.padding && weight.size(3) <= x.size(3) + 2 * params.padding, op,
              ": weight kernel does not fit the padded input (x ", x.describe(), ", padding ", params.padding, ")");
  return {x.size(0),      x.size(1),      x.size(2),     x.size(3),      weight.size(0),
          weight.size(2), weight.size(3), params.stride, params.padding, x.dtype()};
}

// A scratch block of `bytes` from the caching allocator for the duration of one call.
Tensor workspace(Context& ctx, size_t bytes) { return empty(ctx, {static_cast<int64_t>(bytes / 4 + 1)}); }

}  // namespace

void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dParams& params) {
  const char* op = "cuda::conv2d_forward";
  const Key k = key_of(op, ctx, x, weight, params);
  if (bias.defined()) {
    check_gpu_tensor(ctx, bias, op, "bias", 1, {x.dtype()});
    JOULE_CHECK(bias.size(0) == k.K, op, ": bias ", bias.describe(), " must have K = ", k.K, " elements");
  }
  Plan& p = plan_for(ctx, k);
  ensure_tensor(ctx, y, {k.N, k.K, p.P, p.Q}, x.dtype());
  if (k.N == 0) return;
  cudnnHandle_t dnn = device_state(ctx).dnn();
  const float one = 1.0f, zero = 0.0f;
  Tensor ws = workspace(ctx, p.fwd_bytes);
  JOULE_CUDNN_CHECK(cudnnConvolutionForward(dnn, &one, p.x, x.raw_data(), p.w, weight.raw_data(), p.conv, p.fwd,
                                            ws.raw_data(), p.fwd_bytes, &zero, p.y, y.raw_data()));
  if (bias.defined()) JOULE_CUDNN_CHECK(cudnnAddTensor(dnn, &one, p.bias, bias.raw_data(), &one, p.y, y.raw_data()));
}

void conv2d_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, const Conv2dParams& params, GradMode mode) {
  const char* op = "cuda::conv2d_backward";
  const Key k = key_of(op, ctx, x, weight, params);
  Plan& p = plan_for(ctx, k);
  check_gpu_tensor(ctx, dy, op, "dy", 4, {x.dtype()});
  JOULE_CHECK(dy.shape() == Shape({k.N, k.K, p.P, p.Q}), op, ": dy ", dy.describe(), " must have shape ",
              shape_str({k.N, k.K, p.P, p.Q}));
  check_gpu_tensor(ctx, dweight, op, "dweight", 4, {x.dtype()});
  JOULE_CHECK(dweight.shape() == weight.shape(), op, ": dweight ", dweight.describe(), " must match weight");
  cudnnHandle_t dnn = device_state(ctx).dnn();
  const float one = 1.0f, zero = 0.0f, beta = mode == GradMode::accumulate ? 1.0f : 0.0f;
  {
    Tensor ws = workspace(ctx, p.bwd_filter_bytes);
    JOULE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(dnn, &one, p.x, x.raw_data(), p.y, dy.raw_data(), p.conv,
                                                     p.bwd_filter, ws.raw_data(), p.bwd_filter_bytes, &beta, p.w,
                                                     dweight.raw_data()));
  }
  if (dbias != nullptr) {
    check_gpu_tensor(ctx, *dbias, op, "dbias", 1, {x.dtype()});
    JOULE_CHECK(dbias->size(0) == k.K, op, ": dbias ", dbias->describe(), " must have K = ", k.K, " elements");
    JOULE_CUDNN_CHECK(cudnnConvolutionBackwardBias(dnn, &one, p.y, dy.raw_data(), &beta, p.bias, dbias->raw_data()));
  }
  if (dx == nullptr) return;
  ensure_tensor(ctx, *dx, x.shape(), x.dtype());
  Tensor ws = workspace(ctx, p.bwd_data_bytes);
  JOULE_CUDNN_CHECK(cudnnConvolutionBackwardData(dnn, &one, p.w, weight.raw_data(), p.y, dy.raw_data(), p.conv,
                                                 p.bwd_data, ws.raw_data(), p.bwd_data_bytes, &zero, p.x,
                                                 dx->raw_data()));
}

}  // namespace joule::cuda
