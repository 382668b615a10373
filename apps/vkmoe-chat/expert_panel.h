// The expert panel: a layers x experts grid for one generated token (the latest, or one picked
// from the list of recent tokens). Each cell is lit by the router's weight for that expert (dark
// where it was not chosen), or, with the toggle, a heat map of how many tokens each expert has
// taken since the conversation started.
#pragma once
#include <deque>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace vkmoe {

class ExpertPanel {
 public:
  // The routing of one token that has just run through the model, and its text.
  void push(std::string token, RoutingSnapshot routing);
  void clear();
  void draw();

 private:
  struct TokenRouting {
    std::string text;
    std::vector<uint32_t> ids;  // [layers, k]
    std::vector<float> weights;
  };
  void draw_grid(const TokenRouting& t, float cell, float label_w);
  void draw_legend();
  void draw_recent();

  uint32_t layers_ = 0, experts_ = 0, k_ = 0;
  std::deque<TokenRouting> tokens_;  // the most recent kMaxTokens, oldest first
  size_t first_token_ = 0;           // number of the token at tokens_.front()
  std::vector<uint32_t> counts_;     // [layers, experts] after the latest token
  uint32_t max_count_ = 0;
  int selected_ = -1;  // index into tokens_; -1 follows the latest
  bool show_counts_ = false;
};

}  // namespace vkmoe
