// libFuzzer target for the GGUF reader: any input must either open or give GgufError, and an
// opened file must answer every accessor without touching memory outside the input (ASan) or
// throwing anything but GgufError. Invariants that the reader promises are checked with a trap.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/gguf/gguf_reader.h"

using namespace vkmoe;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Calls fn and swallows GgufError: a getter may legitimately refuse a key of the wrong type.
template <typename F>
void guarded(F fn) {
  try {
    fn();
  } catch (const GgufError&) {
  }
}

// Keeps the reads of tensor bytes and strings from being optimised away.
volatile uint64_t g_sink;
void sink(uint64_t v) { g_sink = g_sink + v; }

void touch_key(const GgufFile& f, const GgufFile::MetadataEntry& m) {
  std::string_view key = m.key;
  check(f.has(key));
  check(f.type_of(key) == m.type);
  guarded([&] { sink(f.get_string(key)->size()); });
  guarded([&] { sink(*f.get_uint(key)); });
  guarded([&] { sink(static_cast<uint64_t>(*f.get_int(key))); });
  guarded([&] { sink(static_cast<uint64_t>(*f.get_float(key) != 0)); });
  guarded([&] { sink(*f.get_bool(key)); });
  guarded([&] { sink(f.require_string(key).size()); });
  guarded([&] { sink(f.require_uint(key)); });
  guarded([&] { sink(static_cast<uint64_t>(f.require_float(key) != 0)); });
  check(f.array_size(key) == m.array_size);
  check(f.array_type(key).has_value() == (m.type == GgufValueType::ARRAY));
  guarded([&] {
    for (auto s : f.get_string_array(key)) sink(s.size() ? static_cast<uint8_t>(s.back()) : 0);
  });
  guarded([&] { sink(f.get_f32_array(key).size()); });
  guarded([&] { sink(f.get_i32_array(key).size()); });
  guarded([&] { sink(f.get_u32_array(key).size()); });
  guarded([&] { sink(f.get_bool_array(key).size()); });
  // get_value copies into a tree (~100 bytes an element); keep large arrays out of it.
  if (m.array_size <= 4096) {
    auto v = f.get_value(key);
    check(v.has_value() && v->type == m.type);
    if (m.type == GgufValueType::ARRAY) check(v->items.size() == m.array_size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    GgufFile f = GgufFile::from_memory(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
    check(f.version() == 2 || f.version() == 3);
    check(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0);
    check(f.data_offset() % f.alignment() == 0);
    check(f.file_size() == size);
    for (const auto& m : f.metadata()) touch_key(f, m);
    guarded([&] { sink(f.architecture().size()); });
    guarded([&] { sink(f.arch_uint("block_count").value_or(0)); });
    guarded([&] { sink(static_cast<uint64_t>(f.arch_float("rope.freq_base").value_or(0) != 0)); });
    check(!f.has("no such key") && f.get_string_array("no such key").empty());
    for (const auto& t : f.tensors()) {
      check(f.find_tensor(t.name) == &t);
      check(!t.shape.empty() && t.shape.size() <= 4 && t.elements() > 0);
      auto bytes = f.tensor_data(t);
      check(bytes.size() == t.bytes);
      check(f.data_offset() + t.offset + t.bytes <= size);
      // First and last byte: ASan flags either if the span strays out of the input.
      sink(bytes.front() + bytes.back());
    }
    check(f.find_tensor("no such tensor") == nullptr);
  } catch (const GgufError&) {
  }
  return 0;
}
