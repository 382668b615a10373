#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "runtime/sampling/sampler.h"

using namespace vkmoe;

TEST_CASE("greedy picks the highest logit, ties to the lower id, never NaN") {
  Sampler s({.temperature = 0});
  std::vector<float> l = {0.1f, 2.0f, NAN, 2.0f, -1.0f};
  CHECK(s.sample(l) == 1);
  CHECK(argmax(l) == 1);
}

TEST_CASE("a fixed seed reproduces the draws") {
  std::vector<float> l(100);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(static_cast<float>(i)) * 3;
  SamplerConfig c{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 42};
  Sampler a(c), b(c);
  std::vector<int32_t> x, y;
  for (int i = 0; i < 50; ++i) x.push_back(a.sample(l)), y.push_back(b.sample(l));
  CHECK(x == y);
  c.seed = 43;
  Sampler d(c);
  std::vector<int32_t> z;
  for (int i = 0; i < 50; ++i) z.push_back(d.sample(l));
  CHECK(z != x);
}

TEST_CASE("top-k, top-p and min-p restrict the candidates") {
  std::vector<float> l = {5.0f, 4.0f, 3.0f, 0.0f, -2.0f};
  std::map<int32_t, int> seen;
  Sampler k({.temperature = 5.0f, .top_k = 2, .top_p = 1.0f, .min_p = 0.0f, .seed = 7});
  for (int i = 0; i < 300; ++i) ++seen[k.sample(l)];
  CHECK(seen.size() == 2);
  CHECK(seen.count(0) == 1);
  CHECK(seen.count(1) == 1);

  // Probabilities at T=1: ~0.66, 0.24, 0.09, ...: top_p 0.8 keeps the first two.
  seen.clear();
  Sampler p({.temperature = 1.0f, .top_k = 0, .top_p = 0.8f, .min_p = 0.0f, .seed = 8});
  for (int i = 0; i < 300; ++i) ++seen[p.sample(l)];
  CHECK(seen.size() == 2);

  // min_p 0.3: keeps tokens with at least 0.3 x 0.66.
  seen.clear();
  Sampler m({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.3f, .seed = 9});
  for (int i = 0; i < 300; ++i) ++seen[m.sample(l)];
  CHECK(seen.size() == 2);
}

TEST_CASE("repetition and presence penalties push seen tokens down") {
  std::vector<float> l = {2.0f, 1.9f, 0.0f};
  Sampler s({.temperature = 0, .repeat_penalty = 1.5f});
  s.accept(0);
  CHECK(s.sample(l) == 1);  // 2.0 / 1.5 < 1.9
  Sampler q({.temperature = 0, .presence_penalty = 0.5f});
  q.accept(0);
  CHECK(q.sample(l) == 1);
  Sampler none({.temperature = 0});
  none.accept(0);
  CHECK(none.sample(l) == 0);
}
