#include "apps/vkmoe-chat/chat_worker.h"

#include <cstdio>
#include <optional>

#include "apps/vkmoe/model_args.h"
#include "runtime/model/chat_session.h"

namespace vkmoe {

namespace {
// Thrown from the generation callbacks to unwind a reply when the window closes.
struct Stopped {};
}  // namespace

ChatWorker::ChatWorker(Args args) : args_(std::move(args)), thread_([this] { run(); }) {}

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
    lm = load_model_from_args(args_, args_.has("--quiet"));
    const auto& tok = *lm->tokenizer;
    Model& model = *lm->model;
    const ModelConfig& cfg = model.config();
    const ChatFormat format = args_.has("--chat-template") ? parse_chat_format(args_.get("--chat-template"))
                                                           : detect_chat_format(tok.vocab().chat_template, cfg.arch_key);
    if (format == ChatFormat::Unknown)
      throw std::invalid_argument(lm->path + ": its chat template is not one vkmoe knows; choose one with --chat-template " +
                                  std::string(chat_format_names()));
    ChatEvent loaded{.kind = ChatEvent::Kind::loaded};
    loaded.info = {.path = lm->path,
                   .arch = arch_name(cfg.arch),
                   .device = lm->ctx->device().caps().name,
                   .chat_format = std::string(chat_format_name(format)),
                   .layers = cfg.n_layer,
                   .experts = cfg.n_expert,
                   .experts_per_token = cfg.n_expert_used,
                   .n_ctx = model.n_ctx()};
    post(std::move(loaded));

    Generator gen(model, tok, sampler_from_args(args_));
    ChatSession chat(gen, tok, format, args_.get("--system", args_.get("-sys")));
    const int n_predict = static_cast<int>(args_.get_int("-n", -1, -1, INT32_MAX));
    for (;;) {
      Request req;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || !requests_.empty(); });
        if (stop_) break;
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
        auto on_text = [&](const std::string& t) {
          if (stop_) throw Stopped{};
          post({.kind = ChatEvent::Kind::text, .text = t});
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
        auto reason = chat.turn(req.message, n_predict, on_text, on_token);
        if (reason == StopReason::context_full)
          done.text =
              "context full (-c " + std::to_string(model.n_ctx()) + "): reset to start over";
        else if (reason == StopReason::max_tokens)
          done.text = "stopped after -n " + std::to_string(n_predict) + " tokens";
      } catch (const std::exception& e) {
        post({.kind = ChatEvent::Kind::error, .text = e.what()});
      }
      done.stats = gen.stats();
      done.position = gen.position();
      post(std::move(done));
    }
  } catch (const Stopped&) {
    // The window closed during a reply.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vkmoe-chat: %s\n", e.what());
    post({.kind = ChatEvent::Kind::error, .text = e.what()});
  }
  if (lm && lm->ctx) validation_errors_ = lm->ctx->instance().validation_errors();
}

}  // namespace vkmoe
