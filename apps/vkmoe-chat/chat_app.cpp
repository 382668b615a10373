#include "apps/vkmoe-chat/chat_app.h"

#include <imgui.h>

#include <cstdio>

namespace vkmoe {

void ChatApp::send(const std::string& message) {
  chat_.add("user", message);
  worker_.send(message);
  replying_ = true;
}

void ChatApp::reset() {
  // The chat clears now, before a message sent next; the worker's reset_done clears the rest.
  chat_.clear();
  chat_.add("note", "Conversation reset.");
  worker_.reset();
}

void ChatApp::apply_events() {
  for (ChatEvent& e : worker_.poll()) {
    switch (e.kind) {
      case ChatEvent::Kind::loaded: {
        info_ = e.info;
        loaded_ = true;
        char note[512];
        std::snprintf(note, sizeof note,
                      "Loaded %s: %s, %u layers, %u experts (%u per token), %s chat format.",
                      info_.path.c_str(), info_.arch.c_str(), info_.layers, info_.experts,
                      info_.experts_per_token, info_.chat_format.c_str());
        chat_.add("note", note);
        break;
      }
      case ChatEvent::Kind::text:
        chat_.append_reply(e.text);
        break;
      case ChatEvent::Kind::reasoning:
        chat_.append_reasoning(e.text);
        break;
      case ChatEvent::Kind::routing:
        experts_.push(std::move(e.text), std::move(e.routing));
        stats_ = e.stats;
        position_ = e.position;
        break;
      case ChatEvent::Kind::reply_done:
        if (!e.text.empty()) chat_.add("note", "(" + e.text + ")");
        stats_ = e.stats;
        position_ = e.position;
        replying_ = false;
        break;
      case ChatEvent::Kind::reset_done:
        // Ordered after the last reply's events and before the next one's.
        experts_.clear();
        stats_ = {};
        position_ = 0;
        break;
      case ChatEvent::Kind::error:
        chat_.add("error", e.text);
        ++errors_;
        // A model that did not load answers nothing more.
        if (!loaded_) {
          failed_ = true;
          replying_ = false;
        }
        break;
    }
  }
}

void ChatApp::frame() {
  apply_events();
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(vp->WorkPos);
  ImGui::SetNextWindowSize(vp->WorkSize);
  ImGui::Begin("vkmoe-chat", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus);
  const float status_h = ImGui::GetFrameHeightWithSpacing() + ImGui::GetStyle().ItemSpacing.y;
  const float chat_w = ImGui::GetContentRegionAvail().x * 0.52f;

  ImGui::BeginChild("chat", ImVec2(chat_w, -status_h), true);
  ImGui::TextUnformatted("Chat");
  ImGui::Separator();
  std::string message;
  switch (chat_.draw(loaded_ && !replying_, &message)) {
    case ChatPanel::Action::send:
      send(message);
      break;
    case ChatPanel::Action::reset:
      reset();
      break;
    case ChatPanel::Action::none:
      break;
  }
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("experts", ImVec2(0, -status_h), true);
  experts_.draw();
  ImGui::EndChild();

  draw_status();
  ImGui::End();
}

void ChatApp::draw_status() {
  ImGui::Separator();
  if (failed_)
    ImGui::TextColored(ImVec4(1.0f, 0.4f, 0.4f, 1.0f), "model failed to load");
  else if (!loaded_)
    ImGui::TextColored(ImVec4(1.0f, 0.85f, 0.4f, 1.0f), "loading model...");
  else if (replying_)
    ImGui::TextColored(ImVec4(0.55f, 0.9f, 0.55f, 1.0f), "generating");
  else
    ImGui::TextDisabled("ready");
  if (!loaded_) return;
  ImGui::SameLine();
  ImGui::Text("|  %.1f tokens/s  |  context %u / %u  |  model on %s  |  drawn on %s  |  %.0f fps",
              stats_.decode_tps(), position_, info_.n_ctx, info_.device.c_str(),
              render_device_.c_str(), ImGui::GetIO().Framerate);
}

}  // namespace vkmoe
