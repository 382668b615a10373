// Builds a GGUF file (version 3 unless set_version says 2) in memory or on disk. It writes only
// what the reader accepts: misuse (a duplicate tensor, data of the wrong size, a bad alignment,
// arrays nested too deep) throws std::invalid_argument at the call that caused it.
//
// Layout: metadata in the order first set (setting a key again replaces its value in place),
// tensors in the order added, each at the next multiple of the alignment (general.alignment,
// default 32). The file ends right after the last tensor's data, so cutting it anywhere breaks it.
#pragma once
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/gguf/gguf.h"

namespace vkmoe {

class GgufWriter {
 public:
  void set_uint8(std::string_view key, uint8_t v);
  void set_int8(std::string_view key, int8_t v);
  void set_uint16(std::string_view key, uint16_t v);
  void set_int16(std::string_view key, int16_t v);
  void set_uint32(std::string_view key, uint32_t v);  // general.alignment: a power of two
  void set_int32(std::string_view key, int32_t v);
  void set_uint64(std::string_view key, uint64_t v);
  void set_int64(std::string_view key, int64_t v);
  void set_float32(std::string_view key, float v);
  void set_float64(std::string_view key, double v);
  void set_bool(std::string_view key, bool v);
  void set_string(std::string_view key, std::string_view v);

  void set_array(std::string_view key, std::span<const std::string> v);
  void set_array(std::string_view key, std::span<const float> v);
  void set_array(std::string_view key, std::span<const int32_t> v);
  void set_array(std::string_view key, std::span<const uint32_t> v);
  // Any value, including arrays of any element type and arrays of arrays.
  void set_value(std::string_view key, const GgufValue& v);

  void set_version(uint32_t version);  // 2 or 3 (same layout)

  // Checks the shape (1..4 dims, none zero, rows whole blocks) and data.size() against it.
  void add_tensor(std::string name, GgmlType type, std::vector<uint64_t> shape,
                  std::span<const uint8_t> data);

  std::vector<uint8_t> to_bytes() const;
  // Atomic: writes a temporary file beside `path`, then renames it. GgufError on I/O failure.
  void write(const std::filesystem::path& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> data;
  };
  // Encoded value: u32 type, then the value's bytes.
  void set_encoded(std::string_view key, std::vector<uint8_t> value);
  template <typename T>
  void set_fixed_array(std::string_view key, GgufValueType elem, std::span<const T> v);

  uint32_t version_ = 3;
  uint64_t alignment_ = kGgufDefaultAlignment;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> kvs_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace vkmoe
