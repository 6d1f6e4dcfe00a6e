// DType sizes and names; bf16/f16 conversions (exhaustive round trips, round-to-nearest-even at
// every midpoint, overflow, subnormals, NaN/inf); Device strings and parse_device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/dtype.h"
#include "core/error.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;

uint32_t float_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

float bits_float(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

bool f16_is_nan(uint16_t bits) { return (bits & 0x7c00u) == 0x7c00u && (bits & 0x3ffu) != 0; }
bool bf16_is_nan(uint16_t bits) { return (bits & 0x7f80u) == 0x7f80u && (bits & 0x7fu) != 0; }

constexpr float inf = std::numeric_limits<float>::infinity();

}  // namespace

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::f32), 4u);
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::f16), 2u);
  EXPECT_EQ(dtype_size(DType::i32), 4u);
  EXPECT_EQ(dtype_size(DType::i64), 8u);
  EXPECT_EQ(dtype_size(DType::u8), 1u);
  EXPECT_STREQ(dtype_name(DType::f32), "f32");
  EXPECT_STREQ(dtype_name(DType::bf16), "bf16");
  EXPECT_STREQ(dtype_name(DType::f16), "f16");
  EXPECT_STREQ(dtype_name(DType::i32), "i32");
  EXPECT_STREQ(dtype_name(DType::i64), "i64");
  EXPECT_STREQ(dtype_name(DType::u8), "u8");
  EXPECT_EQ(dtype_size(DTypeOf<BFloat16>::value), sizeof(BFloat16));
  EXPECT_EQ(dtype_size(DTypeOf<Half>::value), sizeof(Half));
  EXPECT_EQ(dtype_size(DTypeOf<int64_t>::value), sizeof(int64_t));
}

TEST(DType, Bf16RoundTripIsExactForEveryNonNanPattern) {
  for (uint32_t b = 0; b <= 0xffffu; ++b) {
    const auto bits = static_cast<uint16_t>(b);
    const float f = bf16_to_f32(BFloat16{bits});
    ASSERT_EQ(float_bits(f), b << 16) << std::hex << b;  // bf16 is the top half of an f32
    if (bf16_is_nan(bits)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      ASSERT_TRUE(bf16_is_nan(f32_to_bf16(f).bits)) << std::hex << b;
    } else {
      ASSERT_EQ(f32_to_bf16(f).bits, bits) << std::hex << b;
    }
  }
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80u);      // halfway, down to even 1
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82u);  // halfway, up to even 1 + 2^-6
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)).bits, 0x3f81u);  // above half
  EXPECT_EQ(f32_to_bf16(-(1.0f + 3 * std::ldexp(1.0f, -8))).bits, 0xbf82u);

  // Every midpoint between adjacent positive finite bf16 values (exact in f32) rounds to the even
  // neighbour; one f32 ulp either side rounds to the nearer one.
  for (uint32_t b = 0; b < 0x7f7fu; ++b) {
    const float lo = bf16_to_f32(BFloat16{static_cast<uint16_t>(b)});
    const float hi = bf16_to_f32(BFloat16{static_cast<uint16_t>(b + 1)});
    const float mid = bits_float((float_bits(lo) + float_bits(hi)) / 2);
    ASSERT_EQ(f32_to_bf16(mid).bits, (b & 1) ? b + 1 : b) << std::hex << b;
    ASSERT_EQ(f32_to_bf16(std::nextafter(mid, 0.0f)).bits, b) << std::hex << b;
    ASSERT_EQ(f32_to_bf16(std::nextafter(mid, inf)).bits, b + 1) << std::hex << b;
  }
}

TEST(DType, Bf16SpecialValues) {
  EXPECT_EQ(f32_to_bf16(inf).bits, 0x7f80u);
  EXPECT_EQ(f32_to_bf16(-inf).bits, 0xff80u);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()).bits, 0x7f80u);  // rounds past the largest bf16
  EXPECT_EQ(f32_to_bf16(-0.0f).bits, 0x8000u);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // a NaN whose payload lives only in the low 16 bits must not truncate to inf
  EXPECT_TRUE(bf16_is_nan(f32_to_bf16(bits_float(0x7f800001u)).bits));
  EXPECT_TRUE(bf16_is_nan(f32_to_bf16(bits_float(0xffffffffu)).bits));
}

TEST(DType, F16RoundTripIsExactForEveryNonNanPattern) {
  for (uint32_t b = 0; b <= 0xffffu; ++b) {
    const auto bits = static_cast<uint16_t>(b);
    const float f = f16_to_f32(Half{bits});
    if (f16_is_nan(bits)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      ASSERT_TRUE(f16_is_nan(f32_to_f16(f).bits)) << std::hex << b;
    } else {
      ASSERT_EQ(f32_to_f16(f).bits, bits) << std::hex << b << " -> " << f;
    }
  }
}

TEST(DType, F16KnownValues) {
  EXPECT_EQ(f16_to_f32(Half{0x3c00}), 1.0f);
  EXPECT_EQ(f16_to_f32(Half{0xc000}), -2.0f);
  EXPECT_EQ(f16_to_f32(Half{0x7bff}), 65504.0f);  // largest finite
  EXPECT_EQ(f16_to_f32(Half{0x0001}), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(Half{0x03ff}), 1023 * std::ldexp(1.0f, -24));  // largest subnormal
  EXPECT_EQ(f16_to_f32(Half{0x0400}), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(Half{0x7c00}), inf);
  EXPECT_EQ(f16_to_f32(Half{0xfc00}), -inf);
  EXPECT_EQ(float_bits(f16_to_f32(Half{0x8000})), 0x80000000u);

  EXPECT_EQ(f32_to_f16(65504.0f).bits, 0x7bffu);
  EXPECT_EQ(f32_to_f16(65519.0f).bits, 0x7bffu);
  EXPECT_EQ(f32_to_f16(65520.0f).bits, 0x7c00u);  // halfway to 2^16: even is inf
  EXPECT_EQ(f32_to_f16(-65520.0f).bits, 0xfc00u);
  EXPECT_EQ(f32_to_f16(1e10f).bits, 0x7c00u);
  EXPECT_EQ(f32_to_f16(inf).bits, 0x7c00u);
  EXPECT_EQ(f32_to_f16(-inf).bits, 0xfc00u);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)).bits, 0x0001u);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)).bits, 0x0000u);      // halfway to 2^-24: even is 0
  EXPECT_EQ(f32_to_f16(3 * std::ldexp(1.0f, -25)).bits, 0x0002u);  // halfway: up to even
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)).bits, 0x0400u);  // into the normals
  EXPECT_EQ(f32_to_f16(-1e-30f).bits, 0x8000u);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00u);      // halfway, down to even 1
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3c02u);  // halfway, up to even
  EXPECT_EQ(f32_to_f16(2047.5f).bits, 0x6800u);  // halfway 2047/2048 (ulp 1): even 2048, carries the exponent
  EXPECT_TRUE(f16_is_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN()).bits));
  EXPECT_TRUE(f16_is_nan(f32_to_f16(bits_float(0x7f800001u)).bits));  // NaN payload below f16 precision
}

TEST(DType, F16RoundsToNearestEvenAtEveryMidpoint) {
  // Adjacent positive finite f16 values a < b, subnormals included: the midpoint (exact in f32)
  // goes to the even one, one f32 ulp either side to the nearer one.
  for (uint32_t b = 0; b < 0x7bffu; ++b) {
    const float lo = f16_to_f32(Half{static_cast<uint16_t>(b)});
    const float hi = f16_to_f32(Half{static_cast<uint16_t>(b + 1)});
    const float mid = (lo + hi) / 2;  // 12 significant bits: exact
    ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(lo) + hi) / 2) << std::hex << b;
    ASSERT_EQ(f32_to_f16(mid).bits, (b & 1) ? b + 1 : b) << std::hex << b << " mid " << mid;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, 0.0f)).bits, b) << std::hex << b;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, inf)).bits, b + 1) << std::hex << b;
    ASSERT_EQ(f32_to_f16(-mid).bits, ((b & 1) ? b + 1 : b) | 0x8000u) << std::hex << b;
  }
  EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)).bits, 0x7bffu);
}

TEST(DType, DeviceStrings) {
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_EQ(Device::cuda(2).str(), "cuda:2");
  EXPECT_TRUE(Device::cpu().is_cpu());
  EXPECT_FALSE(Device::cuda(0).is_cpu());
  EXPECT_EQ(Device::cuda(1), Device::cuda(1));
  EXPECT_NE(Device::cuda(1), Device::cuda(0));
  EXPECT_NE(Device::cpu(), Device::cuda(0));
}

TEST(DType, ParseDevice) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:0"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:3"), Device::cuda(3));
  EXPECT_EQ(parse_device("cuda:12"), Device::cuda(12));
  for (const char* bad : {"gpu", "cuda:x", "cuda:", "cuda:-1", "cuda:1x", "CPU", "", " cpu", "cuda:99999999999"}) {
    expect_invalid_input([&] { parse_device(bad); },
                         {"device '" + std::string(bad) + "'", "expected cpu, cuda or cuda:N"});
  }
}

}  // namespace joule
