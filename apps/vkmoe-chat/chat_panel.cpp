#include "apps/vkmoe-chat/chat_panel.h"

#include <imgui.h>

#include <cstring>

namespace vkmoe {

namespace {

struct RoleStyle {
  const char* label;
  ImVec4 color;
};

RoleStyle role_style(const std::string& role) {
  if (role == "user") return {"You", ImVec4(0.45f, 0.75f, 1.0f, 1.0f)};
  if (role == "assistant") return {"Model", ImVec4(0.55f, 0.9f, 0.55f, 1.0f)};
  if (role == "error") return {"Error", ImVec4(1.0f, 0.4f, 0.4f, 1.0f)};
  if (role == "reasoning") return {"Thinking", ImVec4(0.6f, 0.6f, 0.6f, 1.0f)};
  return {nullptr, ImVec4(0.6f, 0.6f, 0.6f, 1.0f)};
}

}  // namespace

void ChatPanel::add(std::string role, std::string text) {
  messages_.push_back({std::move(role), std::move(text)});
  scroll_to_bottom_ = true;
}

void ChatPanel::append_reply(const std::string& text) { append("assistant", text); }

void ChatPanel::append_reasoning(const std::string& text) { append("reasoning", text); }

void ChatPanel::append(const std::string& role, const std::string& text) {
  if (messages_.empty() || messages_.back().role != role) messages_.push_back({role, ""});
  messages_.back().content += text;
}

void ChatPanel::clear() {
  messages_.clear();
  scroll_to_bottom_ = true;
}

ChatPanel::Action ChatPanel::draw(bool can_send, std::string* message) {
  // The history fills what the input line leaves.
  const float footer = ImGui::GetStyle().ItemSpacing.y + ImGui::GetFrameHeightWithSpacing();
  ImGui::BeginChild("history", ImVec2(0, -footer), true);
  for (const auto& m : messages_) {
    const RoleStyle style = role_style(m.role);
    // Messages carry a coloured speaker line; notes and errors are coloured text alone.
    if (style.label)
      ImGui::TextColored(style.color, "%s", style.label);
    else
      ImGui::PushStyleColor(ImGuiCol_Text, style.color);
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(m.content.c_str(), m.content.c_str() + m.content.size());
    ImGui::PopTextWrapPos();
    if (!style.label) ImGui::PopStyleColor();
    ImGui::Spacing();
  }
  // Follow the stream while the view is at the bottom; leave it where the user scrolled to.
  if (scroll_to_bottom_ || ImGui::GetScrollY() >= ImGui::GetScrollMaxY())
    ImGui::SetScrollHereY(1.0f);
  scroll_to_bottom_ = false;
  ImGui::EndChild();

  Action action = Action::none;
  ImGui::BeginDisabled(!can_send);
  const float buttons = ImGui::CalcTextSize("Send").x + ImGui::CalcTextSize("Reset").x +
                        4 * ImGui::GetStyle().FramePadding.x + 2 * ImGui::GetStyle().ItemSpacing.x;
  ImGui::SetNextItemWidth(-buttons);
  if (focus_input_ && can_send) {
    ImGui::SetKeyboardFocusHere();
    focus_input_ = false;
  }
  const bool entered =
      ImGui::InputTextWithHint("##input", "Type a message; Enter sends", input_, sizeof input_,
                               ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  const bool send = ImGui::Button("Send") || entered;
  ImGui::SameLine();
  if (ImGui::Button("Reset") || (send && !std::strcmp(input_, "/reset"))) {
    action = Action::reset;
  } else if (send && input_[0]) {
    action = Action::send;
    *message = input_;
  }
  if (send || action != Action::none) {
    input_[0] = 0;
    focus_input_ = true;
  }
  ImGui::EndDisabled();
  return action;
}

}  // namespace vkmoe
