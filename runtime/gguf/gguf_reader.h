// A GGUF reader that trusts nothing in the file. Everything is checked when the file is opened
// (every length against the bytes that remain before anything is allocated, tensor shapes,
// types, alignment, bounds and overlap), so the accessors below can only fail for the caller's
// reasons: a missing key or a type other than the one asked for.
//
// Strings, string_views and spans point into the file's bytes (an mmap for open()); they stay
// valid while the GgufFile lives, moves included.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/gguf/gguf.h"

namespace vkmoe {

class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);  // mmap, read-only
  static GgufFile from_memory(std::vector<uint8_t> bytes, std::string name);  // tests and fuzzing

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();  // unmaps

  const std::string& name() const;
  uint32_t version() const;
  uint64_t alignment() const;
  uint64_t data_offset() const;  // start of the data section (may lie past the end with no tensors)
  uint64_t file_size() const;
  // Throws GgufError when the mapped file shrank or changed size since open() (its missing pages
  // then read as zeros rather than killing the process with SIGBUS). Callers check after reading
  // what they use, e.g. after uploading the weights.
  void check_intact() const;

  // Scalars. Absent key: nullopt. Present with a type the getter cannot convert: GgufError.
  bool has(std::string_view key) const;
  std::optional<GgufValueType> type_of(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  std::optional<uint64_t> get_uint(std::string_view key) const;  // any integer type; negative -> error
  std::optional<int64_t> get_int(std::string_view key) const;    // any integer type; > int64 max -> error
  std::optional<double> get_float(std::string_view key) const;   // f32/f64 and integers
  std::optional<bool> get_bool(std::string_view key) const;
  // The whole value, nested arrays included (copies; meant for tools and tests, not for vocabularies).
  std::optional<GgufValue> get_value(std::string_view key) const;

  // Arrays. array_type is nullopt and array_size 0 when the key is absent or not an array.
  std::optional<GgufValueType> array_type(std::string_view key) const;
  size_t array_size(std::string_view key) const;
  // Empty if absent; GgufError if the key is not an array of a convertible element type.
  std::vector<std::string_view> get_string_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;  // f32 (f64 narrowed)
  std::vector<int32_t> get_i32_array(std::string_view key) const;    // any integer elements that fit
  std::vector<uint32_t> get_u32_array(std::string_view key) const;   // any integer elements that fit
  std::vector<bool> get_bool_array(std::string_view key) const;

  // GgufError naming the file and the key when missing or of the wrong type.
  std::string_view require_string(std::string_view key) const;
  uint64_t require_uint(std::string_view key) const;
  double require_float(std::string_view key) const;

  std::string_view architecture() const;  // general.architecture or ""
  std::optional<uint64_t> arch_uint(std::string_view suffix) const;  // "<arch>.<suffix>"
  std::optional<double> arch_float(std::string_view suffix) const;

  const std::vector<GgufTensorInfo>& tensors() const;  // in file order
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  std::span<const uint8_t> tensor_data(const GgufTensorInfo&) const;

  struct MetadataEntry {
    std::string key;
    GgufValueType type;
    GgufValueType array_type;  // element type for arrays; equals `type` otherwise
    uint64_t array_size;       // 0 for non-arrays
    std::string summary;       // the value, or "[N x type]" for arrays; short
  };
  std::vector<MetadataEntry> metadata() const;  // in file order

  struct Impl;

 private:
  explicit GgufFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkmoe
