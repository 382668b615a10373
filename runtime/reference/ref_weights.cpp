#include "runtime/reference/ref_weights.h"

#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/quant/quant.h"

namespace vkmoe::ref {

const Mat* RefWeights::find(const std::string& name) {
  if (auto it = cache_.find(name); it != cache_.end()) return &it->second;
  const GgufTensorInfo* t = f_.find_tensor(name);
  if (!t) return nullptr;
  Mat m;
  m.cols = t->shape[0];
  m.rows = t->elements() / m.cols;
  m.w.resize(t->elements());
  auto data = f_.tensor_data(*t);
  const uint64_t row_bytes = ggml_row_bytes(t->type, m.cols);
  for (uint64_t r = 0; r < m.rows; ++r) dequantize_row(t->type, data.data() + r * row_bytes, m.w.data() + r * m.cols, m.cols);
  return &cache_.emplace(name, std::move(m)).first->second;
}

const Mat& RefWeights::get(const std::string& name) {
  const Mat* m = find(name);
  if (!m) throw std::runtime_error(f_.name() + ": missing tensor '" + name + "'");
  return *m;
}

double RefWeights::scale(const std::string& base, uint64_t index) {
  const Mat* s = find(base + ".scale");
  return s ? s->w[s->w.size() == 1 ? 0 : index] : 1.0;
}

const Mat& RefWeights::put(const std::string& name, Mat m) { return cache_.insert_or_assign(name, std::move(m)).first->second; }

}  // namespace vkmoe::ref
