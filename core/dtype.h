// Element types and devices. Every Tensor carries both from the start, even where only f32 on the
// CPU has kernels today: ops check and reject what they do not implement with a clear message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace joule {

enum class DType { f32, bf16, f16, i32, i64, u8 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

// 16-bit float storage types; arithmetic happens in f32.
struct BFloat16 {
  uint16_t bits = 0;
};
struct Half {
  uint16_t bits = 0;
};

float bf16_to_f32(BFloat16 value);
BFloat16 f32_to_bf16(float value);  // round to nearest even, NaN stays NaN
float f16_to_f32(Half value);
Half f32_to_f16(float value);  // round to nearest even, overflow to inf

template <class T>
struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<BFloat16> { static constexpr DType value = DType::bf16; };
template <> struct DTypeOf<Half> { static constexpr DType value = DType::f16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };

// Compute precision of the GEMMs (core/gemm.h): f32, or bf16 operands with f32 accumulation and
// output. Tensors, master weights, gradients and optimizer state stay f32 either way.
enum class Precision { f32, bf16 };

const char* precision_name(Precision precision);  // "f32" | "bf16"
// "f32" | "bf16" → precision; false for any other text.
bool parse_precision(const std::string& text, Precision* precision);
int precision_bits(Precision precision);  // 32 | 16

enum class DeviceType { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index) { return {DeviceType::cuda, index}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  std::string str() const;  // "cpu" or "cuda:N"
  bool operator==(const Device& other) const { return type == other.type && index == other.index; }
  bool operator!=(const Device& other) const { return !(*this == other); }
};

Device parse_device(const std::string& text);  // "cpu" | "cuda" | "cuda:N"

}  // namespace joule
