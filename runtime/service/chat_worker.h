// A chat served from a thread of its own: the thread owns the Vulkan compute Context, the Model,
// the tokenizer and the Generator, and runs `vkmoe chat`'s turn loop on requests from a front
// end (the chat window, a test); text, routing snapshots and status come back as events through
// a mutex-protected queue, so the caller's thread never touches the model while the worker runs.
// No window or terminal code here.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/model/generator.h"
#include "runtime/model/model.h"
#include "runtime/service/args.h"
#include "runtime/service/model_loader.h"

namespace vkmoe {

struct ModelInfo {
  std::string path, arch, device, chat_format;
  uint32_t layers = 0, experts = 0, experts_per_token = 0, n_ctx = 0;
};

// What the worker loads and how it chats, checked before the thread starts.
struct ChatWorkerOptions {
  ModelRequest model;
  SamplerConfig sampling;
  std::string chat_template;  // a --chat-template name; empty: the file's template
  std::string system;         // an optional system message
  int n_predict = -1;         // tokens per reply at most (-n); -1: until the end of the turn
};
// -m, --device, -c, --seed, --temp, ..., --system/-sys, -n, --chat-template; every value checked.
ChatWorkerOptions chat_worker_options_from_args(const Args& args);

struct ChatEvent {
  enum class Kind {
    loaded,      // info is set
    text,        // text: a piece of the reply
    reasoning,   // text: a piece of the model's reasoning (gpt-oss's analysis channel)
    routing,     // text: the token the routing belongs to; routing is set
    reply_done,  // the reply is complete (text: why it stopped, when not at the end of a turn)
    reset_done,  // the conversation and the expert counts start over
    error,       // text: what went wrong; the worker keeps serving requests when it can
  };
  // Each send() ends with one reply_done, after its text, reasoning, routing and error events; each reset()
  // with one reset_done. A model that fails to load gives one error and no loaded.
  Kind kind = Kind::text;
  std::string text;
  RoutingSnapshot routing;
  ModelInfo info;
  GenerationStats stats;  // with routing and reply_done
  uint32_t position = 0;  // context used, with routing and reply_done
};

class ChatWorker {
 public:
  // Starts the thread, which loads the model, then serves requests.
  explicit ChatWorker(ChatWorkerOptions options);
  ~ChatWorker() { stop(); }
  ChatWorker(const ChatWorker&) = delete;
  ChatWorker& operator=(const ChatWorker&) = delete;

  void send(std::string message);
  void reset();
  // Events since the last call, oldest first.
  std::vector<ChatEvent> poll();
  // Stops generation after the current token and joins the thread; validation_errors() is
  // known from then on.
  void stop();
  // Validation errors of the model's Vulkan instance (VKMOE_VALIDATE=1).
  uint32_t validation_errors() const { return validation_errors_.load(); }

 private:
  struct Request {
    bool reset = false;
    std::string message;
  };
  void run();
  void serve(const LoadedModel& lm, ChatFormat format);
  void post(ChatEvent event);

  ChatWorkerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> requests_;
  std::vector<ChatEvent> events_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> validation_errors_{0};
  std::thread thread_;  // last: starts after every member it uses exists
};

}  // namespace vkmoe
