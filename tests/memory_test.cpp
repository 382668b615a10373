// The memory planner and weight upload: budgets, spill, splitting tensors larger than one
// storage binding, and the bytes landing where the plan says.
#include <doctest/doctest.h>

#include <cstring>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/kernels/matmul.h"
#include "runtime/kernels/moe_experts.h"
#include "runtime/memory/plan.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"
#include "runtime/model/synthetic_model.h"
#include "tests/gpu_fixture.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {
GgufFile synthetic(SyntheticSpec spec = {}) {
  spec.seed = rng()();
  return GgufFile::from_memory(make_synthetic_model(spec).to_bytes(), "synthetic.gguf");
}
}  // namespace

TEST_CASE("parse_bytes reads the sizes users type") {
  CHECK(parse_bytes("8G") == 8ull << 30);
  CHECK(parse_bytes("512M") == 512ull << 20);
  CHECK(parse_bytes("1.5GiB") == 3ull << 29);
  CHECK(parse_bytes("4096") == 4096);
  CHECK_THROWS_WITH(parse_bytes("lots"), doctest::Contains("'lots'"));
  CHECK_THROWS_WITH(parse_bytes("3X"), doctest::Contains("unit"));
}

TEST_CASE_FIXTURE(GpuTest, "the planner fits, fails with numbers, or spills the last layers' experts") {
  SyntheticSpec spec;
  spec.n_layer = 4;
  spec.n_ff_exp = 256;
  auto file = synthetic(spec);
  auto cfg = load_model_config(file);
  const auto& caps = ctx.device().caps();
  PlanOptions opt{.n_ctx = 256, .n_batch = 32};
  auto plan = plan_memory(file, cfg, caps, opt);
  CHECK(plan.verdict == PlanVerdict::fits);
  CHECK(plan.kv_cache == 4ull * 256 * 2 * (16 + 16) * 2);  // layers * ctx * kv heads * (Dk + Dv) * f16
  uint64_t file_bytes = 0;
  for (const auto& t : file.tensors()) file_bytes += t.bytes;
  CHECK(plan.weights >= file_bytes);

  // A budget below the plan: refused, with every category, the shortfall and a hint.
  opt.mem_budget = plan.device_total() - 1;
  auto tight = plan_memory(file, cfg, caps, opt);
  CHECK(tight.verdict == PlanVerdict::does_not_fit);
  auto text = tight.summary(caps.name);
  for (const char* s : {"does not fit", "weights", "KV cache", "activations", "shortfall", "--spill"})
    CHECK_MESSAGE(text.find(s) != std::string::npos, s);

  // With spill: the last layer's experts leave first, and only as many layers as needed.
  const uint64_t layer_experts = 3 * (64ull * 256 * 8 * 4);
  opt.spill = true;
  opt.mem_budget = plan.device_total() - layer_experts / 2;
  auto spilled = plan_memory(file, cfg, caps, opt);
  CHECK(spilled.verdict == PlanVerdict::fits_with_spill);
  CHECK(spilled.spilled_layers == std::vector<uint32_t>{3});
  opt.mem_budget = plan.device_total() - layer_experts * 5 / 2;
  spilled = plan_memory(file, cfg, caps, opt);
  CHECK(spilled.spilled_layers == std::vector<uint32_t>{1, 2, 3});
  CHECK(spilled.summary(caps.name).find("experts of layers 1,2,3") != std::string::npos);

  // Not even spilling everything helps: a clear no.
  opt.mem_budget = 1 << 20;
  CHECK(plan_memory(file, cfg, caps, opt).verdict == PlanVerdict::does_not_fit);

  // upload_weights refuses before allocating anything.
  auto before = ctx.allocator().stats().used;
  CHECK_THROWS_WITH(upload_weights(ctx, file, tight, false), doctest::Contains("does not fit"));
  CHECK(ctx.allocator().stats().used == before);
}

TEST_CASE_FIXTURE(GpuTest, "a tensor larger than maxStorageBufferRange is split by expert and uploaded intact") {
  const auto& caps = ctx.device().caps();
  SyntheticSpec spec;
  spec.n_layer = 1;
  GgufWriter w = make_synthetic_model(spec);
  // One stacked expert tensor of F16 [1024, 1024, E] just over one binding.
  const uint64_t expert_bytes = 1024ull * 1024 * 2;
  const uint64_t experts = caps.max_storage_buffer_range / expert_bytes + 1;
  std::vector<uint8_t> big(expert_bytes * experts);
  SplitMix gen(rng()());
  for (size_t i = 0; i < big.size(); i += 8) {
    uint64_t v = gen.next();
    std::memcpy(big.data() + i, &v, 8);
  }
  w.add_tensor("blk.0.ffn_big_exps.weight", GgmlType::F16, {1024, 1024, experts}, big);
  auto file = GgufFile::open([&] {
    auto path = std::filesystem::temp_directory_path() / ("vkmoe_big_" + std::to_string(seed()) + ".gguf");
    w.write(path);
    return path;
  }());
  std::filesystem::remove(std::filesystem::temp_directory_path() / ("vkmoe_big_" + std::to_string(seed()) + ".gguf"));
  auto cfg = load_model_config(file);
  auto plan = plan_memory(file, cfg, caps, {.n_ctx = 64, .n_batch = 8});
  REQUIRE(plan.verdict == PlanVerdict::fits);
  const TensorPlan* tp = nullptr;
  for (const auto& t : plan.tensors)
    if (t.name == "blk.0.ffn_big_exps.weight") tp = &t;
  REQUIRE(tp);
  CHECK(tp->experts);
  CHECK(tp->pieces >= 2);
  CHECK(tp->units_per_piece * tp->unit_bytes <= caps.max_storage_buffer_range);

  auto weights = upload_weights(ctx, file, plan, false);
  const auto& dt = weights.get("blk.0.ffn_big_exps.weight");
  CHECK(dt.pieces == tp->pieces);
  // The kernels' view of the tensor: whole experts per binding, as the plan said.
  auto et = make_expert_tensor(ctx.device(), dt.buffer, 0, GgmlType::F16, static_cast<uint32_t>(experts), 1024, 1024);
  CHECK(et.pieces.size() == tp->pieces);
  for (const auto& piece : et.pieces) CHECK(piece.range.size <= caps.max_storage_buffer_range);
  std::vector<uint8_t> back(big.size());
  ctx.transfer().download(dt.buffer, 0, back.data(), back.size());
  CHECK(std::memcmp(back.data(), big.data(), big.size()) == 0);
  // Every other tensor arrived too.
  for (const auto& t : file.tensors()) CHECK(weights.find(t.name) != nullptr);
}

TEST_CASE_FIXTURE(GpuTest, "a forced small piece size splits dense tensors by rows") {
  auto file = synthetic();
  auto cfg = load_model_config(file);
  auto plan = plan_memory(file, cfg, ctx.device().caps(), {.n_ctx = 64, .n_batch = 8, .max_piece = 32768});
  for (const auto& t : plan.tensors) {
    CAPTURE(t.name);
    CHECK(t.units_per_piece * t.unit_bytes <= std::max<uint64_t>(32768, t.unit_bytes));
    CHECK(t.pieces == (t.units + t.units_per_piece - 1) / t.units_per_piece);
  }
  auto weights = upload_weights(ctx, file, plan, false);
  const auto& embd = weights.get("token_embd.weight");
  CHECK(embd.pieces > 1);
  auto dw = make_dense_weight(ctx.device(), embd.buffer, 0, embd.type, static_cast<uint32_t>(embd.shape[1]),
                              static_cast<uint32_t>(embd.shape[0]), 32768);
  CHECK(dw.pieces.size() == embd.pieces);
  std::vector<uint8_t> all(embd.bytes);
  ctx.transfer().download(embd.buffer, 0, all.data(), all.size());
  auto src = file.tensor_data(*file.find_tensor("token_embd.weight"));
  CHECK(std::memcmp(all.data(), src.data(), src.size()) == 0);
}
