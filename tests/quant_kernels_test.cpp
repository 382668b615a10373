// The types of issue 11 in the weight-reading kernels (dense matvec and tiled GEMM, MoE decode
// pair and batched GEMM), against the double-precision CPU reference on the same dequantized
// weights: random valid blocks at odd shapes, outputs and scratch poisoned first, and expert
// FFNs whose gate, up and down each have their own type (the unfused gate/up fallback).
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "runtime/kernels/matmul.h"
#include "runtime/kernels/moe_experts.h"
#include "runtime/quant/quant.h"
#include "runtime/reference/moe_ref.h"
#include "runtime/reference/ops_ref.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/ops_test_util.h"
#include "tests/quant_blocks_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

constexpr double kTol = 1e-4;  // f32 accumulation against double, same dequantized weights

// Odd block counts: 3 blocks of 32, 2 (down: 1) of 256.
uint32_t odd_cols(GgmlType t) { return ggml_type_info(uint32_t(t))->block_elems == 32 ? 96 : 512; }

// `elems` values of type t: random blocks for the types of issue 11, else quantized floats.
std::vector<uint8_t> typed_bytes(GgmlType t, uint64_t elems) {
  for (const NewType& nt : new_types())
    if (nt.type == t) {
      const auto info = *ggml_type_info(uint32_t(t));
      std::vector<uint8_t> b(elems / info.block_elems * info.block_bytes);
      random_blocks(nt, b.data(), elems / info.block_elems);
      return b;
    }
  auto v = random_floats(elems, -0.1f, 0.1f);
  return quantize(t, v);
}

std::vector<float> run_matmul(Context& ctx, const DenseWeight& w, std::span<const float> x, uint32_t tokens,
                              MatmulPath path, const std::string& variant) {
  GpuBuf xb(ctx, x), yb(ctx, size_t(tokens) * w.rows);
  Sequence seq(ctx.device());
  yb.poison(seq);
  record_matmul(ctx, seq, w, tokens, xb.range(), yb.range(), {.path = path, .variant = variant});
  seq.run();
  return yb.floats(ctx);
}

// One expert FFN with its own type per tensor, at 4-byte offsets, and its dequantized copy.
struct TypedFfn {
  Buffer buffer, gate_up_bias, down_bias;
  MoeFfnWeights w;
  ref::MoeFfn ref;
};

// max_piece_bytes: split each tensor over bindings (0: one binding).
TypedFfn typed_ffn(Context& ctx, GgmlType gate, GgmlType up, GgmlType down, uint32_t experts, uint32_t hidden,
                   uint32_t ffn, uint64_t max_piece_bytes = 0) {
  struct Part {
    GgmlType type;
    uint32_t rows, cols;
    std::vector<uint8_t> bytes;
    uint64_t offset = 0;
  };
  Part parts[3] = {{gate, ffn, hidden}, {up, ffn, hidden}, {down, hidden, ffn}};
  uint64_t end = 4;
  for (auto& p : parts) {
    p.bytes = typed_bytes(p.type, uint64_t(experts) * p.rows * p.cols);
    p.offset = end;
    end = (p.offset + p.bytes.size() + 3) / 4 * 4 + 4;
  }
  TypedFfn f;
  f.buffer = ctx.allocator().create_buffer(end, MemoryUse::device, "typed ffn");
  ExpertTensor* tensors[3] = {&f.w.gate, &f.w.up, &f.w.down};
  ref::ExpertMatrix* mats[3] = {&f.ref.gate, &f.ref.up, &f.ref.down};
  for (int i = 0; i < 3; ++i) {
    const Part& p = parts[i];
    ctx.transfer().upload(f.buffer, p.offset, p.bytes.data(), p.bytes.size());
    *tensors[i] = make_expert_tensor(ctx.device(), f.buffer, p.offset, p.type, experts, p.rows, p.cols, max_piece_bytes);
    *mats[i] = ref::dequantize_experts(p.type, p.bytes, experts, p.rows, p.cols);
  }
  return f;
}

// gpt-oss's extras: random per-expert biases ([gate | up] and down) and the clamped SwiGLU at
// `limit` (small enough that many gate and up values are clamped).
void add_gpt_oss_extras(Context& ctx, TypedFfn& f, float limit) {
  const uint64_t E = f.w.gate.experts, F = f.w.gate.rows, H = f.w.down.rows;
  f.ref.gate_b = random_floats(E * F);
  f.ref.up_b = random_floats(E * F);
  f.ref.down_b = random_floats(E * H);
  std::vector<float> gu = f.ref.gate_b;
  gu.insert(gu.end(), f.ref.up_b.begin(), f.ref.up_b.end());
  f.gate_up_bias = ctx.allocator().create_buffer(gu.size() * 4, MemoryUse::device, "gate/up bias");
  f.down_bias = ctx.allocator().create_buffer(E * H * 4, MemoryUse::device, "down bias");
  ctx.transfer().upload(f.gate_up_bias, 0, gu.data(), gu.size() * 4);
  ctx.transfer().upload(f.down_bias, 0, f.ref.down_b.data(), E * H * 4);
  f.w.gate_up_bias = f.gate_up_bias.range();
  f.w.down_bias = f.down_bias.range();
  f.ref.oai = f.w.swiglu_oai = true;
  f.ref.limit = f.w.limit = limit;
  f.w.alpha = 1.702f;
  f.ref.alpha = double(f.w.alpha);
}

// Routed experts on `tokens` tokens (k distinct experts each, one slot empty) against the
// reference; returns the relative L2 error. labels: the dispatches' labels, when wanted.
double moe_error(Context& ctx, const TypedFfn& f, uint32_t tokens, uint32_t k, MoePath path, bool portable,
                 std::vector<std::string>* labels = nullptr) {
  const uint32_t H = f.w.gate.cols, E = f.w.gate.experts;
  std::vector<uint32_t> ids;
  std::vector<float> weights;
  std::vector<uint32_t> all(E);
  for (uint32_t t = 0; t < tokens; ++t) {
    std::iota(all.begin(), all.end(), 0u);
    std::shuffle(all.begin(), all.end(), rng());
    for (uint32_t j = 0; j < k; ++j) {
      const bool empty = t == 1 && j == 0;
      ids.push_back(empty ? kMoeEmptySlot : all[j]);
      weights.push_back(empty ? 0.0f : 0.25f + 0.5f * float(j));
    }
  }
  const auto x = random_floats(uint64_t(tokens) * H);
  MoeScratch scratch =
      create_moe_scratch(ctx, {.tokens = tokens, .k = k, .experts = E, .hidden = H, .ffn = f.w.gate.rows});
  scratch.settings.subgroup = !portable;
  GpuBuf xb(ctx, x), ib(ctx, ids), wb(ctx, weights), ob(ctx, uint64_t(tokens) * H);
  Sequence seq(ctx.device(), {.timestamps = labels != nullptr});
  ob.poison(seq);
  seq.fill(scratch.h.range(), kPoisonBits);
  seq.fill(scratch.y.range(), kPoisonBits);
  seq.fill(scratch.route.range(), kPoisonBits);
  record_moe_experts(ctx, seq, f.w,
                     {.tokens = tokens, .k = k, .x = xb.range(), .ids = ib.range(), .weights = wb.range(),
                      .out = ob.range(), .path = path},
                     scratch);
  seq.run();
  if (labels)
    for (const auto& t : seq.timings()) labels->push_back(t.label);
  return rel_l2(ob.floats(ctx), ref::moe_experts(f.ref, tokens, k, x, ids, weights));
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "matmul: the types of issue 11, matrix-vector (both variants) and tiled") {
  for (const NewType& nt : new_types()) {
    CAPTURE(ggml_type_name(nt.type));
    const uint32_t rows = 37, cols = odd_cols(nt.type);
    const uint64_t offset = 12;
    const auto bytes = random_rows(nt, rows, cols, offset);
    std::vector<float> deq(size_t(rows) * cols);
    dequantize_row(nt.type, bytes.data() + offset, deq.data(), deq.size());
    GpuBuf wb(ctx, std::span<const uint8_t>(bytes));
    const DenseWeight w = make_dense_weight(ctx.device(), wb.buffer, offset, nt.type, rows, cols);
    const std::string kernel = matmul_kernel_name("matvec", nt.type);
    for (const auto* v : ctx.pipelines().supported_variants(kernel)) {
      CAPTURE(v->name);
      // The portable variant (1 token) for one type of each block size: its units are the
      // subgroup variant's, and each pipeline costs seconds of JIT on lavapipe.
      const bool portable = v->name == kernel;
      if (portable && !(nt.type == GgmlType::Q5_0 || nt.type == GgmlType::Q3_K)) continue;
      for (uint32_t tokens : {1u, 5u}) {
        if (portable && tokens > 1) continue;
        CAPTURE(tokens);
        const auto x = random_floats(size_t(tokens) * cols);
        CHECK(rel_l2(run_matmul(ctx, w, x, tokens, MatmulPath::vec, v->name), matmul_ref(deq, x, rows, cols, tokens)) <
              kTol);
      }
    }
    const uint32_t tokens = 37;
    const auto x = random_floats(size_t(tokens) * cols);
    CHECK(rel_l2(run_matmul(ctx, w, x, tokens, MatmulPath::tiled, ""), matmul_ref(deq, x, rows, cols, tokens)) < kTol);
  }
}

TEST_CASE_FIXTURE(GpuTest, "moe experts: the types of issue 11, decode and batched paths") {
  for (const NewType& nt : new_types()) {
    CAPTURE(ggml_type_name(nt.type));
    const bool small = ggml_type_info(uint32_t(nt.type))->block_elems == 32;
    const auto f = typed_ffn(ctx, nt.type, nt.type, nt.type, 3, odd_cols(nt.type), small ? 160 : 256);
    CHECK(moe_error(ctx, f, 3, 2, MoePath::decode, false) < kTol);
    // The portable decode variants for one type of each block size (the units are shared).
    if (nt.type == GgmlType::Q5_0 || nt.type == GgmlType::Q3_K)
      CHECK(moe_error(ctx, f, 3, 2, MoePath::decode, true) < kTol);
    CHECK(moe_error(ctx, f, 5, 2, MoePath::batched, false) < kTol);
  }
}

TEST_CASE_FIXTURE(GpuTest, "moe experts: gate, up and down of three types (two gate/up passes, both paths)") {
  struct Case {
    GgmlType gate, up, down;
  };
  for (const Case c : {Case{GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q4_K},
                       Case{GgmlType::IQ4_XS, GgmlType::Q3_K, GgmlType::MXFP4}}) {
    CAPTURE(ggml_type_name(c.gate));
    const auto f = typed_ffn(ctx, c.gate, c.up, c.down, 4, 512, 256);
    CHECK(moe_error(ctx, f, 3, 2, MoePath::decode, false) < kTol);
    CHECK(moe_error(ctx, f, 3, 2, MoePath::decode, true) < kTol);
    std::vector<std::string> labels;
    CHECK(moe_error(ctx, f, 6, 3, MoePath::batched, false, &labels) < kTol);
    // The batched path's two gate/up GEMM passes ran (not the decode pair).
    CHECK(std::count(labels.begin(), labels.end(), "moe_gemm_gate") == 1);
    CHECK(std::count(labels.begin(), labels.end(), "moe_gemm_up") == 1);
    CHECK(std::count(labels.begin(), labels.end(), "moe_gate") == 0);
  }
}

// gpt-oss's expert biases and clamped SwiGLU in the quant variants: MXFP4 (gpt-oss's expert
// type), gate and up of two types (the two gate/up passes add their own bias), and tensors split
// over bindings (the bias bindings after the pieces).
TEST_CASE_FIXTURE(GpuTest, "moe experts: gpt-oss biases and clamped SwiGLU with MXFP4, two gate/up types, split") {
  struct Case {
    GgmlType gate, up, down;
    uint32_t hidden, ffn;
    bool split;
  };
  for (const Case c : {Case{GgmlType::MXFP4, GgmlType::MXFP4, GgmlType::MXFP4, 96, 160, false},
                       Case{GgmlType::IQ4_XS, GgmlType::Q3_K, GgmlType::MXFP4, 512, 256, false},
                       Case{GgmlType::MXFP4, GgmlType::MXFP4, GgmlType::MXFP4, 96, 160, true}}) {
    CAPTURE(ggml_type_name(c.gate));
    CAPTURE(ggml_type_name(c.up));
    CAPTURE(c.split);
    const uint32_t E = 5;
    // Split: room for 2 experts per binding, 5 experts in 3 pieces.
    const uint64_t piece = c.split ? 2 * ggml_row_bytes(c.gate, c.hidden) * c.ffn + 64 : 0;
    auto f = typed_ffn(ctx, c.gate, c.up, c.down, E, c.hidden, c.ffn, piece);
    if (c.split) REQUIRE(f.w.gate.pieces.size() == 3);
    add_gpt_oss_extras(ctx, f, 1.0f);
    CHECK(moe_error(ctx, f, 3, 2, MoePath::decode, false) < kTol);
    CHECK(moe_error(ctx, f, 6, 3, MoePath::batched, false) < kTol);  // two gate/up types: two GEMM passes
  }
}
