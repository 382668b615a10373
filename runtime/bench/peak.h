// `vkmoe bench peak`: what the device can do, measured with plain kernels, so that vkmoe's own
// kernels (bench kernels) and whole models (bench model) are reported against numbers from the
// same run: read and copy bandwidth of device-local and host-visible memory, the weight rate of
// a plain F32 and a plain packed-int8 matvec, fp32/fp16 multiply-add and int8 dot-product
// rates, and what an empty dispatch, a dispatch with a barrier and a submit + wait cost.
// GPU timestamps (one pair around each timed recording), medians with min and max.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace vkmoe {

class Buffer;
struct BufferRange;
class Context;
class Sequence;

// Median, smallest and largest of the kept samples; `note` says why a figure is absent.
struct Measure {
  double median = 0, min = 0, max = 0;
  int samples = 0;
  std::string note;
  bool ok() const { return samples > 0; }
};
Measure measure_of(std::vector<double> samples);
double median_of(std::vector<double> v);

struct PeakOptions {
  int repeats = 5;          // timed runs per figure (after one warm-up run)
  uint64_t max_bytes = 0;   // cap on the bandwidth and matvec buffers (0: from device limits)
  double target_ms = 20;    // the FMA and dot kernels are scaled to run about this long
  uint32_t dispatches = 256;  // empty dispatches per timed recording
  // A fixed matvec shape (a model's, say; rows capped by the buffer size); 0: 4096 columns and
  // as many rows as fill the buffer.
  uint32_t matvec_rows = 0, matvec_cols = 0;
};

struct PeakResult {
  std::string device, date;
  int repeats = 0;
  uint64_t read_bytes = 0, copy_bytes = 0;  // buffer sizes used
  Measure read_device_gbs, read_host_gbs;   // GB/s (1e9 bytes) read by a shader
  Measure copy_device_gbs, copy_host_gbs;   // GB/s copied by vkCmdCopyBuffer (bytes copied, not
                                            // read + written); host: host-visible -> device-local
  uint32_t f32_rows = 0, f32_cols = 0, i8_rows = 0, i8_cols = 0;
  std::string f32_variant, i8_variant;
  Measure matvec_f32_wps, matvec_i8_wps;    // weights per second
  Measure fma_f32_flops, fma_f16_flops;     // FLOP/s, a multiply-add counted as 2
  Measure int8_dot_ops;                     // op/s, a multiply-add counted as 2
  Measure dispatch_us, dispatch_barrier_us; // GPU time per empty dispatch (without / with a barrier)
  Measure submit_wait_us;                   // CPU time of submitting an empty recording and waiting
};

// Sizes, from the device's limits: the largest buffer one binding covers (maxStorageBufferRange),
// at most 256 MiB (beyond any GPU's last-level cache), within maxMemoryAllocationSize and a
// quarter of the smallest heap's budget.
uint64_t peak_buffer_bytes(uint64_t max_storage_buffer_range, uint64_t max_allocation, uint64_t heap_budget,
                           uint64_t cap = 0);

// What each kernel counts, for one dispatch.
uint64_t matvec_weight_bytes(bool int8, uint32_t rows, uint32_t cols);
double fma_flops(uint32_t workgroups, uint32_t iters);      // 64 invocations x 8 chains x vec4 x 2
double int_dot_ops(uint32_t workgroups, uint32_t iters);    // 64 invocations x 8 calls x 4 MACs x 2

// Runs the plain matvec once: y[rows] = W x. F32: `weights` holds rows x cols floats' bits;
// int8: rows x cols signed bytes packed 4 per word (cols a multiple of 16). For tests.
std::vector<float> run_plain_matvec(Context& ctx, bool int8, uint32_t rows, uint32_t cols,
                                    const std::vector<uint32_t>& weights, const std::vector<float>& x,
                                    const std::string& variant = "");

// Records the plain matvec on buffers w [rows x cols weights], x [cols floats], y [rows
// floats] (its dispatch is labelled with its variant, "bench_matvec_f32..." or "..._i8..."):
// `bench kernels --rates` records it beside the kernels it judges, in the same recordings.
void record_plain_matvec(Context& ctx, bool int8, uint32_t rows, uint32_t cols, const Buffer& w, const Buffer& x,
                         const Buffer& y, Sequence& seq, const std::string& variant = "", std::string* used = nullptr);

// The same on ranges (any parts of one buffer, say); each range at least the shape's size.
void record_plain_matvec(Context& ctx, bool int8, uint32_t rows, uint32_t cols, const BufferRange& w, const BufferRange& x,
                         const BufferRange& y, Sequence& seq, const std::string& variant = "", std::string* used = nullptr);

// The two figures of bench model's roofline on ranges the caller owns (its limit probes, run
// beside each timed decode run): GB/s a shader reads from `src` (whole vec4s), and the plain int8
// matvec's weights/s on w [rows x cols], x [cols floats], y [rows floats]. One warm-up run, then
// `repeats` timed ones.
Measure read_rate(Context& ctx, const BufferRange& src, int repeats);
Measure int8_matvec_rate(Context& ctx, uint32_t rows, uint32_t cols, const BufferRange& w, const BufferRange& x,
                         const BufferRange& y, int repeats);

PeakResult run_peak(Context& ctx, const PeakOptions& opt = {},
                    const std::function<void(const std::string&)>& progress = {});

std::string peak_table(const PeakResult& r);
std::string peak_json(const PeakResult& r);
nlohmann::ordered_json peak_json_object(const PeakResult& r);

std::string today_utc();

}  // namespace vkmoe
