// See conv_bf16.h. Primitives: one forward per (shape, bias?), one backward-weights and (when dx is
// wanted) one backward-data per shape, each made with a forward primitive as its hint, with
// the layouts left to oneDNN (format_tag::any) and the scratchpad ours (user mode). Operands reach a
// primitive through a reorder (f32 NCHW → bf16 in its layout) into a shared slot; results in f32 go
// straight into the caller's tensor when the primitive chose plain NCHW, else through a slot and a
// reorder back (with a sum post-op for accumulation). The bias gradient is summed here in f32 from
// the f32 dy, as on the f32 path (oneDNN's would sum its bf16 rounding of dy).
#include "core/conv_bf16.h"

#include "core/build_info.h"
#include "core/error.h"
#include "core/gemm.h"

#if JOULE_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <unordered_map>
#include <vector>
#endif

namespace joule {

#if JOULE_HAVE_ONEDNN
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

enum Slot {
  src_slot,
  weights_slot,
  dst_slot,
  diff_dst_slot,
  diff_dst_data_slot,
  diff_weights_slot,
  scratch_slot,
  slot_count
};

struct Dims {
  memory::dims src, weights, bias, dst, strides, pad_l, pad_r;
  explicit Dims(const ConvShape& s)
      : src{s.N, s.C, s.H, s.W},
        weights{s.K, s.C, s.R, s.S},
        bias{s.K},
        dst{s.N, s.K, s.P, s.Q},
        strides{s.stride, s.stride},
        pad_l{s.pad, s.pad},
        pad_r{s.pad, s.pad} {}
};

double conv_flops(const ConvShape& s) {
  return 2.0 * static_cast<double>(s.N * s.K * s.P * s.Q) * static_cast<double>(s.C * s.R * s.S);
}

std::string describe(const ConvShape& s) {
  return "N" + std::to_string(s.N) + " C" + std::to_string(s.C) + " " + std::to_string(s.H) + "x" +
         std::to_string(s.W) + " K" + std::to_string(s.K) + " " + std::to_string(s.R) + "x" + std::to_string(s.S) +
         " stride " + std::to_string(s.stride) + " pad " + std::to_string(s.pad);
}

class OnednnConv final : public ConvBackend {
 public:
  OnednnConv() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  std::string kernel() const override {
    const dnnl::version_t* v = dnnl::version();
    std::string text = "onednn " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                       std::to_string(v->patch) + " convolution";
    const std::string impls = forward_impl_.name +
                              (forward_impl_.name.empty() || backward_impl_.name.empty() ? "" : "; ") +
                              backward_impl_.name;
    if (!impls.empty()) text += " (" + impls + ")";
    return text + ", bf16 in, f32 accumulation and out";
  }

  void forward(const ConvShape& s, const float* x, const float* weight, const float* bias, float* y) override {
    const Forward& f = forward_entry(s, bias != nullptr);
    const Dims d(s);
    const memory x_user = user(d.src, tag::nchw, x), w_user = user(d.weights, tag::oihw, weight);
    const memory y_user = user(d.dst, tag::nchw, y);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, in_layout(x_user, f.pd.src_desc(), src_slot)},
                                         {DNNL_ARG_WEIGHTS, in_layout(w_user, f.pd.weights_desc(), weights_slot)}};
    const memory dst = output(y_user, f.pd.dst_desc(), dst_slot);
    args.emplace(DNNL_ARG_DST, dst);
    if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, user(d.bias, tag::x, bias));
    run(f.primitive, f.pd.scratchpad_desc(), args);
    if (dst != y_user) reorder(dst, y_user);
    stream_.wait();
  }

  void backward(const ConvShape& s, const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                float* dbias, bool accumulate) override {
    const Backward& b = backward_entry(s, dx != nullptr);
    const Dims d(s);
    const memory dy_user = user(d.dst, tag::nchw, dy), x_user = user(d.src, tag::nchw, x);
    const memory dw_user = user(d.weights, tag::oihw, dweight);
    const memory diff_dst = in_layout(dy_user, b.weights_pd.diff_dst_desc(), diff_dst_slot);
    const memory diff_weights(b.weights_pd.diff_weights_desc(), engine_,
                              slot(diff_weights_slot, b.weights_pd.diff_weights_desc()));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, in_layout(x_user, b.weights_pd.src_desc(), src_slot)},
                                         {DNNL_ARG_DIFF_DST, diff_dst},
                                         {DNNL_ARG_DIFF_WEIGHTS, diff_weights}};
    run(b.weights, b.weights_pd.scratchpad_desc(), args);
    dnnl::primitive_attr sum;
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      sum.set_post_ops(ops);
    }
    reorder(diff_weights, dw_user, sum);
    stream_.wait();
    if (dbias != nullptr) bias_gradient(s, dy, dbias, accumulate);
    if (dx == nullptr) return;
    const memory w_user = user(d.weights, tag::oihw, weight), dx_user = user(d.src, tag::nchw, dx);
    const memory diff_dst_data = b.data_pd.diff_dst_desc() == diff_dst.get_desc()
                                     ? diff_dst
                                     : in_layout(dy_user, b.data_pd.diff_dst_desc(), diff_dst_data_slot);
    const memory diff_src = output(dx_user, b.data_pd.diff_src_desc(), dst_slot);
    run(b.data, b.data_pd.scratchpad_desc(),
        {{DNNL_ARG_DIFF_DST, diff_dst_data},
         {DNNL_ARG_WEIGHTS, in_layout(w_user, b.data_pd.weights_desc(), weights_slot)},
         {DNNL_ARG_DIFF_SRC, diff_src}});
    if (diff_src != dx_user) reorder(diff_src, dx_user);
    stream_.wait();
  }

 private:
  struct Forward {
    ConvShape shape;
    bool bias = false;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward primitive;
  };
  struct Backward {
    ConvShape shape;
    bool data_too = false;
    dnnl::convolution_backward_weights::primitive_desc weights_pd;
    dnnl::convolution_backward_weights weights;
    dnnl::convolution_backward_data::primitive_desc data_pd;  // only when data_too
    dnnl::convolution_backward_data data;
  };

  // dbias[k] (+)= Σ_n Σ_pq dy[n, k, p, q] in f32 from the f32 dy (oneDNN's would sum its bf16 copy),
  // samples in order: the same sums whatever the thread count.
  static void bias_gradient(const ConvShape& s, const float* dy, float* dbias, bool accumulate) {
    const int64_t pixels = s.P * s.Q;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < s.K; ++k) {
      float sum = accumulate ? dbias[k] : 0.0f;
      for (int64_t n = 0; n < s.N; ++n) {
        const float* in = dy + (n * s.K + k) * pixels;
        float part = 0.0f;
        for (int64_t i = 0; i < pixels; ++i) part += in[i];
        sum += part;
      }
      dbias[k] = sum;
    }
  }

  memory user(const memory::dims& dims, tag layout, const float* data) const {
    return memory({dims, dt::f32, layout}, engine_, const_cast<float*>(data));
  }
  void* slot(Slot which, const memory::desc& desc) {
    std::vector<uint8_t>& buffer = slots_[which];
    if (buffer.size() < desc.get_size()) buffer.resize(desc.get_size());
    return buffer.data();
  }
  // `from`'s data in the layout and type `want`: itself when they agree, else reordered into a slot.
  memory in_layout(const memory& from, const memory::desc& want, Slot which) {
    if (from.get_desc() == want) return from;
    memory to(want, engine_, slot(which, want));
    reorder(from, to);
    return to;
  }
  void reorder(const memory& from, const memory& to, const dnnl::primitive_attr& attr = {}) {
    dnnl::reorder(dnnl::reorder::primitive_desc(from, to, attr))
        .execute(stream_, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
  }
  // Where a primitive writes a result meant for `user`: `user` itself when the layouts agree.
  memory output(const memory& user_memory, const memory::desc& want, Slot which) {
    return user_memory.get_desc() == want ? user_memory : memory(want, engine_, slot(which, want));
  }
  void run(const dnnl::primitive& primitive, const memory::desc& scratch, std::unordered_map<int, memory> args) {
    if (scratch.get_size() > 0)
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch, engine_, slot(scratch_slot, scratch)));
    primitive.execute(stream_, args);
  }

  dnnl::convolution_forward::primitive_desc forward_pd(const ConvShape& s, bool bias) const {
    const Dims d(s);
    const memory::desc src{d.src, dt::bf16, tag::any}, weights{d.weights, dt::bf16, tag::any};
    const memory::desc dst{d.dst, dt::f32, tag::any};
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto kind = dnnl::prop_kind::forward_training;
    const auto algorithm = dnnl::algorithm::convolution_direct;
    const dnnl::convolution_forward::desc desc =
        bias ? dnnl::convolution_forward::desc(kind, algorithm, src, weights, {d.bias, dt::f32, tag::x}, dst, d.strides,
                                               d.pad_l, d.pad_r)
             : dnnl::convolution_forward::desc(kind, algorithm, src, weights, dst, d.strides, d.pad_l, d.pad_r);
    return {desc, attr, engine_};
  }

  const Forward& forward_entry(const ConvShape& s, bool bias) {
    for (const Forward& f : forwards_)
      if (f.shape == s && f.bias == bias) return f;
    Forward f;
    f.shape = s, f.bias = bias;
    try {
      f.pd = forward_pd(s, bias);
      f.primitive = dnnl::convolution_forward(f.pd);
    } catch (const dnnl::error& e) {
      JOULE_FAIL("oneDNN has no bf16 convolution forward for ", describe(s), ": ", e.what());
    }
    note_impl(s, true, "forward " + std::string(f.pd.impl_info_str()));
    forwards_.push_back(std::move(f));
    return forwards_.back();
  }

  const Backward& backward_entry(const ConvShape& s, bool data_too) {
    for (const Backward& b : backwards_)
      if (b.shape == s && b.data_too == data_too) return b;
    const Dims d(s);
    const memory::desc src{d.src, dt::bf16, tag::any}, weights{d.weights, dt::bf16, tag::any};
    const memory::desc diff_dst{d.dst, dt::bf16, tag::any}, diff_weights{d.weights, dt::f32, tag::any};
    const memory::desc diff_src{d.src, dt::f32, tag::any};
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto algorithm = dnnl::algorithm::convolution_direct;
    Backward b;
    b.shape = s, b.data_too = data_too;
    try {
      const auto hint = forward_pd(s, false);
      using Weights = dnnl::convolution_backward_weights;
      const Weights::desc weights_desc(algorithm, src, diff_weights, diff_dst, d.strides, d.pad_l, d.pad_r);
      b.weights_pd = Weights::primitive_desc(weights_desc, attr, engine_, hint);
      b.weights = Weights(b.weights_pd);
      if (data_too) {
        using Data = dnnl::convolution_backward_data;
        b.data_pd = Data::primitive_desc(
            Data::desc(algorithm, diff_src, weights, diff_dst, d.strides, d.pad_l, d.pad_r), attr, engine_, hint);
        b.data = Data(b.data_pd);
      }
    } catch (const dnnl::error& e) {
      JOULE_FAIL("oneDNN has no bf16 convolution backward for ", describe(s), ": ", e.what());
    }
    note_impl(s, false,
              "backward weights " + std::string(b.weights_pd.impl_info_str()) +
                  (data_too ? ", data " + std::string(b.data_pd.impl_info_str()) : ""));
    backwards_.push_back(std::move(b));
    return backwards_.back();
  }

  // kernel() names the implementations of the largest forward and the largest backward convolution.
  void note_impl(const ConvShape& s, bool forward, const std::string& what) {
    Impl& impl = forward ? forward_impl_ : backward_impl_;
    if (conv_flops(s) > impl.flops) impl.flops = conv_flops(s), impl.name = what;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<Forward> forwards_;  // a model has a handful of shapes: a linear search is the cheapest map
  std::vector<Backward> backwards_;
  std::array<std::vector<uint8_t>, slot_count> slots_;
  struct Impl {
    std::string name;
    double flops = 0;
  };
  Impl forward_impl_, backward_impl_;
};

}  // namespace

std::unique_ptr<ConvBackend> make_bf16_conv() {
  const std::string why = bf16_unavailable_reason();
  JOULE_CHECK(why.empty(), "bf16 compute is not available: ", why);
  return std::make_unique<OnednnConv>();
}

#else

std::unique_ptr<ConvBackend> make_bf16_conv() {
  JOULE_CHECK(false, "bf16 compute is not available: ", bf16_unavailable_reason());
  return nullptr;
}

#endif

}  // namespace joule
