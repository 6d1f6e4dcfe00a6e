#include "core/dtype.h"

#include <cmath>

#include "core/error.h"

namespace joule {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  JOULE_FAIL("unknown dtype ", static_cast<int>(dtype));
}

const char* precision_name(Precision precision) { return precision == Precision::bf16 ? "bf16" : "f32"; }

bool parse_precision(const std::string& text, Precision* precision) {
  if (text != "f32" && text != "bf16") return false;
  *precision = text == "bf16" ? Precision::bf16 : Precision::f32;
  return true;
}

int precision_bits(Precision precision) { return precision == Precision::bf16 ? 16 : 32; }

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "unknown";
}

float bf16_to_f32(BFloat16 value) {
  uint32_t bits = static_cast<uint32_t>(value.bits) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

BFloat16 f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if (std::isnan(value)) return BFloat16{static_cast<uint16_t>((bits >> 16) | 0x40)};
  uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return BFloat16{static_cast<uint16_t>((bits + rounding) >> 16)};
}

float f16_to_f32(Half value) {
  uint32_t sign = (value.bits & 0x8000u) << 16;
  uint32_t exponent = (value.bits >> 10) & 0x1f;
  uint32_t mantissa = value.bits & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int shift = 0;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ffu;
      bits = sign | static_cast<uint32_t>(127 - 15 - shift + 1) << 23 | mantissa << 13;
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

Half f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  if (std::isnan(value)) return Half{static_cast<uint16_t>(sign | 0x7e00u)};
  float magnitude = std::fabs(value);
  if (magnitude >= 65520.0f) return Half{static_cast<uint16_t>(sign | 0x7c00u)};
  if (magnitude < 6.103515625e-05f) {  // subnormal range: quantize to multiples of 2^-24
    auto q = static_cast<uint16_t>(std::nearbyint(magnitude * 16777216.0f));
    return Half{static_cast<uint16_t>(sign | q)};
  }
  uint32_t abs_bits = bits & 0x7fffffffu;
  uint32_t rounding = 0xfff + ((abs_bits >> 13) & 1);
  abs_bits += rounding;
  uint32_t exponent = (abs_bits >> 23) - 127 + 15;
  uint32_t mantissa = (abs_bits >> 13) & 0x3ffu;
  return Half{static_cast<uint16_t>(sign | exponent << 10 | mantissa)};
}

std::string Device::str() const {
  return type == DeviceType::cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string digits = text.substr(5);
    JOULE_CHECK(!digits.empty() && digits.size() <= 9 && digits.find_first_not_of("0123456789") == std::string::npos,
                "device '", text, "': expected cpu, cuda or cuda:N");
    return Device::cuda(std::stoi(digits));
  }
  JOULE_FAIL_INPUT("device '", text, "': expected cpu, cuda or cuda:N");
}

}  // namespace joule
