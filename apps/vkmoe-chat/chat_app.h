// The window's contents: the chat panel beside the expert panel, and a status line. Applies the
// worker's events each frame and turns the user's actions into worker requests.
#pragma once
#include <string>

#include "apps/vkmoe-chat/chat_panel.h"
#include "runtime/service/chat_worker.h"
#include "apps/vkmoe-chat/expert_panel.h"

namespace vkmoe {

class ChatApp {
 public:
  ChatApp(ChatWorker& worker, std::string render_device)
      : worker_(worker), render_device_(std::move(render_device)) {}

  // Takes the worker's news, then draws the whole window for one frame.
  void frame();
  // Sends a message as if typed (the headless mode's prompt).
  void send(const std::string& message);
  // Starts the conversation over, as the Reset button does.
  void reset();

  bool loaded() const { return loaded_; }
  bool replying() const { return replying_; }
  bool failed() const { return failed_; }  // the model did not load
  uint32_t errors() const { return errors_; }

 private:
  void apply_events();
  void draw_status();

  ChatWorker& worker_;
  std::string render_device_;
  ChatPanel chat_;
  ExpertPanel experts_;
  ModelInfo info_;
  GenerationStats stats_;
  uint32_t position_ = 0, errors_ = 0;
  bool loaded_ = false, failed_ = false, replying_ = false;
};

}  // namespace vkmoe
