// The model side of the chat window. One thread owns the Vulkan compute Context, the Model, the
// tokenizer and the Generator, and runs `vkmoe chat`'s turn loop on requests from the UI; text,
// routing snapshots and status come back as events through a mutex-protected queue, so the UI
// thread never touches the model while the worker runs.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apps/vkmoe/args.h"
#include "runtime/model/generator.h"
#include "runtime/model/model.h"

namespace vkmoe {

struct ModelInfo {
  std::string path, arch, device, chat_format;
  uint32_t layers = 0, experts = 0, experts_per_token = 0, n_ctx = 0;
};

struct ChatEvent {
  enum class Kind {
    loaded,      // info is set
    text,        // text: a piece of the reply
    routing,     // text: the token the routing belongs to; routing is set
    reply_done,  // the reply is complete (text: why it stopped, when not at the end of a turn)
    reset_done,  // the conversation and the expert counts start over
    error,       // text: what went wrong; the worker keeps serving requests when it can
  };
  Kind kind = Kind::text;
  std::string text;
  RoutingSnapshot routing;
  ModelInfo info;
  GenerationStats stats;  // with routing and reply_done
  uint32_t position = 0;  // context used, with routing and reply_done
};

class ChatWorker {
 public:
  // Starts the thread, which loads the model from args (-m, --device, -c, --seed, --temp, ...;
  // --system and -n as in `vkmoe chat`).
  explicit ChatWorker(Args args);
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
  void post(ChatEvent event);

  Args args_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> requests_;
  std::vector<ChatEvent> events_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> validation_errors_{0};
  std::thread thread_;  // last: starts after every member it uses exists
};

}  // namespace vkmoe
