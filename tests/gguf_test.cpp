// GGUF reader and writer: round trips of every value and tensor type, a corpus of broken files
// made from a valid one by specific corruptions (each with the exact message it must give),
// every truncation of a valid file, random byte damage, and the real files in shared/.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/gguf/gguf_writer.h"
#include "tests/test_util.h"

using namespace vkmoe;

namespace {

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(test::rng()());
  return v;
}

std::string error_of(std::vector<uint8_t> bytes, const std::string& name = "bad.gguf") {
  try {
    GgufFile::from_memory(std::move(bytes), name);
  } catch (const GgufError& e) {
    return e.what();
  }
  return "(no error)";
}

// Where `needle` first occurs in `bytes`: the corruption cases find keys and names this way.
size_t find_bytes(const std::vector<uint8_t>& bytes, std::string_view needle) {
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  REQUIRE_MESSAGE(it != bytes.end(), "not in the file: ", needle);
  return static_cast<size_t>(it - bytes.begin());
}

template <typename T>
void poke(std::vector<uint8_t>& bytes, size_t pos, T v) {
  REQUIRE(pos + sizeof v <= bytes.size());
  std::memcpy(bytes.data() + pos, &v, sizeof v);
}

template <typename T>
T peek(const std::vector<uint8_t>& bytes, size_t pos) {
  T v;
  std::memcpy(&v, bytes.data() + pos, sizeof v);
  return v;
}

GgufValue nested(uint32_t depth, GgufValue inner) {
  for (uint32_t d = 1; d < depth; ++d) inner = GgufValue::array(GgufValueType::ARRAY, {std::move(inner)});
  return inner;
}

// The valid file the corruption cases start from. Names are unique byte strings so a case can
// find its target; the layout is fixed by the writer (v3, alignment 32).
struct Sample {
  std::vector<uint8_t> bytes;
  uint64_t data_offset;
};

Sample sample() {
  GgufWriter w;
  w.set_uint32("general.alignment", 32);
  w.set_string("general.architecture", "test");
  w.set_uint32("key.aa", 1);
  w.set_uint32("key.ab", 2);
  std::vector<std::string> strs = {"x", "yy"};
  w.set_array("list.str", strs);
  std::vector<uint32_t> u32s = {7, 8, 9};
  w.set_array("list.u32", u32s);
  // Innermost is an empty u8 array at the deepest level allowed.
  w.set_value("nest", nested(kGgufMaxArrayDepth, GgufValue::array(GgufValueType::UINT8, {})));
  w.add_tensor("t.aa", GgmlType::F32, {8, 2}, random_bytes(64));
  w.add_tensor("t.ab", GgmlType::Q8_0, {32, 2}, random_bytes(68));
  w.add_tensor("t.ac", GgmlType::F32, {4}, random_bytes(16));
  Sample s{w.to_bytes(), 0};
  s.data_offset = GgufFile::from_memory(s.bytes, "sample.gguf").data_offset();
  return s;
}

// Offsets of a tensor info's fields, found from its name (names are 4 bytes, 2 dims except t.ac).
struct InfoAt {
  size_t n_dims, dims, type, offset;
};
InfoAt info_at(const std::vector<uint8_t>& b, std::string_view name) {
  // The name's bytes follow its u64 length; search for length + name so a key cannot match.
  std::string needle(8, '\0');
  uint64_t len = name.size();
  std::memcpy(needle.data(), &len, 8);
  needle += name;
  size_t p = find_bytes(b, needle) + needle.size();
  uint32_t n = peek<uint32_t>(b, p);
  return {p, p + 4, p + 4 + 8 * n, p + 4 + 8 * n + 4};
}

// The value of a key: after its name, u32 type then the value.
size_t value_at(const std::vector<uint8_t>& b, std::string_view key) {
  return find_bytes(b, key) + key.size() + 4;
}

}  // namespace

TEST_CASE("every metadata value type round-trips") {
  GgufWriter w;
  w.set_uint8("u8", 255);
  w.set_int8("i8", -128);
  w.set_uint16("u16", 65535);
  w.set_int16("i16", -32768);
  w.set_uint32("u32", 4000000000u);
  w.set_int32("i32", -2000000000);
  w.set_uint64("u64", std::numeric_limits<uint64_t>::max());
  w.set_int64("i64", std::numeric_limits<int64_t>::min());
  w.set_float32("f32", 1.5f);
  w.set_float64("f64", -2.25e300);
  w.set_bool("yes", true);
  w.set_bool("no", false);
  w.set_string("str", "héllo");
  w.set_string("empty", "");
  w.set_string("nul", std::string_view("a\0b", 3));
  std::vector<std::string> strs = {"", "a", "bc", std::string(300, 'z')};
  w.set_array("a.str", strs);
  std::vector<float> floats = {0.5f, -1e-30f, 3e38f};
  w.set_array("a.f32", floats);
  std::vector<int32_t> ints = {-1, 0, 2147483647};
  w.set_array("a.i32", ints);
  std::vector<uint32_t> uints = {0, 1, 4294967295u};
  w.set_array("a.u32", uints);
  w.set_array("a.empty_str", std::span<const std::string>{});
  w.set_array("a.empty_f32", std::span<const float>{});

  // Arrays of every element type through GgufValue, and arrays of arrays.
  std::map<std::string, GgufValue> values = {
      {"v.u8", GgufValue::array(GgufValueType::UINT8, {GgufValue::of(uint8_t{0}), GgufValue::of(uint8_t{200})})},
      {"v.i8", GgufValue::array(GgufValueType::INT8, {GgufValue::of(int8_t{-5})})},
      {"v.u16", GgufValue::array(GgufValueType::UINT16, {GgufValue::of(uint16_t{60000})})},
      {"v.i16", GgufValue::array(GgufValueType::INT16, {GgufValue::of(int16_t{-300})})},
      {"v.u64", GgufValue::array(GgufValueType::UINT64, {GgufValue::of(uint64_t{1} << 63)})},
      {"v.i64", GgufValue::array(GgufValueType::INT64, {GgufValue::of(int64_t{-1} << 62)})},
      {"v.f64", GgufValue::array(GgufValueType::FLOAT64, {GgufValue::of(0.1), GgufValue::of(-0.0)})},
      {"v.bool", GgufValue::array(GgufValueType::BOOL, {GgufValue::of(true), GgufValue::of(false)})},
      {"v.ragged", GgufValue::array(GgufValueType::ARRAY,
                                    {GgufValue::array(GgufValueType::UINT32, {GgufValue::of(1u), GgufValue::of(2u)}),
                                     GgufValue::array(GgufValueType::UINT32, {}),
                                     GgufValue::array(GgufValueType::UINT32, {GgufValue::of(3u)})})},
      {"v.strs", GgufValue::array(GgufValueType::ARRAY,
                                  {GgufValue::array(GgufValueType::STRING, {GgufValue::of(""), GgufValue::of("q")})})},
      {"v.empty_nest", GgufValue::array(GgufValueType::ARRAY, {})},
      {"v.deep", nested(kGgufMaxArrayDepth, GgufValue::array(GgufValueType::INT8, {GgufValue::of(int8_t{1})}))},
  };
  for (const auto& [k, v] : values) w.set_value(k, v);
  w.set_uint32("replaced", 1);
  w.set_uint32("replaced", 2);  // keeps its place, new value

  GgufFile f = GgufFile::from_memory(w.to_bytes(), "values.gguf");
  CHECK(f.version() == 3);
  CHECK(f.tensors().empty());
  CHECK(f.get_uint("u8") == 255);
  CHECK(f.get_int("i8") == -128);
  CHECK(f.get_uint("u16") == 65535);
  CHECK(f.get_int("i16") == -32768);
  CHECK(f.get_uint("u32") == 4000000000u);
  CHECK(f.get_int("i32") == -2000000000);
  CHECK(f.get_uint("u64") == std::numeric_limits<uint64_t>::max());
  CHECK(f.get_int("i64") == std::numeric_limits<int64_t>::min());
  CHECK(f.get_float("f32") == 1.5);
  CHECK(f.get_float("f64") == -2.25e300);
  CHECK(f.get_float("u32") == 4000000000.0);  // integers convert
  CHECK(f.get_bool("yes") == true);
  CHECK(f.get_bool("no") == false);
  CHECK(f.get_string("str") == "héllo");
  CHECK(f.get_string("empty") == "");
  CHECK(f.get_string("nul") == std::string_view("a\0b", 3));
  CHECK(f.get_uint("replaced") == 2);
  CHECK(!f.has("absent"));
  CHECK(!f.get_uint("absent"));
  CHECK(f.type_of("i16") == GgufValueType::INT16);
  CHECK(f.type_of("a.str") == GgufValueType::ARRAY);

  auto got_strs = f.get_string_array("a.str");
  REQUIRE(got_strs.size() == strs.size());
  for (size_t i = 0; i < strs.size(); ++i) CHECK(got_strs[i] == strs[i]);
  CHECK(f.get_f32_array("a.f32") == floats);
  CHECK(f.get_i32_array("a.i32") == ints);
  CHECK(f.get_u32_array("a.u32") == uints);
  CHECK(f.array_type("a.empty_str") == GgufValueType::STRING);
  CHECK(f.array_size("a.empty_str") == 0);
  CHECK(f.get_string_array("a.empty_str").empty());
  CHECK(f.get_f32_array("a.empty_f32").empty());
  CHECK(f.get_string_array("absent").empty());
  CHECK(f.get_bool_array("v.bool") == std::vector<bool>{true, false});
  CHECK(f.get_i32_array("v.u8") == std::vector<int32_t>{0, 200});  // other integer types that fit
  CHECK(f.get_u32_array("v.u16") == std::vector<uint32_t>{60000});
  CHECK(f.get_f32_array("v.f64") == std::vector<float>{0.1f, -0.0f});
  CHECK(!f.array_type("u8"));
  CHECK(f.array_size("u8") == 0);

  for (const auto& [k, v] : values) {
    CAPTURE(k);
    CHECK(f.get_value(k) == v);
  }
  CHECK(f.get_value("str") == GgufValue::of("héllo"));
  CHECK(f.get_value("u64") == GgufValue::of(std::numeric_limits<uint64_t>::max()));
  CHECK(f.get_value("a.str")->items.size() == strs.size());
  CHECK(f.array_type("v.ragged") == GgufValueType::ARRAY);
  CHECK(f.array_size("v.ragged") == 3);

  auto meta = f.metadata();
  REQUIRE(meta.size() == 34);
  CHECK(meta[0].key == "u8");
  CHECK(meta[0].summary == "255");
  CHECK(meta[1].summary == "-128");
  CHECK(meta[8].summary == "1.5");
  CHECK(meta[10].summary == "true");
  CHECK(meta[12].summary == "'héllo'");
  CHECK(meta[14].summary == "'a\\x00b'");
  CHECK(meta[15].key == "a.str");
  CHECK(meta[15].type == GgufValueType::ARRAY);
  CHECK(meta[15].array_type == GgufValueType::STRING);
  CHECK(meta[15].array_size == 4);
  CHECK(meta[15].summary == "[4 x string]");
  CHECK(meta.back().key == "replaced");
  CHECK(meta.back().summary == "2");
}

TEST_CASE("getters convert what fits and name the file and key otherwise") {
  GgufWriter w;
  w.set_int8("neg", -1);
  w.set_uint64("big", std::numeric_limits<uint64_t>::max());
  w.set_string("s", "text");
  std::vector<uint32_t> big = {1, 3000000000u};
  w.set_array("big.arr", big);
  std::vector<int32_t> negs = {5, -7};
  w.set_array("neg.arr", negs);
  GgufFile f = GgufFile::from_memory(w.to_bytes(), "conv.gguf");

  auto message = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const GgufError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(f.get_int("neg") == -1);
  CHECK(message([&] { f.get_uint("neg"); }) == "conv.gguf: key 'neg' value -1 is negative, expected an unsigned integer");
  CHECK(message([&] { f.get_int("big"); }) == "conv.gguf: key 'big' value 18446744073709551615 does not fit int64");
  CHECK(message([&] { f.get_uint("s"); }) == "conv.gguf: key 's' has type string, expected an unsigned integer");
  CHECK(message([&] { f.get_float("s"); }) == "conv.gguf: key 's' has type string, expected a number");
  CHECK(message([&] { f.get_bool("s"); }) == "conv.gguf: key 's' has type string, expected bool");
  CHECK(message([&] { f.get_string("neg"); }) == "conv.gguf: key 'neg' has type int8, expected string");
  CHECK(message([&] { f.get_string("big.arr"); }) == "conv.gguf: key 'big.arr' is an array of uint32, expected string");
  CHECK(message([&] { f.get_string_array("s"); }) == "conv.gguf: key 's' has type string, expected an array of string");
  CHECK(message([&] { f.get_string_array("big.arr"); }) ==
        "conv.gguf: key 'big.arr' is an array of uint32, expected an array of string");
  CHECK(message([&] { f.get_i32_array("big.arr"); }) ==
        "conv.gguf: key 'big.arr' element 1 value 3000000000 does not fit int32");
  CHECK(message([&] { f.get_u32_array("neg.arr"); }) == "conv.gguf: key 'neg.arr' element 1 value -7 does not fit uint32");
  CHECK(message([&] { f.get_f32_array("neg.arr"); }) ==
        "conv.gguf: key 'neg.arr' is an array of int32, expected an array of float32");
  CHECK(message([&] { f.get_bool_array("neg.arr"); }) ==
        "conv.gguf: key 'neg.arr' is an array of int32, expected an array of bool");
  CHECK(message([&] { f.require_string("nope"); }) == "conv.gguf: missing key 'nope' (string)");
  CHECK(message([&] { f.require_uint("nope"); }) == "conv.gguf: missing key 'nope' (unsigned integer)");
  CHECK(message([&] { f.require_float("nope"); }) == "conv.gguf: missing key 'nope' (number)");
  CHECK(message([&] { f.require_uint("s"); }) == "conv.gguf: key 's' has type string, expected an unsigned integer");
  CHECK(f.require_string("s") == "text");
  CHECK(f.require_uint("big") == std::numeric_limits<uint64_t>::max());
  CHECK(f.require_float("neg") == -1.0);
  CHECK(f.architecture() == "");
  CHECK(!f.arch_uint("block_count"));
}

TEST_CASE("architecture keys") {
  GgufWriter w;
  w.set_string("general.architecture", "qwen3moe");
  w.set_uint32("qwen3moe.block_count", 2);
  w.set_float32("qwen3moe.rope.freq_base", 1e6f);
  GgufFile f = GgufFile::from_memory(w.to_bytes(), "arch.gguf");
  CHECK(f.architecture() == "qwen3moe");
  CHECK(f.arch_uint("block_count") == 2);
  CHECK(f.arch_float("rope.freq_base") == 1e6);
  CHECK(!f.arch_uint("expert_count"));
}

TEST_CASE("every tensor type round-trips") {
  GgufWriter w;
  struct Want {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<Want> want;
  for (uint32_t t = 0; t < 64; ++t) {
    auto info = ggml_type_info(t);
    if (!info) continue;
    std::vector<uint64_t> shape = {info->block_elems * 2ull, 3};
    if (t % 3 == 1) shape = {info->block_elems * 1ull, 2, 1, 2};  // 4 dims, trailing ones included
    if (t % 3 == 2) shape = {info->block_elems * 3ull};
    uint64_t elements = 1;
    for (auto d : shape) elements *= d;
    auto data = random_bytes(elements / info->block_elems * info->block_bytes);
    std::string name = "tensor." + std::string(info->name);
    w.add_tensor(name, info->type, shape, data);
    want.push_back({name, info->type, shape, std::move(data)});
  }
  REQUIRE(want.size() == 32);
  std::vector<uint8_t> bytes = w.to_bytes();
  GgufFile f = GgufFile::from_memory(bytes, "types.gguf");
  REQUIRE(f.tensors().size() == want.size());
  CHECK(f.data_offset() % 32 == 0);
  for (size_t i = 0; i < want.size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    CAPTURE(t.name);
    CHECK(t.name == want[i].name);
    CHECK(t.type == want[i].type);
    CHECK(t.shape == want[i].shape);
    CHECK(t.bytes == want[i].data.size());
    CHECK(t.elements() * ggml_type_info(static_cast<uint32_t>(t.type))->block_bytes ==
          t.bytes * ggml_type_info(static_cast<uint32_t>(t.type))->block_elems);
    CHECK(t.offset % 32 == 0);
    CHECK(f.find_tensor(t.name) == &t);
    auto data = f.tensor_data(t);
    CHECK(std::equal(data.begin(), data.end(), want[i].data.begin(), want[i].data.end()));
  }
  CHECK(f.find_tensor("missing") == nullptr);
  // The file ends at the last tensor's last byte.
  const auto& last = f.tensors().back();
  CHECK(f.data_offset() + last.offset + last.bytes == bytes.size());
}

TEST_CASE("alignments other than 32") {
  for (uint32_t a : {1u, 8u, 64u, 4096u}) {
    CAPTURE(a);
    GgufWriter w;
    w.set_uint32("general.alignment", a);
    w.add_tensor("a", GgmlType::F16, {3}, random_bytes(6));
    w.add_tensor("b", GgmlType::Q4_0, {32}, random_bytes(18));
    GgufFile f = GgufFile::from_memory(w.to_bytes(), "align.gguf");
    CHECK(f.alignment() == a);
    CHECK(f.data_offset() % a == 0);
    CHECK(f.tensors()[1].offset == (6 + a - 1) / a * a);
  }
}

TEST_CASE("version 2 files read like version 3") {
  GgufWriter w;
  w.set_version(2);
  w.set_string("general.architecture", "llama");
  w.add_tensor("w", GgmlType::F32, {2, 2}, random_bytes(16));
  GgufFile f = GgufFile::from_memory(w.to_bytes(), "v2.gguf");
  CHECK(f.version() == 2);
  CHECK(f.architecture() == "llama");
  CHECK(f.tensors().size() == 1);
}

TEST_CASE("the writer refuses what the reader would reject") {
  GgufWriter w;
  w.add_tensor("t", GgmlType::F32, {4}, random_bytes(16));
  CHECK_THROWS_WITH_AS(w.add_tensor("t", GgmlType::F32, {4}, random_bytes(16)),
                       "gguf writer: tensor 't' added twice", std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.add_tensor("u", GgmlType::F32, {4}, random_bytes(15)),
                       "gguf writer: tensor 'u' has 15 bytes of data, its shape and type need 16",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.add_tensor("u", GgmlType::Q4_K, {128}, random_bytes(72)),
                       "gguf writer: tensor 'u' row length 128 is not a multiple of the q4_K block size 256",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.add_tensor("u", GgmlType::F32, {1, 1, 1, 1, 1}, random_bytes(4)),
                       "gguf writer: tensor 'u' has 5 dimensions (1 to 4 allowed)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.add_tensor("u", GgmlType::F32, {4, 0}, {}),
                       "gguf writer: tensor 'u' dimension 1 is 0", std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.add_tensor("u", static_cast<GgmlType>(4), {4}, random_bytes(16)),
                       "gguf writer: tensor 'u' has unknown type 4 (not a GGML type number)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.set_uint32("general.alignment", 48),
                       "gguf writer: key 'general.alignment': 48 is not a power of two", std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.set_uint64("general.alignment", 64),
                       "gguf writer: key 'general.alignment': must be a uint32", std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.set_value("deep", nested(kGgufMaxArrayDepth + 1, GgufValue::array(GgufValueType::UINT8, {}))),
                       "gguf writer: key 'deep': arrays nested deeper than 8", std::invalid_argument);
  CHECK_THROWS_WITH_AS(w.set_value("mixed", GgufValue::array(GgufValueType::UINT8, {GgufValue::of(1u)})),
                       "gguf writer: key 'mixed': array of uint8 holds a uint32", std::invalid_argument);
  GgufValue wide = GgufValue::of(uint8_t{1});
  wide.u = 300;
  CHECK_THROWS_WITH_AS(w.set_value("wide", wide), "gguf writer: key 'wide': 300 does not fit its type",
                       std::invalid_argument);
  CHECK_THROWS_AS(w.set_version(1), std::invalid_argument);
  // Nothing refused was kept.
  GgufFile f = GgufFile::from_memory(w.to_bytes(), "kept.gguf");
  CHECK(f.tensors().size() == 1);
  CHECK(f.metadata().empty());
  CHECK(f.alignment() == 32);
}

TEST_CASE("write() is atomic and open() maps the file") {
  auto dir = std::filesystem::temp_directory_path() / ("vkmoe_gguf_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  auto data = random_bytes(8 * 34);
  w.add_tensor("q", GgmlType::Q8_0, {64, 4}, data);
  auto path = dir / "model.gguf";
  w.write(path);
  w.write(path);  // replaces
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}) == 1);
  {
    GgufFile f = GgufFile::open(path);
    CHECK(f.name() == path.string());
    CHECK(f.file_size() == std::filesystem::file_size(path));
    GgufFile moved = std::move(f);
    auto got = moved.tensor_data(*moved.find_tensor("q"));
    CHECK(std::equal(got.begin(), got.end(), data.begin(), data.end()));
    CHECK(moved.architecture() == "llama");
  }
  auto missing = dir / "missing.gguf";
  CHECK_THROWS_WITH_AS(GgufFile::open(missing), (missing.string() + ": cannot open: No such file or directory").c_str(),
                       GgufError);
  CHECK_THROWS_WITH_AS(GgufFile::open(dir), (dir.string() + ": cannot read: it is a directory").c_str(), GgufError);
  auto empty = dir / "empty.gguf";
  { std::FILE* fp = std::fopen(empty.c_str(), "wb"); std::fclose(fp); }
  CHECK_THROWS_WITH_AS(GgufFile::open(empty),
                       (empty.string() + ": truncated: magic of the header at offset 0 needs 4 bytes but the file ends at 0").c_str(),
                       GgufError);
  CHECK_THROWS_AS(w.write(dir / "no" / "such" / "dir.gguf"), GgufError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("broken files give the exact error") {
  const Sample s = sample();
  const std::vector<uint8_t>& good = s.bytes;
  const uint64_t size = good.size();
  const uint64_t d = s.data_offset;
  REQUIRE(error_of(good) == "(no error)");

  struct Case {
    const char* name;
    std::function<void(std::vector<uint8_t>&)> corrupt;
    std::string message;  // after "bad.gguf: "
  };
  const size_t key_aa = find_bytes(good, "key.aa");
  const size_t list_u32 = find_bytes(good, "list.u32");
  const size_t list_str = find_bytes(good, "list.str");
  const InfoAt aa = info_at(good, "t.aa"), ab = info_at(good, "t.ab"), ac = info_at(good, "t.ac");
  const uint64_t big = uint64_t{1} << 40;
  auto s_ = [](uint64_t v) { return std::to_string(v); };
  // Cut inside the metadata, with counts that still fit, so the cut itself is what is reported.
  auto cut_keys = [](std::vector<uint8_t>& b, size_t n) {
    poke<uint64_t>(b, 8, 0);
    poke<uint64_t>(b, 16, 3);
    b.resize(n);
  };
  std::vector<Case> cases = {
      {"bad magic", [](auto& b) { b[0] = 'X'; }, "bad magic 'XGUF' (not a GGUF file)"},
      {"version 1", [](auto& b) { poke<uint32_t>(b, 4, 1); },
       "GGUF version 1 is not supported (it has 32-bit counts); convert the file to v3"},
      {"version 4", [](auto& b) { poke<uint32_t>(b, 4, 4); }, "unsupported GGUF version 4 (expected 2 or 3)"},
      {"big-endian", [](auto& b) { poke<uint32_t>(b, 4, 0x03000000); },
       "unsupported GGUF version 50331648: this looks like a big-endian file, only little-endian is supported"},
      {"absurd tensor count", [](auto& b) { poke<uint64_t>(b, 8, uint64_t{1} << 60); },
       "tensor count 1152921504606846976 cannot fit in the " + s_(size - 24) + " bytes after the header (with 7 keys)"},
      {"absurd key count", [](auto& b) { poke<uint64_t>(b, 16, ~uint64_t{0}); },
       "metadata count 18446744073709551615 cannot fit in the " + s_(size - 24) + " bytes after the header"},
      {"key length past the end", [&](auto& b) { poke<uint64_t>(b, key_aa - 8, big); },
       "name of key #2 at offset " + s_(key_aa - 8) + " has length 1099511627776, past the end of the file (size " +
           s_(size) + ")"},
      {"array length past the end", [&](auto& b) { poke<uint64_t>(b, list_u32 + 8 + 8, big); },
       "array of 1099511627776 x uint32 in key 'list.u32' at offset " + s_(list_u32 + 24) +
           " runs past the end of the file (size " + s_(size) + ")"},
      {"string element past the end", [&](auto& b) { poke<uint64_t>(b, list_str + 8 + 16, big); },
       "string of key 'list.str' at offset " + s_(list_str + 24) + " has length 1099511627776, past the end of the file (size " +
           s_(size) + ")"},
      {"unknown value type", [&](auto& b) { poke<uint32_t>(b, key_aa + 6, 13); }, "key 'key.aa' has unknown value type 13"},
      {"unknown array element type", [&](auto& b) { poke<uint32_t>(b, list_u32 + 12, 99); },
       "key 'list.u32' has an array of unknown value type 99"},
      {"duplicate key", [&](auto& b) { b[find_bytes(b, "key.ab") + 5] = 'a'; }, "duplicate key 'key.aa'"},
      {"control bytes are escaped", [&](auto& b) { b[key_aa + 3] = 1, b[find_bytes(b, "key.ab") + 3] = 1, b[find_bytes(b, "key\1ab") + 5] = 'a'; },
       "duplicate key 'key\\x01aa'"},
      {"alignment not a power of two", [&](auto& b) { poke<uint32_t>(b, value_at(b, "general.alignment"), 48); },
       "alignment 48 is not a power of two"},
      {"alignment zero", [&](auto& b) { poke<uint32_t>(b, value_at(b, "general.alignment"), 0); },
       "alignment 0 is not a power of two"},
      {"alignment of the wrong type", [&](auto& b) { poke<uint32_t>(b, value_at(b, "general.alignment") - 4, 5); },
       "key 'general.alignment' has type int32, expected uint32"},
      {"arrays nested too deep",
       [&](auto& b) { poke<uint32_t>(b, value_at(b, "nest") + 12 * (kGgufMaxArrayDepth - 1), 9); },
       "key 'nest' has arrays nested deeper than 8"},
      {"more than 4 dims", [&](auto& b) { poke<uint32_t>(b, aa.n_dims, 5); }, "tensor 't.aa' has 5 dimensions (1 to 4 allowed)"},
      {"no dims", [&](auto& b) { poke<uint32_t>(b, aa.n_dims, 0); }, "tensor 't.aa' has 0 dimensions (1 to 4 allowed)"},
      {"zero dimension", [&](auto& b) { poke<uint64_t>(b, aa.dims + 8, 0); }, "tensor 't.aa' dimension 1 is 0"},
      {"element count overflow",
       [&](auto& b) { poke<uint64_t>(b, aa.dims, uint64_t{1} << 32), poke<uint64_t>(b, aa.dims + 8, uint64_t{1} << 32); },
       "tensor 't.aa' element count overflows (dimension 1 is 4294967296)"},
      {"byte size overflow",
       [&](auto& b) { poke<uint64_t>(b, aa.dims, uint64_t{1} << 31), poke<uint64_t>(b, aa.dims + 8, uint64_t{1} << 31); },
       "tensor 't.aa' byte size overflows"},
      {"unknown tensor type", [&](auto& b) { poke<uint32_t>(b, aa.type, 5); },
       "tensor 't.aa' has unknown type 5 (not a GGML type number)"},
      {"row not a whole number of blocks", [&](auto& b) { poke<uint64_t>(b, ab.dims, 33); },
       "tensor 't.ab' row length 33 is not a multiple of the q8_0 block size 32"},
      {"unaligned offset", [&](auto& b) { poke<uint64_t>(b, ab.offset, peek<uint64_t>(b, ab.offset) + 4); },
       "tensor 't.ab' offset 68 is not a multiple of the alignment 32"},
      {"duplicate tensor name", [&](auto& b) { b[ab.n_dims - 1] = 'a'; }, "duplicate tensor name 't.aa'"},
      {"offset past the end", [&](auto& b) { poke<uint64_t>(b, ac.offset, big); },
       "tensor 't.ac' data [" + s_(d + big) + ", " + s_(d + big + 16) + ") lies past the end of the file (size " +
           s_(size) + ")"},
      {"offset overflows", [&](auto& b) { poke<uint64_t>(b, ac.offset, ~uint64_t{31}); },
       "tensor 't.ac' data [18446744073709551615, 18446744073709551615) lies past the end of the file (size " + s_(size) +
           ")"},
      {"size past the end", [&](auto& b) { poke<uint64_t>(b, ac.dims, 8); },
       "tensor 't.ac' data [" + s_(d + 160) + ", " + s_(d + 192) + ") lies past the end of the file (size " + s_(size) +
           ")"},
      {"overlapping tensors", [&](auto& b) { poke<uint64_t>(b, ab.offset, 32); },
       "tensors 't.aa' [" + s_(d) + ", " + s_(d + 64) + ") and 't.ab' [" + s_(d + 32) + ", " + s_(d + 100) + ") overlap"},
      {"cut in the header", [](auto& b) { b.resize(10); },
       "truncated: tensor count of the header at offset 8 needs 8 bytes but the file ends at 10"},
      {"cut in a key", [&](auto& b) { cut_keys(b, key_aa + 2); },
       "name of key #2 at offset " + s_(key_aa - 8) + " has length 6, past the end of the file (size " +
           s_(key_aa + 2) + ")"},
      {"cut in a type", [&](auto& b) { cut_keys(b, key_aa + 8); },
       "truncated: value type of key 'key.aa' at offset " + s_(key_aa + 6) + " needs 4 bytes but the file ends at " +
           s_(key_aa + 8)},
      {"cut in a value", [&](auto& b) { cut_keys(b, key_aa + 12); },
       "truncated: uint32 of key 'key.aa' at offset " + s_(key_aa + 10) + " needs 4 bytes but the file ends at " +
           s_(key_aa + 12)},
      {"cut in the data", [&](auto& b) { b.pop_back(); },
       "tensor 't.ac' data [" + s_(d + 160) + ", " + s_(d + 176) + ") lies past the end of the file (size " +
           s_(size - 1) + ")"},
      {"empty", [](auto& b) { b.clear(); }, "truncated: magic of the header at offset 0 needs 4 bytes but the file ends at 0"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::vector<uint8_t> b = good;
    c.corrupt(b);
    CHECK(error_of(b) == "bad.gguf: " + c.message);
  }
}

TEST_CASE("a valid file cut at any byte is rejected") {
  const std::vector<uint8_t> good = sample().bytes;
  for (size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    std::string e = error_of({good.begin(), good.begin() + static_cast<ptrdiff_t>(n)}, "cut.gguf");
    CHECK(e.starts_with("cut.gguf: "));
    CHECK(e != "(no error)");
  }
}

TEST_CASE("random damage gives GgufError or a valid file, nothing else") {
  const std::vector<uint8_t> good = sample().bytes;
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> b = good;
    int flips = 1 + static_cast<int>(test::rng()() % 4);
    for (int k = 0; k < flips; ++k) b[test::rng()() % b.size()] ^= static_cast<uint8_t>(1 + test::rng()() % 255);
    try {
      GgufFile f = GgufFile::from_memory(std::move(b), "damaged.gguf");
      for (const auto& t : f.tensors()) CHECK(f.tensor_data(t).size() == t.bytes);
      for (const auto& m : f.metadata()) f.get_value(m.key);
    } catch (const GgufError& e) {
      ++rejected;
      CHECK(std::string_view(e.what()).starts_with("damaged.gguf: "));
    }
  }
  CHECK(rejected > 0);
}

namespace {

// What every real file must satisfy: tensors inside the file and in bounds of their own spans.
void check_tensors_inside(const GgufFile& f) {
  for (const auto& t : f.tensors()) {
    CAPTURE(t.name);
    CHECK(f.data_offset() + t.offset + t.bytes <= f.file_size());
    CHECK(f.tensor_data(t).size() == t.bytes);
    CHECK(t.offset % f.alignment() == 0);
  }
}

}  // namespace

TEST_CASE("the shared models read as their architecture says") {
  auto dir = test::shared_dir();
  if (dir.empty()) {
    MESSAGE("shared/ absent: skipped");
    return;
  }
  struct Model {
    const char* file;
    const char* arch;
    size_t tensors;
    GgmlType matrix_type;
  };
  for (const Model& m : {Model{"qwen3moe-tiny-f32.gguf", "qwen3moe", 27, GgmlType::F32},
                         Model{"mixtral-tiny-q4k.gguf", "llama", 23, GgmlType::Q4_K}}) {
    CAPTURE(m.file);
    GgufFile f = GgufFile::open(dir / "models" / m.file);
    CHECK(f.version() == 3);
    CHECK(f.architecture() == m.arch);
    CHECK(f.arch_uint("expert_count") == 8);
    CHECK(f.arch_uint("expert_used_count") == 2);
    CHECK(f.arch_uint("block_count") == 2);
    CHECK(f.arch_uint("embedding_length") == 256);
    CHECK(f.arch_float("rope.freq_base") == 1e6);
    CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
    CHECK(f.get_string_array("tokenizer.ggml.tokens").size() == 512);
    CHECK(f.get_i32_array("tokenizer.ggml.token_type").size() == 512);
    CHECK(f.get_string_array("tokenizer.ggml.merges").size() == 253);
    CHECK(f.get_uint("tokenizer.ggml.eos_token_id") == 509);
    CHECK(f.get_bool("tokenizer.ggml.add_bos_token") == false);
    REQUIRE(f.tensors().size() == m.tensors);
    check_tensors_inside(f);
    const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
    REQUIRE(embd);
    CHECK(embd->type == m.matrix_type);
    CHECK(embd->shape == std::vector<uint64_t>{256, 512});
    const GgufTensorInfo* router = f.find_tensor("blk.1.ffn_gate_inp.weight");
    REQUIRE(router);
    CHECK(router->type == GgmlType::F32);
    CHECK(router->shape == std::vector<uint64_t>{256, 8});
    const GgufTensorInfo* gate = f.find_tensor("blk.0.ffn_gate_exps.weight");
    REQUIRE(gate);
    CHECK(gate->shape.size() == 3);
    CHECK(gate->shape[2] == 8);
  }
  GgufFile q = GgufFile::open(dir / "models" / "qwen3moe-tiny-f32.gguf");
  CHECK(q.arch_uint("attention.key_length") == 64);
  CHECK(q.find_tensor("blk.0.attn_q_norm.weight")->shape == std::vector<uint64_t>{64});
}

TEST_CASE("the shared vocabularies read") {
  auto dir = test::shared_dir();
  if (dir.empty()) {
    MESSAGE("shared/ absent: skipped");
    return;
  }
  const std::map<std::string, size_t> vocab_sizes = {
      {"ggml-vocab-llama-spm.gguf", 32000}, {"ggml-vocab-deepseek-llm.gguf", 102400}, {"ggml-vocab-qwen3.gguf", 151936}};
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "tokenizer")) {
    if (entry.path().extension() != ".gguf") continue;
    std::string file = entry.path().filename().string();
    CAPTURE(file);
    ++seen;
    GgufFile f = GgufFile::open(entry.path());
    CHECK(!f.architecture().empty());
    CHECK(f.has("tokenizer.ggml.model"));
    auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    CHECK(!tokens.empty());
    CHECK(f.get_i32_array("tokenizer.ggml.token_type").size() == tokens.size());
    CHECK(f.get_uint("tokenizer.ggml.bos_token_id") < tokens.size());
    CHECK(f.get_uint("tokenizer.ggml.eos_token_id") < tokens.size());
    if (f.has("tokenizer.ggml.merges")) CHECK(!f.get_string_array("tokenizer.ggml.merges").empty());
    if (f.has("tokenizer.ggml.scores")) CHECK(f.get_f32_array("tokenizer.ggml.scores").size() == tokens.size());
    if (auto it = vocab_sizes.find(file); it != vocab_sizes.end()) CHECK(tokens.size() == it->second);
    check_tensors_inside(f);
    for (const auto& m : f.metadata()) CHECK(!m.summary.empty());
  }
  CHECK(seen >= 3);
  GgufFile spm = GgufFile::open(dir / "tokenizer" / "ggml-vocab-llama-spm.gguf");
  CHECK(spm.get_string("tokenizer.ggml.model") == "llama");
  auto spm_tokens = spm.get_string_array("tokenizer.ggml.tokens");
  CHECK(spm_tokens[0] == "<unk>");
  CHECK(spm_tokens[1] == "<s>");
  CHECK(spm.get_uint("tokenizer.ggml.unknown_token_id") == 0);
  GgufFile qwen = GgufFile::open(dir / "tokenizer" / "ggml-vocab-qwen3.gguf");
  CHECK(qwen.get_string("tokenizer.ggml.pre") == "qwen2");
  CHECK(qwen.get_string("tokenizer.chat_template")->starts_with("{%- if tools %}"));
}

TEST_CASE("copying a shared model through the writer keeps every key and tensor") {
  auto dir = test::shared_dir();
  if (dir.empty()) {
    MESSAGE("shared/ absent: skipped");
    return;
  }
  GgufFile src = GgufFile::open(dir / "models" / "mixtral-tiny-q4k.gguf");
  GgufWriter w;
  for (const auto& m : src.metadata()) w.set_value(m.key, *src.get_value(m.key));
  for (const auto& t : src.tensors()) w.add_tensor(t.name, t.type, t.shape, src.tensor_data(t));
  GgufFile copy = GgufFile::from_memory(w.to_bytes(), "copy.gguf");
  auto a = src.metadata(), b = copy.metadata();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].key);
    CHECK(b[i].key == a[i].key);
    CHECK(copy.get_value(a[i].key) == src.get_value(a[i].key));
  }
  REQUIRE(copy.tensors().size() == src.tensors().size());
  for (size_t i = 0; i < src.tensors().size(); ++i) {
    const auto& s = src.tensors()[i];
    const auto& c = copy.tensors()[i];
    CHECK(c.name == s.name);
    CHECK(c.offset == s.offset);  // same alignment rule as the other writer
    auto sd = src.tensor_data(s), cd = copy.tensor_data(c);
    CHECK(std::equal(sd.begin(), sd.end(), cd.begin(), cd.end()));
  }
}

TEST_CASE("the committed fuzz seeds are valid files") {
  auto corpus = std::filesystem::path(VKMOE_SOURCE_DIR) / "fuzz" / "corpus";
  REQUIRE(std::filesystem::is_directory(corpus));
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    CAPTURE(entry.path());
    GgufFile f = GgufFile::open(entry.path());
    for (const auto& m : f.metadata()) CHECK(f.get_value(m.key).has_value());
    check_tensors_inside(f);
    ++seen;
  }
  CHECK(seen >= 5);
}
