// MoE expert kernels against the double-precision CPU reference on the same dequantized
// weights: every weight type, both paths, both reduction variants, split tensors, empty slots,
// shared experts. Fresh random data every run; outputs and scratch are poisoned first.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "runtime/kernels/moe_experts.h"
#include "runtime/quant/quant.h"
#include "runtime/reference/moe_ref.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                           GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

bool quantized(GgmlType t) { return ggml_type_info(uint32_t(t))->block_elems > 1; }
double tolerance(GgmlType t) { return quantized(t) ? 1e-4 : 1e-5; }

// Small odd shapes: plain floats any size; 32-blocks 3 and 5 blocks; 256-blocks 3 and 1.
struct Shape {
  uint32_t hidden, ffn;
};
Shape shape_for(GgmlType t) {
  switch (ggml_type_info(uint32_t(t))->block_elems) {
    case 1: return {37, 19};
    case 32: return {96, 160};
    default: return {768, 256};
  }
}

uint64_t round4(uint64_t v) { return (v + 3) / 4 * 4; }

// Weights of one expert FFN: random, quantized to the file's bytes, uploaded at offsets that are
// multiples of 4 but not of the binding alignment, with the dequantized copy for the reference.
struct TestFfn {
  Buffer buffer;
  MoeFfnWeights w;
  ref::MoeFfn ref;
};

TestFfn make_ffn(Context& ctx, GgmlType gate_type, GgmlType down_type, uint32_t experts, uint32_t hidden, uint32_t ffn,
                 uint64_t max_piece_bytes = 0, uint64_t align = 0) {  // align: tensor offsets (16: W_VEC4)
  struct Part {
    GgmlType type;
    uint32_t rows, cols;
    std::vector<uint8_t> bytes;
    uint64_t offset;
  };
  Part parts[3] = {{gate_type, ffn, hidden}, {gate_type, ffn, hidden}, {down_type, hidden, ffn}};
  uint64_t end = 4;
  for (auto& p : parts) {
    auto v = random_floats(uint64_t(experts) * p.rows * p.cols, -1.0f, 1.0f);
    const float s = 2.0f / std::sqrt(float(p.cols));
    for (auto& f : v) f *= s;
    p.bytes = quantize(p.type, v);
    p.offset = align ? (end + align - 1) / align * align : end;
    end = round4(p.offset + p.bytes.size()) + 4;
  }
  TestFfn f;
  f.buffer = ctx.allocator().create_buffer(end, MemoryUse::device, "moe test weights");
  ExpertTensor* tensors[3] = {&f.w.gate, &f.w.up, &f.w.down};
  ref::ExpertMatrix* mats[3] = {&f.ref.gate, &f.ref.up, &f.ref.down};
  for (int i = 0; i < 3; ++i) {
    const auto& p = parts[i];
    ctx.transfer().upload(f.buffer, p.offset, p.bytes.data(), p.bytes.size());
    *tensors[i] = make_expert_tensor(ctx.device(), f.buffer, p.offset, p.type, experts, p.rows, p.cols, max_piece_bytes);
    *mats[i] = ref::dequantize_experts(p.type, p.bytes, experts, p.rows, p.cols);
  }
  return f;
}

struct Routing {
  std::vector<uint32_t> ids;
  std::vector<float> weights;
};

// k distinct experts from 0..used-1 per token; each slot empty with probability p_empty.
Routing random_routing(uint32_t tokens, uint32_t k, uint32_t used, double p_empty = 0) {
  Routing r;
  std::vector<uint32_t> all(used);
  std::uniform_real_distribution<float> wd(0.1f, 1.0f);
  std::bernoulli_distribution empty(p_empty);
  for (uint32_t t = 0; t < tokens; ++t) {
    std::iota(all.begin(), all.end(), 0u);
    std::shuffle(all.begin(), all.end(), rng());
    for (uint32_t j = 0; j < k; ++j) {
      const bool e = empty(rng());
      r.ids.push_back(e ? kMoeEmptySlot : all[j]);
      r.weights.push_back(e ? 0.0f : wd(rng()));
    }
  }
  return r;
}

Buffer upload(Context& ctx, const void* data, uint64_t bytes, const char* name) {
  Buffer b = ctx.allocator().create_buffer(std::max<uint64_t>(bytes, 4), MemoryUse::device, name);
  if (bytes) ctx.transfer().upload(b, 0, data, bytes);
  return b;
}

struct Result {
  std::vector<float> out;
  uint32_t dispatches = 0;
};

// Runs the routed experts (or the shared expert when `shared`) with out poisoned, or holding
// `init` when accumulating; the scratch is poisoned too so unwritten slots cannot pass.
Result run(Context& ctx, const TestFfn& f, MoeScratch& scratch, uint32_t tokens, uint32_t k,
           const std::vector<float>& x, const Routing& r, MoePath path, const std::vector<float>* init = nullptr,
           bool shared = false, const std::vector<float>* scale = nullptr) {
  const uint32_t H = f.w.gate.cols;
  Buffer xb = upload(ctx, x.data(), x.size() * 4, "x");
  Buffer ib = upload(ctx, r.ids.data(), r.ids.size() * 4, "ids");
  Buffer wb = upload(ctx, r.weights.data(), r.weights.size() * 4, "weights");
  Buffer sb = upload(ctx, scale ? scale->data() : nullptr, scale ? scale->size() * 4 : 0, "scale");
  Buffer ob = ctx.allocator().create_buffer(uint64_t(tokens) * H * 4, MemoryUse::device, "out");
  if (init) ctx.transfer().upload(ob, 0, init->data(), init->size() * 4);
  Sequence seq(ctx.device());
  if (!init) seq.fill(ob.range(), kPoisonBits);
  seq.fill(scratch.h.range(), kPoisonBits);
  if (scratch.y) seq.fill(scratch.y.range(), kPoisonBits);
  if (scratch.route) seq.fill(scratch.route.range(), kPoisonBits);
  if (shared)
    record_shared_expert(ctx, seq, f.w,
                         {.tokens = tokens, .x = xb.range(), .scale = scale ? std::optional(sb.range()) : std::nullopt,
                          .out = ob.range(), .path = path, .accumulate = init != nullptr},
                         scratch);
  else
    record_moe_experts(ctx, seq, f.w,
                       {.tokens = tokens, .k = k, .x = xb.range(), .ids = ib.range(), .weights = wb.range(),
                        .out = ob.range(), .path = path, .accumulate = init != nullptr},
                       scratch);
  const uint32_t dispatches = seq.dispatches();
  seq.run();
  Result res{std::vector<float>(uint64_t(tokens) * H), dispatches};
  ctx.transfer().download(ob, 0, res.out.data(), res.out.size() * 4);
  return res;
}

MoeScratch scratch_for(Context& ctx, const TestFfn& f, uint32_t tokens, uint32_t k) {
  return create_moe_scratch(ctx, {.tokens = tokens, .k = k, .experts = f.w.gate.experts, .hidden = f.w.gate.cols,
                                  .ffn = f.w.gate.rows});
}

// Runs and compares with the reference (out = init + reference when init is given).
void check_routed(Context& ctx, const TestFfn& f, MoeScratch& scratch, uint32_t tokens, uint32_t k,
                  const Routing& r, MoePath path, double tol, bool accumulate = false) {
  const auto x = random_floats(uint64_t(tokens) * f.w.gate.cols);
  std::vector<float> init;
  if (accumulate) init = random_floats(uint64_t(tokens) * f.w.gate.cols);
  auto res = run(ctx, f, scratch, tokens, k, x, r, path, accumulate ? &init : nullptr);
  auto want = ref::moe_experts(f.ref, tokens, k, x, r.ids, r.weights);
  for (size_t i = 0; i < init.size(); ++i) want[i] += init[i];
  const double err = rel_l2(res.out, want);
  CHECK_MESSAGE(err < tol, "relative L2 error " << err);
  if (std::getenv("VKMOE_TEST_VERBOSE")) MESSAGE("relative L2 error " << err);
}

const char* path_name(MoePath p) { return p == MoePath::decode ? "decode" : p == MoePath::batched ? "batched" : "auto"; }

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "gpt-oss experts: biases and the clamped SwiGLU, both paths, odd sizes") {
  for (GgmlType type : {GgmlType::F32, GgmlType::Q8_0})
    for (double limit : {7.0, 0.6}) {  // 0.6: most gate/up values are clamped
      const auto [H, F] = shape_for(type);
      const uint32_t E = 5, k = 2, tokens = 9;
      CAPTURE(ggml_type_name(type));
      CAPTURE(limit);
      TestFfn f = make_ffn(ctx, type, type, E, H, F);
      f.ref.gate_b = random_floats(uint64_t(E) * F);
      f.ref.up_b = random_floats(uint64_t(E) * F);
      f.ref.down_b = random_floats(uint64_t(E) * H);
      f.ref.oai = f.w.swiglu_oai = true;
      f.ref.limit = f.w.limit = float(limit);
      f.w.alpha = 1.702f;
      f.ref.alpha = double(f.w.alpha);
      std::vector<float> gu = f.ref.gate_b;
      gu.insert(gu.end(), f.ref.up_b.begin(), f.ref.up_b.end());
      Buffer gub = upload(ctx, gu.data(), gu.size() * 4, "gate/up bias");
      Buffer db = upload(ctx, f.ref.down_b.data(), f.ref.down_b.size() * 4, "down bias");
      f.w.gate_up_bias = gub.range();
      f.w.down_bias = db.range();
      const Routing r = random_routing(tokens, k, E, 0.2);
      MoeScratch scratch = scratch_for(ctx, f, tokens, k);
      for (MoePath path : {MoePath::decode, MoePath::batched}) {
        CAPTURE(path_name(path));
        check_routed(ctx, f, scratch, tokens, k, r, path, tolerance(type), /*accumulate=*/true);
      }
    }
}

TEST_CASE_FIXTURE(GpuTest, "Grok experts: gelu(gate) * up, both paths, odd sizes") {
  for (GgmlType type : {GgmlType::F32, GgmlType::Q8_0}) {
    const auto [H, F] = shape_for(type);
    const uint32_t E = 5, k = 2, tokens = 9;
    CAPTURE(ggml_type_name(type));
    TestFfn f = make_ffn(ctx, type, type, E, H, F);
    f.ref.gelu = f.w.gelu = true;
    const Routing r = random_routing(tokens, k, E, 0.2);
    MoeScratch scratch = scratch_for(ctx, f, tokens, k);
    for (MoePath path : {MoePath::decode, MoePath::batched}) {
      CAPTURE(path_name(path));
      check_routed(ctx, f, scratch, tokens, k, r, path, tolerance(type), /*accumulate=*/true);
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "decode path: every weight type, both reduction variants") {
  for (GgmlType type : kTypes) {
    const auto [H, F] = shape_for(type);
    CAPTURE(ggml_type_name(type));
    auto f = make_ffn(ctx, type, type, 5, H, F);
    REQUIRE(f.w.gate.pieces.size() == 1);
    auto scratch = scratch_for(ctx, f, 8, 2);
    auto variants = ctx.pipelines().supported_variants(moe_kernel_name("gate_up", type));
    REQUIRE(!variants.empty());
    CHECK(std::string(variants.back()->needs).empty());  // a portable variant always exists
    for (const auto* v : variants) {
      const std::string variant = v->name;
      CAPTURE(variant);
      scratch.settings.subgroup = !std::string(v->needs).empty();
      check_routed(ctx, f, scratch, 1, 2, random_routing(1, 2, 5), MoePath::decode, tolerance(type));
      // Several tokens with empty slots, accumulating onto out.
      check_routed(ctx, f, scratch, 7, 2, random_routing(7, 2, 5, 0.3), MoePath::decode, tolerance(type), true);
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "decode path: 16-byte-aligned weights (uvec4 loads), float units with a tail") {
  // Float types: 104 = 3 units of 32 + 1 chunk, 72 = 2 units + 1 chunk; K-quants: their uvec4 path.
  // Q8_0 / Q4_0: 16-byte-aligned rows whose blocks start at every even offset into a uvec4.
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q8_0,
                        GgmlType::Q4_0}) {
    const uint32_t H = quantized(type) ? 512 : 104, F = quantized(type) ? 256 : 72;
    CAPTURE(ggml_type_name(type));
    auto f = make_ffn(ctx, type, type, 5, H, F, 0, 16);
    REQUIRE(f.w.gate.row_bytes % 16 == 0);
    REQUIRE(f.w.down.pieces[0].base % 16 == 0);
    auto scratch = scratch_for(ctx, f, 8, 2);
    for (const auto* v : ctx.pipelines().supported_variants(moe_kernel_name("gate_up", type))) {
      CAPTURE(v->name);
      scratch.settings.subgroup = !std::string(v->needs).empty();
      check_routed(ctx, f, scratch, 1, 2, random_routing(1, 2, 5), MoePath::decode, tolerance(type));
      check_routed(ctx, f, scratch, 7, 2, random_routing(7, 2, 5, 0.3), MoePath::decode, tolerance(type), true);
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "decode path: window types on bindings without whole 16-byte groups (word loads)") {
  // Q8_0 / Q4_0 / Q6_K read uvec4 windows only when every binding ends on a whole 16-byte group;
  // bindings trimmed to the tensors' own bytes (as a buffer without spare bytes gives) keep the
  // direct dot products on single-word loads.
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6_K}) {
    const auto [H, F] = shape_for(type);
    CAPTURE(ggml_type_name(type));
    auto f = make_ffn(ctx, type, type, 5, H, F);
    bool partial = false;
    for (ExpertTensor* t : {&f.w.gate, &f.w.up, &f.w.down})
      for (ExpertPiece& p : t->pieces) {
        p.range.size = round4(p.base + uint64_t(p.experts) * t->row_bytes * t->rows);
        partial |= p.range.size % 16 != 0;
      }
    REQUIRE(partial);
    auto scratch = scratch_for(ctx, f, 8, 2);
    for (const auto* v : ctx.pipelines().supported_variants(moe_kernel_name("gate_up", type))) {
      CAPTURE(v->name);
      scratch.settings.subgroup = !std::string(v->needs).empty();
      check_routed(ctx, f, scratch, 1, 2, random_routing(1, 2, 5), MoePath::decode, tolerance(type));
      check_routed(ctx, f, scratch, 7, 2, random_routing(7, 2, 5, 0.3), MoePath::decode, tolerance(type), true);
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "batched path: every weight type, 301 tokens, an expert without tokens, empty slots") {
  for (GgmlType type : kTypes) {
    const auto [H, F] = shape_for(type);
    CAPTURE(ggml_type_name(type));
    auto f = make_ffn(ctx, type, type, 5, H, F);
    auto scratch = scratch_for(ctx, f, 301, 2);
    // Experts 0..3 only: expert 4 gets no tokens; 301 * 2 slots fill no whole number of tiles.
    check_routed(ctx, f, scratch, 301, 2, random_routing(301, 2, 4, 0.05), MoePath::batched, tolerance(type));
  }
}

TEST_CASE_FIXTURE(GpuTest, "Q4_K gate/up with a Q6_K down (as in Q4_K_M files), both paths, chosen automatically") {
  auto f = make_ffn(ctx, GgmlType::Q4_K, GgmlType::Q6_K, 3, 512, 256);
  auto scratch = scratch_for(ctx, f, 40, 2);
  scratch.settings.batched_from_tokens = 16;
  for (uint32_t tokens : {3u, 40u}) {
    CAPTURE(tokens);
    const auto x = random_floats(uint64_t(tokens) * 512);
    const auto r = random_routing(tokens, 2, 3);
    auto res = run(ctx, f, scratch, tokens, 2, x, r, MoePath::automatic);
    CHECK(res.dispatches == (tokens >= 16 ? 4u : 2u));  // route + 2 GEMMs + combine, or 2 matvecs
    CHECK(rel_l2(res.out, ref::moe_experts(f.ref, tokens, 2, x, r.ids, r.weights)) < 1e-4);
  }
}

TEST_CASE_FIXTURE(GpuTest, "k = E, every token on one expert, all slots empty") {
  auto f = make_ffn(ctx, GgmlType::Q8_0, GgmlType::Q8_0, 4, 64, 96);
  auto scratch = scratch_for(ctx, f, 70, 4);
  for (MoePath path : {MoePath::decode, MoePath::batched}) {
    CAPTURE(path_name(path));
    check_routed(ctx, f, scratch, 70, 4, random_routing(70, 4, 4), path, 1e-4);  // every expert chosen
    Routing one;
    for (uint32_t t = 0; t < 70; ++t) {
      one.ids.insert(one.ids.end(), {2u, kMoeEmptySlot});
      one.weights.insert(one.weights.end(), {0.5f + t * 0.01f, 0.0f});
    }
    check_routed(ctx, f, scratch, 70, 2, one, path, 1e-4, true);  // one expert holds every token
    Routing none{std::vector<uint32_t>(70 * 2, kMoeEmptySlot), std::vector<float>(70 * 2, 0.0f)};
    const auto x = random_floats(70 * 64);
    auto res = run(ctx, f, scratch, 70, 2, x, none, path);
    CHECK(std::all_of(res.out.begin(), res.out.end(), [](float v) { return v == 0.0f; }));
  }
}

TEST_CASE_FIXTURE(GpuTest, "both paths agree and repeat bit for bit") {
  auto f = make_ffn(ctx, GgmlType::F16, GgmlType::F16, 6, 45, 33);
  auto scratch = scratch_for(ctx, f, 50, 3);
  const auto x = random_floats(50 * 45);
  const auto r = random_routing(50, 3, 6, 0.1);
  auto a = run(ctx, f, scratch, 50, 3, x, r, MoePath::batched);
  auto b = run(ctx, f, scratch, 50, 3, x, r, MoePath::batched);
  auto c = run(ctx, f, scratch, 50, 3, x, r, MoePath::decode);
  CHECK(std::memcmp(a.out.data(), b.out.data(), a.out.size() * 4) == 0);
  CHECK(rel_l2(c.out, a.out) < 1e-5);
}

TEST_CASE_FIXTURE(GpuTest, "more tokens than the scratch holds run in chunks") {
  auto f = make_ffn(ctx, GgmlType::Q4_0, GgmlType::Q4_0, 4, 64, 32);
  auto scratch = scratch_for(ctx, f, 9, 2);  // 9 tokens per chunk
  for (MoePath path : {MoePath::decode, MoePath::batched}) {
    CAPTURE(path_name(path));
    check_routed(ctx, f, scratch, 40, 2, random_routing(40, 2, 4, 0.1), path, 1e-4, true);
  }
}

TEST_CASE_FIXTURE(GpuTest, "shared expert with and without the per-token scale") {
  for (GgmlType type : {GgmlType::BF16, GgmlType::Q5_K}) {
    CAPTURE(ggml_type_name(type));
    const auto [H, F] = shape_for(type);
    auto f = make_ffn(ctx, type, type, 1, H, F);
    auto scratch = scratch_for(ctx, f, 40, 1);
    for (MoePath path : {MoePath::decode, MoePath::batched})
      for (bool scaled : {false, true})
        for (bool accumulate : {false, true}) {
          CAPTURE(path_name(path));
          CAPTURE(scaled);
          CAPTURE(accumulate);
          const uint32_t tokens = path == MoePath::decode ? 3 : 40;
          const auto x = random_floats(uint64_t(tokens) * H);
          const auto scale = random_floats(tokens, 0.0f, 1.0f);
          const auto init = random_floats(uint64_t(tokens) * H);
          auto res = run(ctx, f, scratch, tokens, 1, x, {}, path, accumulate ? &init : nullptr, true,
                         scaled ? &scale : nullptr);
          auto want = ref::shared_expert(f.ref, tokens, x, scaled ? std::span<const float>(scale) : std::span<const float>());
          if (accumulate)
            for (size_t i = 0; i < want.size(); ++i) want[i] += init[i];
          CHECK(rel_l2(res.out, want) < tolerance(type));
        }
  }
}

TEST_CASE_FIXTURE(GpuTest, "shared expert as one more slot of the routed decode pair") {
  // F32 (dequant8) with the shared F larger than the routed, Q4_K (whole units) with it smaller;
  // gated and ungated, both variants; the batched path runs it separately with the same result.
  for (GgmlType type : {GgmlType::F32, GgmlType::Q4_K}) {
    CAPTURE(ggml_type_name(type));
    const auto [H, F] = shape_for(type);
    const uint32_t shared_f = type == GgmlType::F32 ? 2 * F + 3 : F / 2 + 128, E = 6, k = 2;
    auto f = make_ffn(ctx, type, type, E, H, F);
    auto s = make_ffn(ctx, type, type, 1, H, shared_f);
    auto scratch = create_moe_scratch(ctx, {.tokens = 40, .k = k + 1, .experts = E, .hidden = H,
                                            .ffn = std::max(F, shared_f)});
    for (const auto* v : ctx.pipelines().supported_variants(moe_kernel_name("gate_up", type)))
      for (uint32_t tokens : {3u, 40u})
        for (bool gated : {false, true}) {
          const bool portable = std::string(v->needs).empty();
          if (tokens > 3 && portable) continue;  // the batched path has no variants
          CAPTURE(v->name);
          CAPTURE(tokens);
          CAPTURE(gated);
          scratch.settings.subgroup = !portable;
          const MoePath path = tokens == 3 ? MoePath::decode : MoePath::batched;
          const auto x = random_floats(uint64_t(tokens) * H);
          const auto gate = random_floats(tokens, 0.0f, 1.0f);
          const Routing r = random_routing(tokens, k, E, 0.25);
          Buffer xb = upload(ctx, x.data(), x.size() * 4, "x");
          Buffer ib = upload(ctx, r.ids.data(), r.ids.size() * 4, "ids");
          Buffer wb = upload(ctx, r.weights.data(), r.weights.size() * 4, "weights");
          Buffer gb = upload(ctx, gate.data(), gate.size() * 4, "gate");
          Buffer ob = ctx.allocator().create_buffer(uint64_t(tokens) * H * 4, MemoryUse::device, "out");
          Sequence seq(ctx.device());
          seq.fill(ob.range(), kPoisonBits);
          seq.fill(scratch.h.range(), kPoisonBits);
          const SharedExpertSlot slot{&s.w, gated ? gb.range() : BufferRange{}};
          record_moe_experts(ctx, seq, f.w,
                             {.tokens = tokens, .k = k, .x = xb.range(), .ids = ib.range(), .weights = wb.range(),
                              .out = ob.range(), .path = path, .shared = &slot},
                             scratch);
          if (path == MoePath::decode) CHECK(seq.dispatches() == 2);
          seq.run();
          std::vector<float> out(uint64_t(tokens) * H);
          ctx.transfer().download(ob, 0, out.data(), out.size() * 4);
          auto want = ref::moe_experts(f.ref, tokens, k, x, r.ids, r.weights);
          const auto sh = ref::shared_expert(s.ref, tokens, x, gated ? std::span<const float>(gate) : std::span<const float>());
          for (size_t i = 0; i < want.size(); ++i) want[i] += sh[i];
          CHECK(rel_l2(out, want) < tolerance(type));
        }
    // A shared expert of another type cannot ride along: refused by name.
    auto other = make_ffn(ctx, GgmlType::F16, GgmlType::F16, 1, H, shared_f);
    const SharedExpertSlot bad{&other.w, {}};
    Sequence seq(ctx.device());
    Buffer xb = ctx.allocator().create_buffer(uint64_t(H) * 4, MemoryUse::device, "x");
    CHECK_THROWS_WITH_AS(record_moe_experts(ctx, seq, f.w,
                                            {.tokens = 1, .k = k, .x = xb.range(), .ids = xb.range(),
                                             .weights = xb.range(), .out = xb.range(), .path = MoePath::decode,
                                             .shared = &bad},
                                            scratch),
                         doctest::Contains("types"), std::invalid_argument);
  }
}

TEST_CASE_FIXTURE(GpuTest, "tensors split over several bindings") {
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q6_K}) {
    CAPTURE(ggml_type_name(type));
    const auto [H, F] = shape_for(type);
    const uint64_t expert_bytes = ggml_row_bytes(type, H) * F;
    // Room for 2 experts per binding: 7 experts in 4 pieces, the last one short.
    auto f = make_ffn(ctx, type, type, 7, H, F, 2 * expert_bytes + 64);
    REQUIRE(f.w.gate.pieces.size() == 4);
    CHECK(f.w.gate.experts_per_piece == 2);
    CHECK(f.w.gate.pieces.back().experts == 1);
    bool unaligned = false;
    for (const auto& p : f.w.gate.pieces) unaligned |= p.base != 0;
    CHECK(unaligned);  // some piece starts off the binding alignment
    auto scratch = scratch_for(ctx, f, 40, 3);
    for (MoePath path : {MoePath::decode, MoePath::batched}) {
      CAPTURE(path_name(path));
      const uint32_t tokens = path == MoePath::decode ? 4 : 40;
      check_routed(ctx, f, scratch, tokens, 3, random_routing(tokens, 3, 7, 0.1), path, tolerance(type));
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "batched path: rows neither a multiple of 4 nor of 8 (scalar input loads, a tail chunk)") {
  auto f = make_ffn(ctx, GgmlType::F32, GgmlType::F32, 3, 70, 45);
  auto scratch = scratch_for(ctx, f, 40, 2);
  check_routed(ctx, f, scratch, 40, 2, random_routing(40, 2, 3), MoePath::batched, 1e-5);
}

TEST_CASE_FIXTURE(GpuTest, "make_expert_tensor refuses what no binding can hold, naming sizes") {
  const uint64_t row = ggml_row_bytes(GgmlType::Q8_0, 64);  // 68 bytes
  Buffer b = ctx.allocator().create_buffer(row * 8 * 6 + 64, MemoryUse::device, "weights");
  CHECK_THROWS_WITH(make_expert_tensor(ctx.device(), b, 0, GgmlType::Q8_0, 6, 8, 64, 256),
                    doctest::Contains("one expert takes"));
  CHECK_THROWS_WITH(make_expert_tensor(ctx.device(), b, 0, GgmlType::Q8_0, 6, 8, 64, row * 8 + 64),
                    doctest::Contains("needs 6 bindings"));
  CHECK_THROWS_WITH(make_expert_tensor(ctx.device(), b, 2, GgmlType::Q8_0, 6, 8, 64),
                    doctest::Contains("not a multiple of 4"));
  CHECK_THROWS_WITH(make_expert_tensor(ctx.device(), b, 0, GgmlType::Q8_0, 7, 8, 64),
                    doctest::Contains("the buffer has"));
  CHECK_THROWS_WITH(make_expert_tensor(ctx.device(), b, 0, GgmlType::Q8_0, 2, 8, 48),
                    doctest::Contains("not whole blocks"));
  auto t = make_expert_tensor(ctx.device(), b, 0, GgmlType::Q8_0, 6, 8, 64);
  CHECK(t.pieces.size() == 1);
  CHECK(t.pieces[0].range.size == row * 8 * 6);
}

TEST_CASE_FIXTURE(GpuTest, "mismatched expert tensors and short buffers are refused before recording") {
  auto f = make_ffn(ctx, GgmlType::F32, GgmlType::F32, 2, 8, 6);
  auto scratch = scratch_for(ctx, f, 4, 2);
  Buffer io = ctx.allocator().create_buffer(4096, MemoryUse::device, "io");
  Sequence seq(ctx.device());
  auto record = [&](const MoeFfnWeights& w, uint32_t tokens) {
    record_moe_experts(ctx, seq, w,
                       {.tokens = tokens, .k = 2, .x = io.range(), .ids = io.range(0, 64), .weights = io.range(0, 64),
                        .out = io.range()},
                       scratch);
  };
  MoeFfnWeights swapped = f.w;
  std::swap(swapped.gate, swapped.down);
  CHECK_THROWS_WITH(record(swapped, 1), doctest::Contains("differ in shape"));
  MoeFfnWeights wrong_down = f.w;
  wrong_down.down = f.w.up;
  CHECK_THROWS_WITH(record(wrong_down, 1), doctest::Contains("does not fit gate"));
  CHECK_THROWS_WITH(record(f.w, 9), doctest::Contains("ids covers 64 bytes, needs 72"));
  CHECK_THROWS_WITH(record_shared_expert(ctx, seq, f.w, {.tokens = 1, .x = io.range(), .out = io.range()}, scratch),
                    doctest::Contains("more than one expert"));
  CHECK(seq.dispatches() == 0);
}

TEST_CASE("choose_moe: paths, variants and slot groups over fake device caps (no GPU)") {
  MoeSettings settings;
  for (uint32_t sg : {8u, 32u, 64u})
    for (bool cpu : {true, false}) {
      CAPTURE(sg);
      CAPTURE(cpu);
      const MoeDeviceCaps caps{.cpu = cpu, .subgroup_size = sg, .subgroup_arith = true};
      // The crossover: slots per expert measured on lavapipe (8) or guessed for GPUs (2), in tokens.
      settings.batched_from_tokens = moe_batched_from_tokens(caps, 32, 4);
      CHECK(settings.batched_from_tokens == (cpu ? 64u : 16u));
      CHECK(moe_batched_from_tokens(caps, 0, 0) == (cpu ? 64u : 16u));  // OLMoE's 64 experts, k = 8
      const uint32_t from = settings.batched_from_tokens;
      for (uint32_t tokens : {1u, 2u, 8u, from - 1, from, 300u}) {
        CAPTURE(tokens);
        const MoeCall call{.tokens = tokens, .k = 4, .experts = 32};
        const MoeChoice c = choose_moe(caps, call, settings);
        CHECK(c.path == (tokens >= from ? MoePath::batched : MoePath::decode));
        CHECK(c.batched_from == from);
        // A GPU: 4 subgroups of the device's size, 2 rows each; a CPU device: the portable shape.
        CHECK(c.subgroup == !cpu);
        CHECK(c.workgroup == (cpu ? 32 : 4 * sg));
        CHECK(c.rows_per_wg == (cpu ? 64 : 8));
        CHECK(c.gate_up_passes == 1);
        CHECK(c.group_slots == 1);  // grouping measured slower on lavapipe, not measured on GPUs
        CHECK(c.group_slots <= kMoeMaxGroupSlots);
        // The batched path needs its scratch; llama4's input weighting has no batched form.
        MoeCall no_y = call;
        no_y.batched_scratch = false;
        CHECK(choose_moe(caps, no_y, settings).path == MoePath::decode);
        MoeCall weighted = call;
        weighted.weight_input = true;
        weighted.path = MoePath::batched;
        CHECK(choose_moe(caps, weighted, settings).path == MoePath::decode);
        MoeCall forced = call;
        forced.path = MoePath::decode;
        CHECK(choose_moe(caps, forced, settings).path == MoePath::decode);
        MoeCall mixed = call;
        mixed.mixed_gate_up = true;
        CHECK(choose_moe(caps, mixed, settings).gate_up_passes == 2);
      }
      // Portable: one invocation per lane group, forced by the settings or without subgroup arithmetic.
      MoeSettings portable = settings;
      portable.subgroup = false;
      for (const auto& [cs, st] : {std::pair{caps, portable}, std::pair{MoeDeviceCaps{.cpu = cpu, .subgroup_size = sg}, settings}}) {
        const MoeChoice c = choose_moe(cs, {.tokens = 3, .k = 2, .experts = 8}, st);
        CHECK(!c.subgroup);
        CHECK(c.workgroup == 32);
        CHECK(c.rows_per_wg == 64);
      }
      // The subgroup variant forced (tests run it on lavapipe too).
      MoeSettings forced_sg = settings;
      forced_sg.subgroup = true;
      CHECK(choose_moe(caps, {.tokens = 3, .k = 2, .experts = 8}, forced_sg).subgroup);
      CHECK(choose_moe(caps, {.tokens = 3, .k = 2, .experts = 8}, forced_sg).workgroup == 4 * sg);
      MoeSettings forced_group = settings;
      forced_group.group_slots = 3;
      CHECK(choose_moe(caps, {.tokens = 5, .k = 2, .experts = 8}, forced_group).group_slots == 3);
      forced_group.group_slots = 99;
      CHECK(choose_moe(caps, {.tokens = 5, .k = 2, .experts = 8}, forced_group).group_slots == kMoeMaxGroupSlots);
    }
}

namespace {

// Routings that stress the expert groups of the decode gate/up: every token on one expert, ties
// (the same expert twice in a token, equal weights), experts without slots, empty slots.
Routing grouped_routing(int kind, uint32_t tokens, uint32_t k, uint32_t experts) {
  Routing r = random_routing(tokens, k, experts, kind == 3 ? 0.3 : 0.0);
  for (uint32_t s = 0; s < tokens * k; ++s) {
    if (kind == 1) r.ids[s] = 2;                                       // all slots on expert 2
    if (kind == 2) r.ids[s] = (s % k == 1) ? r.ids[s - 1] : r.ids[s];  // ties within a token
    if (kind == 2) r.weights[s] = 0.5f;
    if (kind == 3 && r.ids[s] != kMoeEmptySlot) r.ids[s] = 1 + r.ids[s] % 2;  // experts 0, 3, 4 unused
  }
  return r;
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "decode gate/up grouped by expert: equal to one slot per workgroup, T = 1..8") {
  // F32 37 x 19 (dequant8 only), F16 104 x 72 16-byte aligned (units and a tail), Q8_0 / Q4_K /
  // Q6_K (units): both variants, groups of 4 and 3 slots (forced: choose_moe picks 1 today)
  // against the per-slot path.
  struct Case {
    GgmlType type;
    uint32_t hidden, ffn, align;
  };
  const Case cases[] = {{GgmlType::F32, 37, 19, 0}, {GgmlType::F16, 104, 72, 16}, {GgmlType::Q8_0, 96, 160, 0},
                        {GgmlType::Q4_K, 512, 256, 16}, {GgmlType::Q6_K, 256, 256, 0}};
  const uint32_t E = 5, k = 2;
  for (const Case& cs : cases) {
    CAPTURE(ggml_type_name(cs.type));
    auto f = make_ffn(ctx, cs.type, cs.type, E, cs.hidden, cs.ffn, 0, cs.align);
    // Q6_K's 210-byte rows are not 16-byte aligned: the gate/up bindings, padded to whole uvec4s,
    // take the uvec4 window loads (W_VEC4) all the same.
    if (cs.type == GgmlType::Q6_K) CHECK(f.w.gate.pieces[0].range.size % 16 == 0);
    auto scratch = scratch_for(ctx, f, 8, k);
    for (const auto* v : ctx.pipelines().supported_variants(moe_kernel_name("gate_up", cs.type)))
      for (uint32_t group : {4u, 3u}) {
        if (group == 3 && cs.type != GgmlType::Q4_K && cs.type != GgmlType::F32) continue;
        CAPTURE(v->name);
        CAPTURE(group);
        scratch.settings.subgroup = !std::string(v->needs).empty();
        for (uint32_t tokens = 1; tokens <= 8; ++tokens)
          for (int kind = 0; kind < 4; ++kind) {
            CAPTURE(tokens);
            CAPTURE(kind);
            const Routing r = grouped_routing(kind, tokens, k, E);
            const auto x = random_floats(uint64_t(tokens) * cs.hidden);
            scratch.settings.group_slots = group;
            const auto grouped = run(ctx, f, scratch, tokens, k, x, r, MoePath::decode);
            scratch.settings.group_slots = 1;
            const auto single = run(ctx, f, scratch, tokens, k, x, r, MoePath::decode);
            const auto want = ref::moe_experts(f.ref, tokens, k, x, r.ids, r.weights);
            CHECK(rel_l2(grouped.out, want) < tolerance(cs.type));
            CHECK(rel_l2(single.out, want) < tolerance(cs.type));
            // The same sums in the same order per slot: grouping changes no bit.
            CHECK(std::memcmp(grouped.out.data(), single.out.data(), grouped.out.size() * 4) == 0);
          }
      }
    scratch.settings.group_slots = 0;
  }
}

TEST_CASE_FIXTURE(GpuTest, "decode gate/up grouped by expert: llama4's input weights per slot, mixed gate/up types") {
  // Top-1 with the weight on the input: out = down_e(silu(gate_e w x) * up_e w x).
  auto f = make_ffn(ctx, GgmlType::Q8_0, GgmlType::Q8_0, 3, 96, 64);
  f.w.weight_input = true;
  auto scratch = scratch_for(ctx, f, 8, 1);
  scratch.settings.group_slots = 4;
  for (uint32_t tokens : {2u, 7u}) {
    CAPTURE(tokens);
    const Routing r = random_routing(tokens, 1, 3);
    auto x = random_floats(uint64_t(tokens) * 96);
    const auto res = run(ctx, f, scratch, tokens, 1, x, r, MoePath::automatic);
    for (uint32_t t = 0; t < tokens; ++t)
      for (uint32_t i = 0; i < 96; ++i) x[t * 96 + i] *= r.weights[t];
    const auto want = ref::moe_experts(f.ref, tokens, 1, x, r.ids, std::vector<float>(tokens, 1.0f));
    CHECK(rel_l2(res.out, want) < 1e-4);
  }
  // Gate Q4_K, up Q8_0: two passes (PROJ 1 then 2, the second reading h), each grouped.
  auto g = make_ffn(ctx, GgmlType::Q4_K, GgmlType::Q8_0, 4, 256, 256);
  auto u = make_ffn(ctx, GgmlType::Q8_0, GgmlType::Q8_0, 4, 256, 256);
  MoeFfnWeights mixed = g.w;
  mixed.up = u.w.up;
  mixed.down = u.w.down;
  ref::MoeFfn mixed_ref = g.ref;
  mixed_ref.up = u.ref.up;
  mixed_ref.down = u.ref.down;
  TestFfn m{Buffer{}, mixed, mixed_ref};
  auto ms = scratch_for(ctx, m, 8, 2);
  ms.settings.group_slots = 2;
  const Routing r = grouped_routing(2, 6, 2, 4);
  const auto x = random_floats(6 * 256);
  const auto res = run(ctx, m, ms, 6, 2, x, r, MoePath::decode);
  CHECK(res.dispatches == 3);
  CHECK(rel_l2(res.out, ref::moe_experts(mixed_ref, 6, 2, x, r.ids, r.weights)) < 1e-4);
}
