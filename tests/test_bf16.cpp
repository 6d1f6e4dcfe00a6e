// Compute precision bf16 (core/gemm.h, ctx.precision): the availability rule and the request
// resolution; the bf16 GEMM against f32 Eigen on the transposes Linear's backward uses, with alpha,
// beta and padded leading dimensions; Linear and Conv2d forward and backward in bf16 against f32;
// switching the precision back and forth (f32 results bit-identical again); the config field; a
// bf16 request where oneDNN is told the CPU has no bf16 (one warning, the run stays f32); and the MLP
// of examples/configs/fashion_mlp.pbtxt trained on Fashion-MNIST in bf16 and in f32.
//
// Tolerances: bf16 keeps 8 significant bits, so each operand carries a relative rounding error of at
// most u = 2^-8 and each product a_k·b_k of at most 2u + u² (products and sums are then f32). Every
// output is therefore within (2u + u²)·Σ|a_k||b_k| of the exact value, plus f32 accumulation
// (≤ K·2^-24·Σ|a_k||b_k|, for the bf16 result and the f32 reference each). The tests compute Σ|a||b|
// for every output by running the same op in f32 on |operands|, and assert that worst-case bound;
// typical errors are ~sqrt(K) times smaller, the tolerance the brief names as eps·sqrt(K).
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "core/build_info.h"
#include "core/config.h"
#include "core/context.h"
#include "core/dataset.h"
#include "core/gemm.h"
#include "core/proto/records.pb.h"
#include "distributed/communicator.h"
#include "distributed/trainer.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "tests/support/command.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

using testing::random_tensor;

#define SKIP_WITHOUT_BF16()                                        \
  do {                                                             \
    const std::string why = bf16_unavailable_reason();             \
    if (!why.empty()) GTEST_SKIP() << "bf16 unavailable: " << why; \
  } while (0)

Tensor abs_of(const Tensor& t) {
  std::vector<float> v = t.to_floats();
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_floats(v, t.shape());
}

Tensor copy_of(const Tensor& t) { return Tensor::from_floats(t.to_floats(), t.shape()); }

bool bit_equal(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_floats(), y = b.to_floats();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// |got - ref| <= (2u + u² + 2·K·2^-24)·abs_sum + 1e-6·|ref| elementwise (see the file comment; the
// last term is the f32 rounding of a bias or beta·C added to the product). Also asserts that bf16
// changed something: a bf16 result equal to f32 everywhere means the f32 path ran.
void expect_bf16_close(const Tensor& got, const Tensor& ref, const Tensor& abs_sum, int64_t K,
                       const std::string& what) {
  const std::vector<float> g = got.to_floats(), r = ref.to_floats(), s = abs_sum.to_floats();
  ASSERT_EQ(g.size(), r.size()) << what;
  ASSERT_EQ(g.size(), s.size()) << what;
  const double u = std::ldexp(1.0, -8), factor = 2 * u + u * u + 2.0 * static_cast<double>(K) * std::ldexp(1.0, -24);
  double differs = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(g[i]) - r[i]);
    const double tol = factor * s[i] + 1e-6 * std::fabs(r[i]) + 1e-30;
    ASSERT_LE(diff, tol) << what << "[" << i << "]: bf16 " << g[i] << " vs f32 " << r[i];
    differs = std::max(differs, diff);
  }
  EXPECT_GT(differs, 0.0) << what << ": bf16 gave exactly the f32 result (did the f32 path run?)";
}

// C = alpha·op(A)·op(B) + beta·C with padded leading dimensions, bf16 vs f32 Eigen; padding untouched.
void check_gemm(Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
  const bool ta_ = ta == Transpose::yes, tb_ = tb == Transpose::yes;
  const int64_t lda = (ta_ ? M : K) + 3, ldb = (tb_ ? K : N) + 1, ldc = N + 2;
  const Tensor A = random_tensor({(ta_ ? K : M) * lda}, 1), B = random_tensor({(tb_ ? N : K) * ldb}, 2);
  const Tensor C0 = random_tensor({M * ldc}, 3);
  Tensor c16 = copy_of(C0), c32 = copy_of(C0), bound = abs_of(C0);
  Context ctx = make_cpu_context(2, 0);
  ctx.precision = Precision::bf16;
  gemm_f32(ctx, ta, tb, M, N, K, alpha, A.data<float>(), lda, B.data<float>(), ldb, beta, c16.data<float>(), ldc);
  gemm_f32_eigen(ta, tb, M, N, K, alpha, A.data<float>(), lda, B.data<float>(), ldb, beta, c32.data<float>(), ldc);
  // Σ|alpha·a·b| (the bound of the product's rounding; |beta·C| is added exactly in f32)
  const Tensor absA = abs_of(A), absB = abs_of(B);
  gemm_f32_eigen(ta, tb, M, N, K, std::fabs(alpha), absA.data<float>(), lda, absB.data<float>(), ldb, 0.0f,
                 bound.data<float>(), ldc);
  const std::string what = GemmShape{ta, tb, M, N, K, alpha, beta, lda, ldb, ldc}.describe();
  expect_bf16_close(c16, c32, bound, K, what);
  const std::vector<float> got = c16.to_floats(), before = C0.to_floats();
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = N; j < ldc; ++j) ASSERT_EQ(got[i * ldc + j], before[i * ldc + j]) << what << " padding";
}

TEST(Bf16, AvailabilityAndRequestResolution) {
  const std::string why = bf16_unavailable_reason();
  std::string warning = "stale";
  EXPECT_EQ(resolve_precision(Precision::f32, &warning), Precision::f32);
  EXPECT_EQ(warning, "");
  const Precision got = resolve_precision(Precision::bf16, &warning);
  if (why.empty()) {
    EXPECT_EQ(got, Precision::bf16);
    EXPECT_EQ(warning, "");
  } else {
    EXPECT_EQ(got, Precision::f32);
    EXPECT_NE(warning.find(why), std::string::npos) << warning;
    EXPECT_NE(warning.find("f32"), std::string::npos) << warning;
  }
  if (!JOULE_HAVE_ONEDNN) {
    EXPECT_NE(why.find("without oneDNN"), std::string::npos) << why;
  }
  Precision p = Precision::f32;
  EXPECT_TRUE(parse_precision("bf16", &p));
  EXPECT_EQ(p, Precision::bf16);
  EXPECT_FALSE(parse_precision("fp16", &p));
  EXPECT_STREQ(precision_name(Precision::bf16), "bf16");
  EXPECT_EQ(precision_bits(Precision::f32), 32);
}

TEST(Bf16, ConfigFieldIsValidated) {
  pb::Config config = parse_config_text("model { mlp { hidden: 8 } }\ntrain { precision: \"fp16\" }\n", "cfg");
  fill_config_defaults(config);
  testing::expect_invalid_input([&] { validate_config(config, "cfg"); },
                                {"train.precision", "\"fp16\"", "f32 or bf16"});
  config.mutable_train()->set_precision("bf16");
  validate_config(config, "cfg");  // valid even where bf16 is unavailable: the run then warns and uses f32
  EXPECT_EQ(pb::TrainConfig().precision(), "f32");
}

TEST(Bf16, GemmMatchesF32EigenOnEveryTranspose) {
  SKIP_WITHOUT_BF16();
  for (Transpose ta : {Transpose::no, Transpose::yes})
    for (Transpose tb : {Transpose::no, Transpose::yes}) {
      check_gemm(ta, tb, 7, 5, 3, 1.0f, 0.0f);
      check_gemm(ta, tb, 33, 17, 130, 0.5f, 1.0f);
      check_gemm(ta, tb, 130, 70, 65, -1.0f, 0.25f);
      check_gemm(ta, tb, 64, 300, 784, 1.0f, 1.0f);  // Linear-like: K = 784 features
    }
}

// With K = 1 and B = 1 the GEMM returns A's bf16 rounding exactly (an 8-bit by 8-bit product is exact
// in f32): ties go to even, NaN stays NaN, overflow rounds to inf. 37 rows: AVX-512 lanes and a tail.
// (No denormals: AMX reads bf16 denormals as zero.)
TEST(Bf16, GemmRoundsOperandsToNearestEven) {
  SKIP_WITHOUT_BF16();
  std::vector<float> a;
  for (int i = 0; i < 37; ++i) a.push_back(1.0f + static_cast<float>(i) * std::ldexp(1.0f, -10));  // between bf16 steps
  a[3] = 1.0f + std::ldexp(1.0f, -8);                             // tie below an even bf16: stays at 1
  a[4] = 1.0f + 3 * std::ldexp(1.0f, -8);                         // tie above an odd one: up to 1 + 2^-6
  a[5] = -(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20));  // just past a tie: away from 1
  a[6] = std::numeric_limits<float>::infinity();
  a[7] = std::numeric_limits<float>::quiet_NaN();
  a[8] = std::numeric_limits<float>::max();  // rounds up to inf
  a[36] = 3.14159265f;                       // in the scalar tail
  const float one = 1.0f;
  std::vector<float> c(a.size(), -7.0f);
  Context ctx = make_cpu_context(2, 0);
  ctx.precision = Precision::bf16;
  gemm_f32(ctx, Transpose::no, Transpose::no, static_cast<int64_t>(a.size()), 1, 1, 1.0f, a.data(), 1, &one, 1, 0.0f,
           c.data(), 1);
  for (size_t i = 0; i < a.size(); ++i) {
    const float expected = bf16_to_f32(f32_to_bf16(a[i]));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(c[i])) << i;
    } else {
      EXPECT_EQ(c[i], expected) << "row " << i << ": " << a[i];
    }
  }
  EXPECT_EQ(c[3], 1.0f);
  EXPECT_EQ(c[4], 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(c[5], -(1.0f + std::ldexp(1.0f, -7)));
  EXPECT_EQ(c[8], std::numeric_limits<float>::infinity());
}

struct LinearOut {
  Tensor y, dx, dw, db;
};

LinearOut run_linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy) {
  LinearOut o;
  linear_forward(ctx, o.y, x, w, b);
  o.dw = Tensor::zeros(w.shape());
  o.db = Tensor::zeros(b.shape());
  linear_backward(ctx, &o.dx, o.dw, &o.db, dy, x, w, GradMode::overwrite);
  return o;
}

TEST(Bf16, LinearForwardBackwardMatchF32) {
  SKIP_WITHOUT_BF16();
  const int64_t N = 96, IN = 200, OUT = 72;
  const Tensor x = random_tensor({N, IN}, 11), w = random_tensor({OUT, IN}, 12), b = random_tensor({OUT}, 13);
  const Tensor dy = random_tensor({N, OUT}, 14);
  Context ctx = make_cpu_context(2, 0);
  const LinearOut f32 = run_linear(ctx, x, w, b, dy);
  // Σ|a||b| for each output: the same op in f32 on absolute values (no bias)
  LinearOut bound;
  linear_forward(ctx, bound.y, abs_of(x), abs_of(w), Tensor());
  bound.dw = Tensor::zeros(w.shape());
  linear_backward(ctx, &bound.dx, bound.dw, nullptr, abs_of(dy), abs_of(x), abs_of(w), GradMode::overwrite);

  ctx.precision = Precision::bf16;
  const LinearOut bf16 = run_linear(ctx, x, w, b, dy);
  expect_bf16_close(bf16.y, f32.y, bound.y, IN, "linear y");
  expect_bf16_close(bf16.dx, f32.dx, bound.dx, OUT, "linear dx");
  expect_bf16_close(bf16.dw, f32.dw, bound.dw, N, "linear dweight");
  EXPECT_TRUE(bit_equal(bf16.db, f32.db)) << "the bias gradient is a column sum in f32 at either precision";

  ctx.precision = Precision::f32;  // back: f32's results exactly (no state left behind)
  const LinearOut again = run_linear(ctx, x, w, b, dy);
  EXPECT_TRUE(bit_equal(again.y, f32.y));
  EXPECT_TRUE(bit_equal(again.dx, f32.dx));
  EXPECT_TRUE(bit_equal(again.dw, f32.dw));
  ctx.precision = Precision::bf16;  // and bf16 once more: the cached primitives give the same bf16 results
  const LinearOut bf16_again = run_linear(ctx, x, w, b, dy);
  EXPECT_TRUE(bit_equal(bf16_again.y, bf16.y));
  EXPECT_TRUE(bit_equal(bf16_again.dw, bf16.dw));
}

struct ConvCase {
  int64_t N, C, H, W, K, R, S;
  Conv2dParams params;
};

struct ConvOut {
  Tensor y, dx, dw, db;
};

ConvOut run_conv(Context& ctx, const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
                 const Tensor& dw0) {
  ConvOut o;
  conv2d_forward(ctx, o.y, x, w, b, c.params);
  o.dw = copy_of(dw0);  // accumulate mode: dweight += ...
  o.db = Tensor::zeros({c.K});
  conv2d_backward(ctx, &o.dx, o.dw, &o.db, dy, x, w, c.params, GradMode::accumulate);
  return o;
}

TEST(Bf16, Conv2dForwardBackwardMatchF32) {
  SKIP_WITHOUT_BF16();
  // the CNN's second layer in small (3x3, pad 1), stride 2, a 1x1, a 3x2 kernel; all at least
  // bf16_min_depth (32) deep; then a shallow C = 1 layer (depth 9), which stays f32 (conv2d_gemm.h)
  const std::vector<ConvCase> cases = {{4, 8, 10, 10, 16, 3, 3, {1, 1}},
                                       {2, 4, 7, 6, 5, 3, 3, {2, 1}},
                                       {2, 40, 4, 3, 6, 1, 1, {1, 0}},
                                       {3, 6, 6, 9, 5, 3, 2, {1, 0}},
                                       {3, 1, 9, 8, 6, 3, 3, {1, 1}}};
  for (const ConvCase& c : cases) {
    const std::string name = "conv N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " K" + std::to_string(c.K) +
                             " " + std::to_string(c.R) + "x" + std::to_string(c.S) + " stride " +
                             std::to_string(c.params.stride) + " pad " + std::to_string(c.params.padding);
    const int64_t P = (c.H + 2 * c.params.padding - c.R) / c.params.stride + 1;
    const int64_t Q = (c.W + 2 * c.params.padding - c.S) / c.params.stride + 1;
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, 21), w = random_tensor({c.K, c.C, c.R, c.S}, 22);
    const Tensor b = random_tensor({c.K}, 23), dy = random_tensor({c.N, c.K, P, Q}, 24);
    const Tensor dw0 = random_tensor({c.K, c.C, c.R, c.S}, 25);
    Context ctx = make_cpu_context(2, 0);
    const ConvOut f32 = run_conv(ctx, c, x, w, b, dy, dw0);
    ctx.precision = Precision::bf16;
    const ConvOut bf16 = run_conv(ctx, c, x, w, b, dy, dw0);
    ctx.precision = Precision::f32;
    if (c.C * c.R * c.S < 32) {  // shallow: the f32 path, exactly
      EXPECT_TRUE(bit_equal(bf16.y, f32.y) && bit_equal(bf16.dx, f32.dx) && bit_equal(bf16.dw, f32.dw)) << name;
      continue;
    }
    ConvOut bound;  // Σ|a||b| per output: the same convolution in f32 on absolute values
    conv2d_forward(ctx, bound.y, abs_of(x), abs_of(w), Tensor(), c.params);
    bound.dw = Tensor::zeros(w.shape());
    conv2d_backward(ctx, &bound.dx, bound.dw, nullptr, abs_of(dy), abs_of(x), abs_of(w), c.params, GradMode::overwrite);
    // dweight accumulates onto dw0 in f32: its rounding is in the 1e-6·|ref| term
    expect_bf16_close(bf16.y, f32.y, bound.y, c.C * c.R * c.S, name + " y");
    expect_bf16_close(bf16.dx, f32.dx, bound.dx, c.K * c.R * c.S, name + " dx");
    expect_bf16_close(bf16.dw, f32.dw, bound.dw, c.N * P * Q, name + " dweight");
    // the bias gradient is f32 at either precision, summed in another order (f32 rounding only)
    EXPECT_LE(testing::max_relative_difference(bf16.db, f32.db), 1e-5) << name << " dbias";

    const ConvOut again = run_conv(ctx, c, x, w, b, dy, dw0);  // back at f32: f32's results exactly
    EXPECT_TRUE(bit_equal(again.y, f32.y)) << name;
    EXPECT_TRUE(bit_equal(again.dx, f32.dx)) << name;
    EXPECT_TRUE(bit_equal(again.dw, f32.dw)) << name;
    EXPECT_TRUE(bit_equal(again.db, f32.db)) << name;
  }
}

namespace fs = std::filesystem;

std::vector<std::string> train_precisions(const std::string& run_dir) {
  std::vector<std::string> out;
  std::ifstream in(run_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"kind\":\"train\"") == std::string::npos) continue;
    pb::TrainRecord record;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << line;
    out.push_back(record.precision());
  }
  return out;
}

// ONEDNN_MAX_CPU_ISA=AVX512_CORE hides AVX512-BF16 and AMX from oneDNN: joule-train asked for bf16
// warns once with the reason, completes, and its train lines say f32.
TEST(Bf16, UnavailableBf16WarnsOnceAndTrainsInF32) {
  if (!JOULE_HAVE_ONEDNN) GTEST_SKIP() << "built without oneDNN: nothing to hide";
  const std::string dir = testing::make_temp_dir("joule-bf16-cli");
  const testing::SyntheticFiles f = testing::write_synthetic_dataset(dir + "/data", 600, 200, 5);
  std::ofstream(dir + "/cfg.pbtxt") << "run { name: \"r\" seed: 3 threads: 2 }\n"
                                    << "data { train_images: \"" << f.train_images << "\" train_labels: \""
                                    << f.train_labels << "\" test_images: \"" << f.test_images << "\" test_labels: \""
                                    << f.test_labels << "\" }\n"
                                    << "model { mlp { hidden: 32 } }\n"
                                    << "train { batch_size: 60 epochs: 1 log_every_steps: 1 precision: \"bf16\" }\n";
  const testing::CommandResult r = testing::run_command(
      "ONEDNN_MAX_CPU_ISA=AVX512_CORE " + testing::binary_path("joule-train") + " --config " +
      testing::shell_quote(dir + "/cfg.pbtxt") + " --output " + testing::shell_quote(dir + "/out"));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string warning = "precision bf16 is not available, computing in f32: this CPU has no AVX512-BF16/AMX";
  const size_t at = r.output.find(warning);
  EXPECT_NE(at, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(warning, at + 1), std::string::npos) << "warned more than once:\n" << r.output;
  const std::vector<std::string> precisions = train_precisions(dir + "/out/r");
  EXPECT_EQ(precisions.size(), 10u);
  for (const std::string& p : precisions) EXPECT_EQ(p, "f32");
  fs::remove_all(dir);
}

// One Fashion-MNIST run of an example config at `precision` on the reference math (Eigen, so no
// backend search runs and f32 is the same on every machine), train_limit training images, the
// first test_limit test images (0 = all); the run directory is dir/precision.
pb::Summary train_fashion(const std::string& example, const std::string& dir, const std::string& precision,
                          int64_t train_limit, int64_t test_limit, std::vector<std::string> overrides) {
  overrides.insert(overrides.end(),
                   {"run.threads=2", "run.cpu_math=eigen", "data.train_limit=" + std::to_string(train_limit),
                    "train.precision=" + precision});
  const pb::Config config = load_config(std::string(JOULE_SOURCE_DIR) + "/examples/configs/" + example, overrides);
  const Dataset train_set = load_dataset(config.data().train_images(), config.data().train_labels(), 10, train_limit);
  const Dataset test_set = load_dataset(config.data().test_images(), config.data().test_labels(), 10, test_limit);
  LocalCommunicator alone;
  TrainerIo io;
  io.progress = nullptr;
  io.run_dir = dir + "/" + precision;
  fs::create_directory(io.run_dir);
  Trainer trainer(config, train_set, test_set, alone);
  return trainer.run(io);
}

#define SKIP_WITHOUT_FASHION_MNIST()                                                 \
  do {                                                                               \
    if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) \
      GTEST_SKIP() << "no Fashion-MNIST in /usr/share/datasets/fashion-mnist";       \
  } while (0)

// The fashion_mlp.pbtxt model and optimizer (784-1024-1024-10, SGD momentum, warm-up + cosine) on
// 20000 Fashion-MNIST training images for 2 epochs, tested on all 10000: the same seed and steps in
// f32 and in bf16 end within 0.3 accuracy points of each other.
TEST(Bf16, MlpTrainsToF32Accuracy) {
  SKIP_WITHOUT_BF16();
  SKIP_WITHOUT_FASHION_MNIST();
  const std::string dir = testing::make_temp_dir("joule-bf16");
  double accuracy[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const std::string precision = i == 0 ? "f32" : "bf16";
    const pb::Summary summary = train_fashion("fashion_mlp.pbtxt", dir, precision, 20000, 0, {"train.epochs=2"});
    accuracy[i] = summary.final_accuracy();
    const std::vector<std::string> precisions = train_precisions(dir + "/" + precision);
    ASSERT_FALSE(precisions.empty());
    for (const std::string& p : precisions) EXPECT_EQ(p, precision) << "train records report the precision used";
    if (i == 0) {
      EXPECT_EQ(summary.bf16_kernels(), "") << "nothing ran at bf16";
    } else {
      EXPECT_NE(summary.bf16_kernels().find("bf16"), std::string::npos) << "the bf16 matmul's kernel is named";
    }
    std::printf("fashion mlp, 2 epochs of 20000: %s accuracy %.4f\n", precision.c_str(), accuracy[i]);
  }
  EXPECT_GT(accuracy[0], 0.8) << "f32 learned (a meaningful comparison)";
  EXPECT_NEAR(accuracy[1], accuracy[0], 0.003) << "bf16 within 0.3 points of f32";
  fs::remove_all(dir);
}

// The fashion_cnn.pbtxt model (conv32-pool-conv64-pool-fc128-fc10) on 6000 Fashion-MNIST images for
// one epoch, tested on 2000: bf16 (its second convolution on oneDNN's bf16 convolution primitives)
// ends within 1.5 points of f32 from the same seed, and the summary names the convolution kernel.
TEST(Bf16, CnnTrainsThroughTheBf16Convolution) {
  SKIP_WITHOUT_BF16();
  SKIP_WITHOUT_FASHION_MNIST();
  const std::string dir = testing::make_temp_dir("joule-bf16-cnn");
  double accuracy[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const std::string precision = i == 0 ? "f32" : "bf16";
    const pb::Summary summary = train_fashion("fashion_cnn.pbtxt", dir, precision, 6000, 2000,
                                              {"train.epochs=1", "train.schedule.warmup_steps=10"});
    accuracy[i] = summary.final_accuracy();
    if (i == 1) {
      EXPECT_NE(summary.bf16_kernels().find("convolution"), std::string::npos) << summary.bf16_kernels();
    }
    std::printf("fashion cnn, 1 epoch of 6000: %s accuracy %.4f\n", precision.c_str(), accuracy[i]);
  }
  EXPECT_GT(accuracy[0], 0.6) << "f32 learned (chance is 0.1: a meaningful comparison)";
  EXPECT_NEAR(accuracy[1], accuracy[0], 0.015) << "bf16 within 1.5 points of f32";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace joule
