// GGUF types shared by the reader and the writer: the error type, metadata value types, tensor
// descriptions and the one size rule both sides must agree on.
//
// Layout (v2 and v3 are identical; v1 had 32-bit counts and lengths and is not supported):
//   u32 magic "GGUF", u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x { string key, u32 value_type, value },
//   tensor_count x { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset },
//   padding to the alignment, then the data section (tensor offsets are relative to it).
// A string is u64 length + bytes (no terminator); an array is u32 element type, u64 count, elements.
// Everything is little-endian.
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runtime/quant/ggml_type.h"

namespace vkmoe {

class GgufError : public std::runtime_error {
 public:
  // The message is "<file>: <what>", so a caller can print it as is.
  GgufError(const std::string& file, const std::string& what);
};

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kGgufDefaultAlignment = 32;
constexpr uint32_t kGgufMaxDims = 4;
// Arrays of arrays are legal but nothing real uses them deeply; a bound keeps the walk's
// recursion (and a hostile file's cost) small. A plain array has depth 1.
constexpr uint32_t kGgufMaxArrayDepth = 8;

bool gguf_type_valid(uint32_t t);
std::string_view gguf_type_name(GgufValueType t);  // "uint32", "string", ...; "unknown" otherwise
// Bytes of one fixed-size value; 0 for STRING and ARRAY (and invalid types).
uint32_t gguf_scalar_size(GgufValueType t);
bool gguf_is_integer(GgufValueType t);

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> shape;  // GGML order: shape[0] is the contiguous (row) length; 1..4 dims
  GgmlType type;
  uint64_t offset;  // from the start of the data section
  uint64_t bytes;   // exact size from shape and type
  uint64_t elements() const;
};

// The size rule for a tensor: 1..4 dims, none zero, a known type, rows a whole number of blocks,
// and element and byte counts that fit in int64 (GGML's ne type). `error` is empty when it holds.
struct GgufTensorSize {
  uint64_t elements = 0;
  uint64_t bytes = 0;
  std::string error;
};
GgufTensorSize gguf_tensor_size(uint32_t type, std::span<const uint64_t> shape);

// ggml drops trailing dimensions of 1 when it writes a file, so [128, 512] and [128, 512, 1] are
// one shape: compare shapes with these, never with ==.
bool same_shape(std::span<const uint64_t> a, std::span<const uint64_t> b);
uint64_t shape_dim(std::span<const uint64_t> shape, size_t i);  // 1 past the last dimension
// Dimensions up to the last one that is not 1 (at least one).
size_t shape_rank(std::span<const uint64_t> shape);

// One metadata value, owned: what the writer takes and what GgufFile::get_value returns. Only the
// field for `type` is meaningful (u: unsigned and bool, i: signed, f: floats, s, items).
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  GgufValueType array_type = GgufValueType::UINT8;  // element type when type == ARRAY
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<GgufValue> items;

  bool operator==(const GgufValue&) const = default;

  template <typename T>
  static GgufValue of(T v) {
    GgufValue r;
    if constexpr (std::is_same_v<T, bool>) {
      r.type = GgufValueType::BOOL, r.u = v;
    } else if constexpr (std::is_same_v<T, float>) {
      r.type = GgufValueType::FLOAT32, r.f = v;
    } else if constexpr (std::is_same_v<T, double>) {
      r.type = GgufValueType::FLOAT64, r.f = v;
    } else if constexpr (std::is_convertible_v<T, std::string_view>) {
      r.type = GgufValueType::STRING, r.s = std::string(std::string_view(v));
    } else {
      static_assert(std::is_integral_v<T> && !std::is_same_v<T, char> && sizeof(T) <= 8,
                    "use a fixed-width integer type");
      constexpr bool s = std::is_signed_v<T>;
      constexpr GgufValueType types[4][2] = {{GgufValueType::UINT8, GgufValueType::INT8},
                                             {GgufValueType::UINT16, GgufValueType::INT16},
                                             {GgufValueType::UINT32, GgufValueType::INT32},
                                             {GgufValueType::UINT64, GgufValueType::INT64}};
      constexpr int w = sizeof(T) == 1 ? 0 : sizeof(T) == 2 ? 1 : sizeof(T) == 4 ? 2 : 3;
      r.type = types[w][s];
      if constexpr (s) r.i = v; else r.u = v;
    }
    return r;
  }
  // Every item must have type `elem` (checked by the writer); an empty array keeps its type.
  static GgufValue array(GgufValueType elem, std::vector<GgufValue> items) {
    GgufValue r;
    r.type = GgufValueType::ARRAY, r.array_type = elem, r.items = std::move(items);
    return r;
  }
};

}  // namespace vkmoe
