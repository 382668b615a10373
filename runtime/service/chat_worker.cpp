#include "runtime/service/chat_worker.h"

#include <cstdio>
#include <optional>

#include "runtime/model/chat_session.h"

namespace vkmoe {

namespace {
// Thrown from the generation callbacks to unwind a reply when the window closes.
struct Stopped {};
}  // namespace

ChatWorkerOptions chat_worker_options_from_args(const Args& args) {
  ChatWorkerOptions o;
  o.model = model_request_from_args(args, args.has("--quiet"));
  o.sampling = sampler_from_args(args);
  o.chat_template = args.get("--chat-template");
  if (args.has("--chat-template")) parse_chat_format(o.chat_template);
  o.system = args.get(args.flag_of({"--system", "-sys"}));
  o.n_predict = static_cast<int>(args.get_int("-n", -1, -1, INT32_MAX));
  return o;
}

ChatWorker::ChatWorker(ChatWorkerOptions options) : options_(std::move(options)), thread_([this] { run(); }) {}

void ChatWorker::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ChatWorker::send(std::string message) {
  {
    std::lock_guard lock(mutex_);
    requests_.push_back({false, std::move(message)});
  }
  wake_.notify_one();
}

void ChatWorker::reset() {
  {
    std::lock_guard lock(mutex_);
    requests_.push_back({true, {}});
  }
  wake_.notify_one();
}

std::vector<ChatEvent> ChatWorker::poll() {
  std::vector<ChatEvent> out;
  std::lock_guard lock(mutex_);
  out.swap(events_);
  return out;
}

void ChatWorker::post(ChatEvent event) {
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
}

void ChatWorker::run() {
  std::optional<LoadedModel> lm;
  try {
    lm = load_model(options_.model);
    const ChatFormat format = chat_format_for(*lm, options_.chat_template, /*required=*/true);
    const ModelConfig& cfg = lm->model->config();
    ChatEvent loaded{.kind = ChatEvent::Kind::loaded};
    loaded.info = {.path = lm->path,
                   .arch = arch_name(cfg.arch),
                   .device = lm->ctx->device().caps().name,
                   .chat_format = std::string(chat_format_name(format)),
                   .layers = cfg.n_layer,
                   .experts = cfg.n_expert,
                   .experts_per_token = cfg.n_expert_used,
                   .n_ctx = lm->model->n_ctx()};
    post(std::move(loaded));
    serve(*lm, format);
  } catch (const Stopped&) {
    // Stopped during a reply.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat worker: %s\n", e.what());
    post({.kind = ChatEvent::Kind::error, .text = e.what()});
  }
  if (lm && lm->ctx) validation_errors_ = lm->ctx->instance().validation_errors();
}

// The turn loop: one request at a time until stop().
void ChatWorker::serve(const LoadedModel& lm, ChatFormat format) {
  Model& model = *lm.model;
  const Tokenizer& tok = *lm.tokenizer;
  Generator gen(model, tok, options_.sampling);
  ChatSession chat(gen, tok, format, options_.system);
  const int n_predict = options_.n_predict;
  for (;;) {
    Request req;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !requests_.empty(); });
      if (stop_) return;
      req = std::move(requests_.front());
      requests_.pop_front();
    }
    if (req.reset) {
      chat.reset();
      model.reset_stats();
      post({.kind = ChatEvent::Kind::reset_done});
      continue;
    }
    ChatEvent done{.kind = ChatEvent::Kind::reply_done};
    try {
      if (req.message.empty()) throw std::invalid_argument("the message is empty");
      auto text_event = [&](ChatEvent::Kind kind) {
        return [this, kind](const std::string& t) {
          if (stop_) throw Stopped{};
          post({.kind = kind, .text = t});
        };
      };
      // Called once the token has run through the model: routing() now describes it.
      auto on_token = [&](int32_t id) {
        if (stop_) throw Stopped{};
        post({.kind = ChatEvent::Kind::routing,
              .text = tok.token_piece(id),
              .routing = model.routing(),
              .stats = gen.stats(),
              .position = gen.position()});
      };
      auto reason = chat.turn(req.message, n_predict,
                              {text_event(ChatEvent::Kind::text), text_event(ChatEvent::Kind::reasoning), on_token});
      if (reason == StopReason::context_full)
        done.text = "context full (-c " + std::to_string(model.n_ctx()) + "): reset to start over";
      else if (reason == StopReason::max_tokens)
        done.text = "stopped after -n " + std::to_string(n_predict) + " tokens";
    } catch (const std::exception& e) {
      post({.kind = ChatEvent::Kind::error, .text = e.what()});
    }
    done.stats = gen.stats();
    done.position = gen.position();
    post(std::move(done));
  }
}

}  // namespace vkmoe
