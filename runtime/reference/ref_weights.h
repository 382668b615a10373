// The CPU reference's view of a model file: each tensor dequantized to float on first use and
// kept. Shared by the reference blocks (runtime/blocks/*_ref.h) and reference_forward.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vkmoe {

class GgufFile;

namespace ref {

using Vec = std::vector<double>;

// A weight tensor dequantized to float: rows of `cols` contiguous elements.
struct Mat {
  std::vector<float> w;
  uint64_t cols = 0, rows = 0;
  const float* row(uint64_t r) const { return w.data() + r * cols; }
};

class RefWeights {
 public:
  explicit RefWeights(const GgufFile& f) : f_(f) {}
  const GgufFile& file() const { return f_; }
  // The tensor, or nullptr when the file has none of that name.
  const Mat* find(const std::string& name);
  // The tensor; throws naming the file and the tensor when absent.
  const Mat& get(const std::string& name);
  // The optional per-tensor (or per-expert) output scale '<base>.scale' llama.cpp multiplies a
  // projection's result by; 1 when absent.
  double scale(const std::string& base, uint64_t index = 0);
  // Keeps a tensor the reference rebuilds itself (DeepSeek's attn_kv_b from attn_k_b / attn_v_b)
  // under `name`; find() and get() return it from then on.
  const Mat& put(const std::string& name, Mat m);

 private:
  const GgufFile& f_;
  std::map<std::string, Mat> cache_;
};

}  // namespace ref
}  // namespace vkmoe
