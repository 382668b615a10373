// Writes the fuzzer's seed files with GgufWriter: small, valid, and together covering every
// value type, nested arrays, v2 and v3, several alignments and tensor types.
// Usage: gguf_make_corpus <dir>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/gguf/gguf_writer.h"

using namespace vkmoe;

namespace {

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 37 + 11);
  return v;
}

GgufWriter every_value() {
  GgufWriter w;
  w.set_uint8("u8", 200);
  w.set_int8("i8", -100);
  w.set_uint16("u16", 60000);
  w.set_int16("i16", -30000);
  w.set_uint32("u32", 4000000000u);
  w.set_int32("i32", -2000000000);
  w.set_uint64("u64", ~uint64_t{0});
  w.set_int64("i64", -1);
  w.set_float32("f32", 0.25f);
  w.set_float64("f64", 1e300);
  w.set_bool("bool", true);
  w.set_string("str", "text");
  w.set_string("empty", "");
  std::vector<std::string> strs = {"a", "", "bc"};
  w.set_array("a.str", strs);
  std::vector<float> fs = {1, 2};
  w.set_array("a.f32", fs);
  std::vector<int32_t> is = {-1, 5};
  w.set_array("a.i32", is);
  std::vector<uint32_t> us = {1, 2, 3};
  w.set_array("a.u32", us);
  w.set_value("a.bool", GgufValue::array(GgufValueType::BOOL, {GgufValue::of(true), GgufValue::of(false)}));
  w.set_value("a.u64", GgufValue::array(GgufValueType::UINT64, {GgufValue::of(uint64_t{7})}));
  w.set_value("a.f64", GgufValue::array(GgufValueType::FLOAT64, {GgufValue::of(0.5)}));
  w.set_value("a.nested",
              GgufValue::array(GgufValueType::ARRAY,
                               {GgufValue::array(GgufValueType::INT16, {GgufValue::of(int16_t{3})}),
                                GgufValue::array(GgufValueType::INT16, {})}));
  return w;
}

GgufWriter tiny_model() {
  GgufWriter w;
  w.set_string("general.architecture", "qwen3moe");
  w.set_uint32("qwen3moe.block_count", 1);
  w.set_uint32("qwen3moe.expert_count", 2);
  w.set_float32("qwen3moe.rope.freq_base", 1e6f);
  w.add_tensor("token_embd.weight", GgmlType::F32, {4, 3}, pattern(48));
  w.add_tensor("blk.0.attn_q.weight", GgmlType::Q8_0, {32, 2}, pattern(68));
  w.add_tensor("blk.0.ffn_gate_exps.weight", GgmlType::Q4_K, {256, 1, 2}, pattern(288));
  w.add_tensor("output_norm.weight", GgmlType::F16, {4}, pattern(8));
  return w;
}

GgufWriter v2_aligned() {
  GgufWriter w;
  w.set_version(2);
  w.set_uint32("general.alignment", 64);
  w.set_string("general.architecture", "llama");
  w.add_tensor("a", GgmlType::BF16, {3}, pattern(6));
  w.add_tensor("b", GgmlType::I8, {5, 2}, pattern(10));
  return w;
}

GgufWriter vocabulary() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "gpt2");
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;
  for (int i = 0; i < 40; ++i) {
    tokens.push_back(std::string(1, static_cast<char>('!' + i)));
    types.push_back(1);
    scores.push_back(-static_cast<float>(i));
  }
  std::vector<std::string> merges = {"! \"", "# $"};
  w.set_array("tokenizer.ggml.tokens", tokens);
  w.set_array("tokenizer.ggml.token_type", types);
  w.set_array("tokenizer.ggml.scores", scores);
  w.set_array("tokenizer.ggml.merges", merges);
  w.set_uint32("tokenizer.ggml.bos_token_id", 1);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <dir>\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  GgufWriter().write(dir + "/empty.gguf");
  every_value().write(dir + "/values.gguf");
  tiny_model().write(dir + "/model.gguf");
  v2_aligned().write(dir + "/v2_align64.gguf");
  vocabulary().write(dir + "/vocab.gguf");
  return 0;
}
