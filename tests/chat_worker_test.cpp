// The chat service without a window: a ChatWorker on the built-in demo model, driven through its
// request and event queues as the chat window drives it. Every wait is bounded.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "runtime/service/chat_worker.h"

using namespace vkmoe;
using Kind = ChatEvent::Kind;

namespace {

// Events until one of kind `last` arrives (included), or a bounded time passes.
std::vector<ChatEvent> events_until(ChatWorker& w, Kind last) {
  std::vector<ChatEvent> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& e : w.poll()) {
      out.push_back(std::move(e));
      if (out.back().kind == last) return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("no event of kind " << int(last) << " within 5 minutes (" << out.size() << " events)");
  return out;
}

ChatWorkerOptions demo_options(int n_predict) {
  ChatWorkerOptions o;
  o.model.quiet = true;
  o.model.options.progress = false;
  o.model.options.n_ctx = 96;
  o.sampling.seed = 5;
  o.n_predict = n_predict;
  return o;
}

}  // namespace

TEST_CASE("chat worker: loaded, a turn's text and routing, reply_done, reset, errors for bad requests") {
  ChatWorker w(demo_options(6));
  auto load = events_until(w, Kind::loaded);
  REQUIRE(load.size() == 1);
  CHECK(load[0].info.arch == "qwen3moe");
  CHECK(load[0].info.n_ctx == 96);
  CHECK(load[0].info.experts > 0);
  CHECK(!load[0].info.chat_format.empty());

  w.send("Hello");
  auto turn = events_until(w, Kind::reply_done);
  REQUIRE(turn.size() >= 2);
  uint32_t routings = 0;
  std::string text;
  for (size_t i = 0; i + 1 < turn.size(); ++i) {
    const ChatEvent& e = turn[i];
    CHECK_MESSAGE((e.kind == Kind::text || e.kind == Kind::routing), "event " << i << " is of kind " << int(e.kind));
    if (e.kind == Kind::text) text += e.text;
    if (e.kind != Kind::routing) continue;
    ++routings;
    CHECK(e.routing.layers == load[0].info.layers);
    CHECK(e.routing.ids.size() == size_t(e.routing.layers) * e.routing.k);
    CHECK(e.position > 0);
  }
  CHECK(routings >= 1);
  CHECK(routings <= 6);  // -n 6
  const ChatEvent& done = turn.back();
  CHECK(done.stats.generated_tokens == routings);
  CHECK(done.stats.prompt_tokens > 0);
  CHECK(done.position == done.stats.prompt_tokens + done.stats.generated_tokens);

  w.reset();
  auto reset = events_until(w, Kind::reset_done);
  CHECK(reset.size() == 1);

  // Bad requests: each gives an error, then its reply_done, and the worker goes on serving.
  w.send("");
  auto empty = events_until(w, Kind::reply_done);
  REQUIRE(empty.size() == 2);
  CHECK(empty[0].kind == Kind::error);
  CHECK(empty[0].text.find("empty") != std::string::npos);
  std::string long_message;
  for (int i = 0; i < 200; ++i) long_message += "cat ";
  w.send(long_message);
  auto too_long = events_until(w, Kind::reply_done);
  REQUIRE(too_long.size() == 2);
  CHECK(too_long[0].kind == Kind::error);
  CHECK_MESSAGE(too_long[0].text.find("-c 96") != std::string::npos, too_long[0].text);

  // After the errors, the conversation goes on.
  w.send("Hello");
  auto again = events_until(w, Kind::reply_done);
  CHECK(again.back().stats.generated_tokens >= 1);
  w.stop();
  CHECK(w.validation_errors() == 0);
}

TEST_CASE("chat worker: a model that does not load gives one error and no loaded event") {
  ChatWorkerOptions o = demo_options(4);
  o.model.path = "/nonexistent/model.gguf";
  ChatWorker w(o);
  auto events = events_until(w, Kind::error);
  REQUIRE(events.size() == 1);
  CHECK(events[0].text.find("/nonexistent/model.gguf") != std::string::npos);
  w.send("Hello");  // nobody serves it; stop() still returns
  w.stop();
  for (const auto& e : w.poll()) CHECK(e.kind != Kind::loaded);
}

TEST_CASE("chat worker: options from a command line are checked before the thread starts") {
  std::set<std::string> values = model_value_flags();
  for (const auto& s : sampler_value_flags()) values.insert(s);
  for (const auto& s : chat_value_flags()) values.insert(s);
  auto parse = [&](std::vector<std::string> argv) {
    return chat_worker_options_from_args(Args(argv, values, model_bool_flags()));
  };
  auto o = parse({"-sys", "be brief", "-n", "12", "--temp", "0", "-c", "128", "--chat-template", "chatml"});
  CHECK(o.system == "be brief");
  CHECK(o.n_predict == 12);
  CHECK(o.sampling.temperature == 0);
  CHECK(o.model.options.n_ctx == 128);
  CHECK(o.chat_template == "chatml");
  CHECK_THROWS_WITH_AS(parse({"--chat-template", "nope"}), doctest::Contains("nope"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse({"-n", "x"}), doctest::Contains("-n"), std::invalid_argument);
  CHECK_THROWS_AS(parse({"--system", "a", "-sys", "b"}), std::invalid_argument);
  CHECK_THROWS_AS(parse({"--temp", "nan"}), std::invalid_argument);
}
