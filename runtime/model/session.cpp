// Sessions on a Model: the pool of planned KV caches, forward() of one session, decode() of
// several as one pass, the default session, and each session's routing statistics (read back
// from the batch's router outputs after a pass).
#include "runtime/model/session.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/kernels/moe_experts.h"
#include "runtime/model/model.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"

namespace vkmoe {

Session::Session(Model& model) : model_(model), buffers_(model.take_kv(slot_)) {
  const ModelConfig& c = model.config();
  const ModelConfig::AttentionShape a = c.attention_shape();
  const ActivationLayout& lay = model.plan().layout;
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const uint32_t ring = lay.ring(l) ? lay.kv_ring : 0;
    kv_.push_back({buffers_[2 * l].range(), buffers_[2 * l + 1].range(), model.n_ctx(), a.n_head_kv, a.head_dim_k,
                   a.head_dim_v, ring});
    if (ring) ring_ = ring, window_ = std::max(window_, c.layers[l].window);
  }
  routing_.layers = c.n_layer;
  routing_.k = c.n_expert_used;
  routing_.experts = c.n_expert;
  routing_.counts.assign(static_cast<size_t>(c.n_layer) * c.n_expert, 0);
}

Session::~Session() { model_.return_kv(slot_, std::move(buffers_)); }

uint32_t Session::n_ctx() const { return model_.n_ctx(); }

void Session::set_position(uint32_t pos) {
  if (pos > model_.n_ctx())
    throw std::out_of_range("session position " + std::to_string(pos) + " is past the context of " +
                            std::to_string(model_.n_ctx()) + " (-c)");
  if (resumable(pos) != pos)
    throw std::runtime_error("session position " + std::to_string(pos) + ": the sliding-window layers' caches (rings of " +
                             std::to_string(ring_) + " rows) hold positions from " + std::to_string(held_from_) +
                             " only; run the tokens again from 0");
  if (pos == 0) held_from_ = 0;  // a new conversation: every row is written again before it is read
  pos_ = pos;
}

// A query at pos needs the keys of its window, pos - window + 1 on (a chunk starts no earlier).
uint32_t Session::resumable(uint32_t pos) const {
  if (!ring_ || pos == 0 || pos == pos_) return pos;
  return (pos >= window_ ? pos - window_ + 1 : 0) >= held_from_ ? pos : 0;
}

void Session::wrote(uint32_t end) {
  if (ring_ && end > ring_) held_from_ = std::max(held_from_, end - ring_);
}

void Session::reset_stats() { std::fill(routing_.counts.begin(), routing_.counts.end(), 0u); }

std::vector<Buffer> Model::take_kv(uint32_t& slot) {
  for (uint32_t s = 0; s < kv_pool_.size(); ++s)
    if (!kv_pool_[s].empty()) {
      slot = s;
      return std::move(kv_pool_[s]);
    }
  throw std::runtime_error(file().name() + ": all " + std::to_string(kv_pool_.size()) +
                           " planned sessions are in use (each has its own KV cache of -c " + std::to_string(opt_.n_ctx) +
                           "); load the model with more (-np / ModelOptions::n_parallel)");
}

void Model::return_kv(uint32_t slot, std::vector<Buffer> buffers) { kv_pool_.at(slot) = std::move(buffers); }

uint32_t Model::free_sessions() const {
  return static_cast<uint32_t>(std::count_if(kv_pool_.begin(), kv_pool_.end(), [](const auto& b) { return !b.empty(); }));
}

namespace {
void check_tokens(std::span<const int32_t> tokens, uint32_t n_vocab) {
  for (int32_t t : tokens)
    if (t < 0 || static_cast<uint32_t>(t) >= n_vocab)
      throw std::out_of_range("token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(n_vocab));
}
}  // namespace

std::vector<float> Model::forward(Session& session, std::span<const int32_t> tokens, LogitsMode mode) {
  if (&session.model_ != this) throw std::invalid_argument("forward: the session belongs to another model");
  if (tokens.empty()) throw std::invalid_argument("forward: no tokens");
  const uint32_t pos = session.pos_;
  if (pos + tokens.size() > opt_.n_ctx)
    throw std::out_of_range("context full: " + std::to_string(pos + tokens.size()) + " tokens do not fit the context of " +
                            std::to_string(opt_.n_ctx) + " (-c)");
  check_tokens(tokens, config().n_vocab);
  std::vector<float> out;
  if (mode == LogitsMode::all) out.reserve(tokens.size() * config().n_vocab);
  for (size_t start = 0; start < tokens.size(); start += opt_.n_batch) {
    const uint32_t T = static_cast<uint32_t>(std::min<size_t>(opt_.n_batch, tokens.size() - start));
    const bool last_chunk = start + T == tokens.size();
    const Pass pass = engine_->make_pass({{&session, 0, T, pos + static_cast<uint32_t>(start)}}, mode);
    std::vector<float> rows = engine_->run_pass(pass, tokens.subspan(start, T), mode == LogitsMode::all || last_chunk);
    session.wrote(session.pos_ + T);
    session.pos_ += T;
    if (mode == LogitsMode::all) out.insert(out.end(), rows.begin(), rows.end());
    else if (last_chunk) out = std::move(rows);
  }
  return out;
}

std::vector<float> Model::decode(std::span<Session* const> sessions, std::span<const int32_t> tokens) {
  const size_t n = sessions.size();
  if (n == 0 || n != tokens.size())
    throw std::invalid_argument("decode: " + std::to_string(n) + " sessions and " + std::to_string(tokens.size()) +
                                " tokens; one token per session, at least one");
  if (n > max_batch())
    throw std::invalid_argument("decode: " + std::to_string(n) + " sessions, more than a batch holds (" +
                                std::to_string(max_batch()) + ")");
  check_tokens(tokens, config().n_vocab);
  std::vector<PassPart> parts;
  for (size_t i = 0; i < n; ++i) {
    Session* s = sessions[i];
    if (!s || &s->model_ != this) throw std::invalid_argument("decode: session " + std::to_string(i) + " is not of this model");
    if (std::find(sessions.begin(), sessions.begin() + i, s) != sessions.begin() + i)
      throw std::invalid_argument("decode: session " + std::to_string(i) + " appears twice");
    if (s->pos_ >= opt_.n_ctx)
      throw std::out_of_range("context full: session " + std::to_string(i) + " is at position " + std::to_string(s->pos_) +
                              " of -c " + std::to_string(opt_.n_ctx));
    parts.push_back({s, static_cast<uint32_t>(i), 1, s->pos_});
  }
  std::vector<float> out = engine_->run_pass(engine_->make_pass(std::move(parts), LogitsMode::all), tokens, true);
  for (Session* s : sessions) s->wrote(++s->pos_);
  return out;
}

// The batch's router outputs (copied to routing_ at the end of the pass, layer slices
// ids_slice(T) apart): each session's counts, and the ids and weights of its last token.
// Dense layers route nothing: their slots read as empty.
void Engine::collect_routing(const Pass& pass) {
  if (!cfg_.n_expert) return;
  const uint32_t K = cfg_.n_expert_used, E = cfg_.n_expert, L = cfg_.n_layer;
  const uint64_t slice = lay_.ids_slice(pass.tokens) / 4;
  std::vector<uint32_t> ids(L * slice);
  std::vector<float> wts(L * slice);
  ctx_.transfer().download(act_.routing, 0, ids.data(), ids.size() * 4);
  ctx_.transfer().download(act_.routing, lay_.ids.bytes, wts.data(), wts.size() * 4);
  for (const PassPart& p : pass.parts) {
    RoutingSnapshot& r = p.session->routing_;
    r.ids.assign(static_cast<size_t>(L) * K, kMoeEmptySlot);
    r.weights.assign(r.ids.size(), 0.0f);
    for (uint32_t l = 0; l < L; ++l) {
      if (cfg_.layers[l].ffn != FfnKind::moe) continue;
      const uint32_t* row = ids.data() + l * slice + uint64_t(p.first) * K;
      for (uint32_t i = 0; i < p.tokens * K; ++i)
        if (row[i] < E) ++r.counts[uint64_t(l) * E + row[i]];
      const uint64_t last = l * slice + uint64_t(p.first + p.tokens - 1) * K;
      std::copy_n(ids.data() + last, K, r.ids.data() + uint64_t(l) * K);
      std::copy_n(wts.data() + last, K, r.weights.data() + uint64_t(l) * K);
    }
  }
}

Session& Model::default_session() {
  if (!default_) default_ = std::make_unique<Session>(*this);
  return *default_;
}

std::vector<float> Model::forward(std::span<const int32_t> tokens, uint32_t pos, LogitsMode mode) {
  Session& s = default_session();
  s.set_position(pos);
  return forward(s, tokens, mode);
}

RoutingSnapshot Model::routing() const {
  if (default_) return default_->routing();
  const ModelConfig& c = config();
  return {.layers = c.n_layer, .k = c.n_expert_used, .experts = c.n_expert,
          .counts = std::vector<uint32_t>(static_cast<size_t>(c.n_layer) * c.n_expert, 0)};
}

void Model::reset_stats() {
  if (default_) default_->reset_stats();
}

}  // namespace vkmoe
