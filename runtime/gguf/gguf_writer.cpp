#include "runtime/gguf/gguf_writer.h"

#include "runtime/util/safe_file.h"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstring>
#include <utility>

namespace vkmoe {

namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  size_t n = out.size();
  out.resize(n + sizeof v);
  std::memcpy(out.data() + n, &v, sizeof v);
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void pad_to(std::vector<uint8_t>& out, uint64_t alignment) {
  out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
}

[[noreturn]] void invalid(std::string_view key, const std::string& what) {
  throw std::invalid_argument("gguf writer: key '" + std::string(key) + "': " + what);
}

template <typename T, typename V>
void put_checked(std::vector<uint8_t>& out, V v, std::string_view key) {
  if (!std::in_range<T>(v)) invalid(key, std::to_string(v) + " does not fit its type");
  put<T>(out, static_cast<T>(v));
}

// The value's bytes without its type tag. `depth` is the array depth v has if it is an array
// (1 at the top), bounded as the reader bounds it.
void put_payload(std::vector<uint8_t>& out, const GgufValue& v, uint32_t depth, std::string_view key) {
  switch (v.type) {
    case GgufValueType::UINT8: return put_checked<uint8_t>(out, v.u, key);
    case GgufValueType::INT8: return put_checked<int8_t>(out, v.i, key);
    case GgufValueType::UINT16: return put_checked<uint16_t>(out, v.u, key);
    case GgufValueType::INT16: return put_checked<int16_t>(out, v.i, key);
    case GgufValueType::UINT32: return put_checked<uint32_t>(out, v.u, key);
    case GgufValueType::INT32: return put_checked<int32_t>(out, v.i, key);
    case GgufValueType::UINT64: return put<uint64_t>(out, v.u);
    case GgufValueType::INT64: return put<int64_t>(out, v.i);
    case GgufValueType::FLOAT32:
      if (std::isfinite(v.f) && std::fabs(v.f) > std::numeric_limits<float>::max())
        invalid(key, std::to_string(v.f) + " does not fit float32");
      return put<float>(out, static_cast<float>(v.f));
    case GgufValueType::FLOAT64: return put<double>(out, v.f);
    case GgufValueType::BOOL: return put<uint8_t>(out, v.u != 0);
    case GgufValueType::STRING: return put_string(out, v.s);
    case GgufValueType::ARRAY: {
      if (!gguf_type_valid(static_cast<uint32_t>(v.array_type))) invalid(key, "unknown array element type");
      if (v.array_type == GgufValueType::ARRAY && depth + 1 > kGgufMaxArrayDepth)
        invalid(key, "arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth));
      put<uint32_t>(out, static_cast<uint32_t>(v.array_type));
      put<uint64_t>(out, v.items.size());
      for (const GgufValue& item : v.items) {
        if (item.type != v.array_type)
          invalid(key, "array of " + std::string(gguf_type_name(v.array_type)) + " holds a " +
                           std::string(gguf_type_name(item.type)));
        put_payload(out, item, depth + 1, key);
      }
      return;
    }
  }
  invalid(key, "unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
}

}  // namespace

void GgufWriter::set_encoded(std::string_view key, std::vector<uint8_t> value) {
  if (key == "general.alignment") {
    uint32_t type = 0, a = 0;
    std::memcpy(&type, value.data(), 4);
    if (type != static_cast<uint32_t>(GgufValueType::UINT32)) invalid(key, "must be a uint32");
    std::memcpy(&a, value.data() + 4, 4);
    if (!std::has_single_bit(a)) invalid(key, std::to_string(a) + " is not a power of two");
    alignment_ = a;
  }
  if (auto it = kv_index_.find(key); it != kv_index_.end()) {
    kvs_[it->second].second = std::move(value);
    return;
  }
  kv_index_.emplace(std::string(key), kvs_.size());
  kvs_.emplace_back(std::string(key), std::move(value));
}

void GgufWriter::set_value(std::string_view key, const GgufValue& v) {
  std::vector<uint8_t> bytes;
  put<uint32_t>(bytes, static_cast<uint32_t>(v.type));
  put_payload(bytes, v, 1, key);
  set_encoded(key, std::move(bytes));
}

void GgufWriter::set_uint8(std::string_view key, uint8_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_int8(std::string_view key, int8_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_uint16(std::string_view key, uint16_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_int16(std::string_view key, int16_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_uint32(std::string_view key, uint32_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_int32(std::string_view key, int32_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_uint64(std::string_view key, uint64_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_int64(std::string_view key, int64_t v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_float32(std::string_view key, float v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_float64(std::string_view key, double v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_bool(std::string_view key, bool v) { set_value(key, GgufValue::of(v)); }
void GgufWriter::set_string(std::string_view key, std::string_view v) { set_value(key, GgufValue::of(v)); }

// Typed arrays skip GgufValue: a vocabulary has 150k strings.
void GgufWriter::set_array(std::string_view key, std::span<const std::string> v) {
  std::vector<uint8_t> bytes;
  put<uint32_t>(bytes, static_cast<uint32_t>(GgufValueType::ARRAY));
  put<uint32_t>(bytes, static_cast<uint32_t>(GgufValueType::STRING));
  put<uint64_t>(bytes, v.size());
  for (const auto& s : v) put_string(bytes, s);
  set_encoded(key, std::move(bytes));
}

template <typename T>
void GgufWriter::set_fixed_array(std::string_view key, GgufValueType elem, std::span<const T> v) {
  std::vector<uint8_t> bytes;
  put<uint32_t>(bytes, static_cast<uint32_t>(GgufValueType::ARRAY));
  put<uint32_t>(bytes, static_cast<uint32_t>(elem));
  put<uint64_t>(bytes, v.size());
  size_t n = bytes.size();
  bytes.resize(n + v.size_bytes());
  if (!v.empty()) std::memcpy(bytes.data() + n, v.data(), v.size_bytes());
  set_encoded(key, std::move(bytes));
}

void GgufWriter::set_array(std::string_view key, std::span<const float> v) {
  set_fixed_array(key, GgufValueType::FLOAT32, v);
}
void GgufWriter::set_array(std::string_view key, std::span<const int32_t> v) {
  set_fixed_array(key, GgufValueType::INT32, v);
}
void GgufWriter::set_array(std::string_view key, std::span<const uint32_t> v) {
  set_fixed_array(key, GgufValueType::UINT32, v);
}

void GgufWriter::set_version(uint32_t version) {
  if (version != 2 && version != 3)
    throw std::invalid_argument("gguf writer: version " + std::to_string(version) + " (2 or 3 only)");
  version_ = version;
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<uint64_t> shape,
                            std::span<const uint8_t> data) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument("gguf writer: tensor '" + name + "' " + what);
  };
  if (tensor_index_.contains(name)) fail("added twice");
  GgufTensorSize size = gguf_tensor_size(static_cast<uint32_t>(type), shape);
  if (!size.error.empty()) fail(size.error);
  if (data.size() != size.bytes)
    fail("has " + std::to_string(data.size()) + " bytes of data, its shape and type need " +
         std::to_string(size.bytes));
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back({std::move(name), type, std::move(shape), {data.begin(), data.end()}});
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint64_t> offsets;
  uint64_t end = 0;
  for (const Tensor& t : tensors_) {
    uint64_t off = (end + alignment_ - 1) / alignment_ * alignment_;
    offsets.push_back(off);
    end = off + t.data.size();
  }
  std::vector<uint8_t> out;
  put<uint32_t>(out, kGgufMagic);
  put<uint32_t>(out, version_);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kvs_.size());
  for (const auto& [key, value] : kvs_) {
    put_string(out, key);
    out.insert(out.end(), value.begin(), value.end());
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (uint64_t d : t.shape) put<uint64_t>(out, d);
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offsets[i]);
  }
  if (tensors_.empty()) return out;
  pad_to(out, alignment_);
  uint64_t data_start = out.size();
  out.reserve(data_start + end);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.resize(data_start + offsets[i], 0);
    out.insert(out.end(), tensors_[i].data.begin(), tensors_[i].data.end());
  }
  return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  try {
    write_file_safely(path, bytes);  // private temporary file, fsync, rename
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (msg.rfind(path.string() + ": ", 0) == 0) msg.erase(0, path.string().size() + 2);
    throw GgufError(path.string(), msg);
  }
}

}  // namespace vkmoe
