#include <algorithm>
#include "runtime/gguf/gguf.h"

#include <limits>

namespace vkmoe {

GgufError::GgufError(const std::string& file, const std::string& what)
    : std::runtime_error(file + ": " + what) {}

bool gguf_type_valid(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

std::string_view gguf_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return "uint8";
    case GgufValueType::INT8: return "int8";
    case GgufValueType::UINT16: return "uint16";
    case GgufValueType::INT16: return "int16";
    case GgufValueType::UINT32: return "uint32";
    case GgufValueType::INT32: return "int32";
    case GgufValueType::FLOAT32: return "float32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::UINT64: return "uint64";
    case GgufValueType::INT64: return "int64";
    case GgufValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

uint32_t gguf_scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

bool gguf_is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::UINT16:
    case GgufValueType::INT16: case GgufValueType::UINT32: case GgufValueType::INT32:
    case GgufValueType::UINT64: case GgufValueType::INT64:
      return true;
    default:
      return false;
  }
}

uint64_t GgufTensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // checked against overflow when the info was made
  return n;
}

size_t shape_rank(std::span<const uint64_t> shape) {
  size_t n = shape.size();
  while (n > 1 && shape[n - 1] == 1) --n;
  return n;
}

uint64_t shape_dim(std::span<const uint64_t> shape, size_t i) { return i < shape.size() ? shape[i] : 1; }

bool same_shape(std::span<const uint64_t> a, std::span<const uint64_t> b) {
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (shape_dim(a, i) != shape_dim(b, i)) return false;
  return true;
}

GgufTensorSize gguf_tensor_size(uint32_t type, std::span<const uint64_t> shape) {
  GgufTensorSize r;
  auto info = ggml_type_info(type);
  if (!info) {
    r.error = "has unknown type " + std::to_string(type) + " (not a GGML type number)";
    return r;
  }
  if (shape.empty() || shape.size() > kGgufMaxDims) {
    r.error = "has " + std::to_string(shape.size()) + " dimensions (1 to " +
              std::to_string(kGgufMaxDims) + " allowed)";
    return r;
  }
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  uint64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) {
      r.error = "dimension " + std::to_string(i) + " is 0";
      return r;
    }
    if (__builtin_mul_overflow(n, shape[i], &n) || n > kMax) {
      r.error = "element count overflows (dimension " + std::to_string(i) + " is " +
                std::to_string(shape[i]) + ")";
      return r;
    }
  }
  if (shape[0] % info->block_elems != 0) {
    r.error = "row length " + std::to_string(shape[0]) + " is not a multiple of the " +
              std::string(info->name) + " block size " + std::to_string(info->block_elems);
    return r;
  }
  // n / block_elems blocks; the product fits when n <= int64 max and block_bytes is small, but
  // types with block_bytes > block_elems (e.g. f64) can still overflow, so check.
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n / info->block_elems, uint64_t{info->block_bytes}, &bytes) ||
      bytes > kMax) {
    r.error = "byte size overflows";
    return r;
  }
  r.elements = n;
  r.bytes = bytes;
  return r;
}

}  // namespace vkmoe
