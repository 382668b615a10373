#include "apps/vkmoe-chat/expert_panel.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace vkmoe {

namespace {

ImU32 lerp_color(ImVec4 a, ImVec4 b, float t) {
  return ImGui::ColorConvertFloat4ToU32(
      ImVec4(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t, a.z + (b.z - a.z) * t, 1.0f));
}

// Weights: from the empty cell's grey-blue to a bright cyan.
ImU32 weight_color(float t) {
  if (t <= 0) return IM_COL32(32, 36, 48, 255);
  return lerp_color(ImVec4(0.10f, 0.25f, 0.40f, 1), ImVec4(0.45f, 0.95f, 1.0f, 1),
                    std::clamp(t, 0.0f, 1.0f));
}

// Counts: black, red, orange, pale yellow, so both rare and busy experts stand out.
ImU32 heat_color(float t) {
  static const ImVec4 stops[] = {{0.06f, 0.06f, 0.10f, 1},
                                 {0.60f, 0.10f, 0.15f, 1},
                                 {0.95f, 0.55f, 0.10f, 1},
                                 {1.0f, 0.95f, 0.60f, 1}};
  t = std::clamp(t, 0.0f, 1.0f) * 3;
  const int i = std::min(2, static_cast<int>(t));
  return lerp_color(stops[i], stops[i + 1], t - i);
}

// Bytes in a well-formed UTF-8 sequence starting at s[i], or 0.
size_t utf8_length(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xE  ? 3
                   : (c >> 3) == 0x1E ? 4
                                      : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t j = 1; j < n; ++j)
    if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return 0;
  return n;
}

// A token's text on one line: control characters as escapes, and the stray bytes of a byte-level
// token (part of a character) as \xNN, which ImGui would otherwise merge with what follows.
std::string printable(const std::string& s) {
  std::string out;
  char hex[8];
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_length(s, i);
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (n > 0 && c >= 0x20)
      out.append(s, i, n);
    else {
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
    i += n > 0 ? n : 1;
  }
  return out;
}

// Label every step-th row or column, with step a power of two wide enough for its text.
uint32_t label_step(float cell, float text) {
  uint32_t step = 1;
  while (step * cell < text && step < 1024) step *= 2;
  return step;
}

constexpr size_t kMaxTokens = 4096;

}  // namespace

void ExpertPanel::push(std::string token, RoutingSnapshot routing) {
  layers_ = routing.layers;
  experts_ = routing.experts;
  k_ = routing.k;
  tokens_.push_back({std::move(token), std::move(routing.ids), std::move(routing.weights)});
  if (tokens_.size() > kMaxTokens) {
    tokens_.pop_front();
    ++first_token_;
    if (selected_ > 0) --selected_;
  }
  counts_ = std::move(routing.counts);
  max_count_ = counts_.empty() ? 0 : *std::max_element(counts_.begin(), counts_.end());
}

void ExpertPanel::clear() {
  const bool counts = show_counts_;
  *this = ExpertPanel{};
  show_counts_ = counts;
}

void ExpertPanel::draw() {
  ImGui::TextUnformatted("Experts");
  ImGui::SameLine();
  ImGui::SetCursorPosX(ImGui::GetCursorPosX() + ImGui::GetStyle().ItemSpacing.x * 2);
  if (ImGui::RadioButton("routing weight", !show_counts_)) show_counts_ = false;
  ImGui::SameLine();
  if (ImGui::RadioButton("token counts", show_counts_)) show_counts_ = true;
  ImGui::Separator();
  if (tokens_.empty() || layers_ == 0 || experts_ == 0) {
    ImGui::TextDisabled("The grid fills in as the model writes: send a message.");
    return;
  }
  const size_t index = selected_ < 0 ? tokens_.size() - 1 : static_cast<size_t>(selected_);
  const TokenRouting& shown = tokens_[index];
  ImGui::Text("Token %zu:", first_token_ + index + 1);
  ImGui::SameLine();
  ImGui::TextColored(ImVec4(1.0f, 0.85f, 0.4f, 1.0f), "\"%s\"", printable(shown.text).c_str());
  if (selected_ >= 0) {
    ImGui::SameLine();
    if (ImGui::SmallButton("follow the latest")) selected_ = -1;
  }
  ImGui::TextDisabled("%u layers x %u experts, %u chosen per layer", layers_, experts_, k_);

  // Square cells as large as the panel allows, so a 2 x 8 demo and a 48 x 128 model both fit,
  // leaving room for the legend and a few recent tokens.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float line = ImGui::GetTextLineHeightWithSpacing();
  const float label_w = ImGui::CalcTextSize("L000 ").x;
  const float reserved = line * 3.5f + line * 8;
  float cell = std::min((avail.x - label_w) / experts_, (avail.y - line - reserved) / layers_);
  cell = std::clamp(std::floor(cell), 3.0f, 56.0f);
  draw_grid(shown, cell, label_w);
  draw_legend();
  draw_recent();
}

void ExpertPanel::draw_grid(const TokenRouting& t, float cell, float label_w) {
  const uint32_t L = layers_, E = experts_, K = k_;
  // The token's weight per cell, 0 where the expert was not chosen.
  std::vector<float> dense(static_cast<size_t>(L) * E, 0.0f);
  for (uint32_t i = 0; i < t.ids.size(); ++i)
    if (t.ids[i] < E) dense[(i / K) * E + t.ids[i]] = t.weights[i];

  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const float line = ImGui::GetTextLineHeight();
  const ImVec2 grid(origin.x + label_w, origin.y + line + 2);
  const ImU32 label_color = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  char buf[32];

  // Column labels: expert ids; row labels: layers.
  const uint32_t col_step = label_step(cell, ImGui::CalcTextSize("000").x + 4);
  for (uint32_t e = 0; e < E; e += col_step) {
    std::snprintf(buf, sizeof buf, "%u", e);
    const float w = ImGui::CalcTextSize(buf).x;
    dl->AddText(ImVec2(grid.x + e * cell + (cell - w) * 0.5f, origin.y), label_color, buf);
  }
  const uint32_t row_step = label_step(cell, line);
  for (uint32_t l = 0; l < L; l += row_step) {
    std::snprintf(buf, sizeof buf, "L%u", l);
    dl->AddText(ImVec2(origin.x, grid.y + l * cell + (cell - line) * 0.5f), label_color, buf);
  }

  // Cells; a gap between them only where they are big enough to spare one.
  const float gap = cell >= 8 ? 1.0f : 0.0f;
  const bool numbers = cell >= ImGui::CalcTextSize("0.00").x + 6;
  for (uint32_t l = 0; l < L; ++l) {
    // Weights relative to the layer's largest, so k = 8 of 128 is as visible as k = 2 of 8.
    float top = 0;
    for (uint32_t e = 0; e < E; ++e) top = std::max(top, dense[l * E + e]);
    for (uint32_t e = 0; e < E; ++e) {
      const float w = dense[l * E + e];
      const uint32_t count = counts_.empty() ? 0 : counts_[l * E + e];
      const ImU32 color = show_counts_
                              ? heat_color(max_count_ ? float(count) / max_count_ : 0.0f)
                              : weight_color(w > 0 && top > 0 ? 0.25f + 0.75f * w / top : 0.0f);
      const ImVec2 a(grid.x + e * cell, grid.y + l * cell), b(a.x + cell - gap, a.y + cell - gap);
      dl->AddRectFilled(a, b, color);
      // The token's experts keep an outline in the count view too.
      if (show_counts_ && w > 0 && cell >= 6)
        dl->AddRect(a, b, IM_COL32(90, 230, 255, 255), 0.0f, 0, 2.0f);
      if (numbers && (show_counts_ || w > 0)) {
        if (show_counts_)
          std::snprintf(buf, sizeof buf, "%u", count);
        else
          std::snprintf(buf, sizeof buf, "%.2f", w);
        const ImVec2 size = ImGui::CalcTextSize(buf);
        const ImU32 ink = show_counts_ && max_count_ && count * 2 < max_count_
                              ? IM_COL32(230, 230, 230, 255)
                              : IM_COL32(10, 10, 14, 255);
        dl->AddText(ImVec2(a.x + (cell - gap - size.x) * 0.5f, a.y + (cell - gap - size.y) * 0.5f),
                    ink, buf);
      }
    }
  }

  // The grid is one item, so hovering it can name the cell under the mouse.
  ImGui::InvisibleButton("grid", ImVec2(label_w + cell * E, line + 2 + cell * L));
  if (ImGui::IsItemHovered()) {
    const ImVec2 m = ImGui::GetIO().MousePos;
    const int e = static_cast<int>((m.x - grid.x) / cell),
              l = static_cast<int>((m.y - grid.y) / cell);
    if (m.x >= grid.x && m.y >= grid.y && e < static_cast<int>(E) && l < static_cast<int>(L)) {
      const float w = dense[l * E + e];
      ImGui::BeginTooltip();
      ImGui::Text("layer %d, expert %d", l, e);
      if (w > 0)
        ImGui::Text("weight %.3f for this token", w);
      else
        ImGui::TextDisabled("not chosen for this token");
      if (!counts_.empty()) ImGui::Text("%u tokens so far", counts_[l * E + e]);
      ImGui::EndTooltip();
    }
  }
}

void ExpertPanel::draw_legend() {
  ImGui::Spacing();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const float bar_w = 120.0f, bar_h = ImGui::GetTextLineHeight() * 0.7f;
  const int steps = 32;
  for (int i = 0; i < steps; ++i) {
    const float t = (i + 0.5f) / steps;
    dl->AddRectFilled(ImVec2(p.x + bar_w * i / steps, p.y + bar_h * 0.3f),
                      ImVec2(p.x + bar_w * (i + 1) / steps + 1, p.y + bar_h * 1.3f),
                      show_counts_ ? heat_color(t) : weight_color(0.25f + 0.75f * t));
  }
  ImGui::Dummy(ImVec2(bar_w, bar_h * 1.3f));
  ImGui::SameLine();
  ImGui::PushTextWrapPos(0.0f);
  if (show_counts_)
    ImGui::TextDisabled("tokens routed to each expert, 0 to %u; outlined: this token's",
                        max_count_);
  else
    ImGui::TextDisabled("router weight, relative to the layer's largest; dark: not chosen");
  ImGui::PopTextWrapPos();
}

// The recent tokens with the experts each chose per layer; clicking one shows it in the grid.
void ExpertPanel::draw_recent() {
  ImGui::Spacing();
  const ImGuiTableFlags flags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg |
                                ImGuiTableFlags_BordersOuter | ImGuiTableFlags_SizingFixedFit;
  if (!ImGui::BeginTable("recent", 3, flags)) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("#");
  ImGui::TableSetupColumn("token", ImGuiTableColumnFlags_WidthFixed,
                          ImGui::CalcTextSize("\"experiments\"").x);
  ImGui::TableSetupColumn("experts chosen, per layer", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(tokens_.size()));
  std::string experts;
  char number[32];
  while (clipper.Step()) {
    for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
      const TokenRouting& t = tokens_[i];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      std::snprintf(number, sizeof number, "%zu##row", first_token_ + i + 1);
      ImGui::PushID(i);
      if (ImGui::Selectable(number, selected_ == i, ImGuiSelectableFlags_SpanAllColumns))
        selected_ = selected_ == i ? -1 : i;
      ImGui::PopID();
      ImGui::TableNextColumn();
      ImGui::TextColored(ImVec4(1.0f, 0.85f, 0.4f, 1.0f), "\"%s\"", printable(t.text).c_str());
      ImGui::TableNextColumn();
      experts.clear();
      for (uint32_t l = 0; l < layers_ && (l + 1) * k_ <= t.ids.size(); ++l) {
        experts += (l ? "   L" : "L") + std::to_string(l) + ":";
        for (uint32_t j = 0; j < k_; ++j) experts += " " + std::to_string(t.ids[l * k_ + j]);
      }
      ImGui::TextUnformatted(experts.c_str());
    }
  }
  if (selected_ < 0 && ImGui::GetScrollY() >= ImGui::GetScrollMaxY()) ImGui::SetScrollHereY(1.0f);
  ImGui::EndTable();
}

}  // namespace vkmoe
