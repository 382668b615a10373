// `vkmoe serve` through plain HTTP: the real executable on a free loopback port with the
// built-in demo model, talked to with httplib's client. Every wait is bounded.
#include <doctest/doctest.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "runtime/server/connection.h"
#include "runtime/server/openai_json.h"
#include "runtime/server/request.h"
#include "tests/test_util.h"

extern char** environ;

using namespace vkmoe;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kKey = "test-key";

// The server process: --port 0, the port read back from its "listening on" line.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& args) {
    static int servers = 0;
    log_ = fs::temp_directory_path() /
           ("vkmoe_serve_" + std::to_string(getpid()) + "_" + std::to_string(servers++) + ".log");
    const std::string cache = (fs::temp_directory_path() / "vkmoe_serve_cache").string();
    const std::string cmd = "exec env VKMOE_CACHE_DIR=" + cache + " " VKMOE_EXE " serve --port 0 " + args + " > " +
                            log_.string() + " 2>&1";
    const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
    REQUIRE(posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
    // Loading and the first pipeline compiles take seconds on lavapipe.
    for (int i = 0; i < 1200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string text = log();
      if (auto at = text.find("listening on http://127.0.0.1:"); at != std::string::npos)
        port_ = std::atoi(text.c_str() + at + 30);
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) FAIL("the server exited: " << text);
    }
    REQUIRE_MESSAGE(port_ > 0, log());
  }
  ~ServerProcess() {
    kill(pid_, SIGTERM);
    bool ended = false;
    for (int i = 0; i < 100 && !ended; ++i) {
      ended = waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!ended) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove(log_, ec);
  }
  std::string log() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  int port() const { return port_; }
  httplib::Client client(bool with_key = true) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    if (with_key) c.set_bearer_token_auth(kKey);
    return c;
  }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
  fs::path log_;
};

ServerProcess& server() {
  static ServerProcess s("--api-key " + kKey + " --max-queue 1 -c 512 --max-body 65536");
  return s;
}

// The server with three slots (-np 3); the tests above run on the one-slot server().
ServerProcess& parallel_server() {
  static ServerProcess s("--api-key " + kKey + " -np 3 --max-queue 1 -c 256");
  return s;
}

httplib::Result post(const std::string& path, const std::string& body, ServerProcess& srv = server()) {
  return srv.client().Post(path.c_str(), body, "application/json");
}

std::string chat_body(const std::string& extra) {
  return R"({"messages":[{"role":"user","content":"Hello"}],"max_tokens":6,"seed":7)" + extra + "}";
}

// Streams a request, calling on_event with each "data:" payload; stops when it returns false.
httplib::Result stream(const std::string& path, const std::string& body, const std::function<bool(const std::string&)>& on_event,
                       ServerProcess& srv = server()) {
  auto cli = srv.client();
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.set_header("Authorization", "Bearer " + kKey);
  std::string buf;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    for (size_t end; (end = buf.find("\n\n")) != std::string::npos;) {
      const std::string event = buf.substr(0, end);
      buf.erase(0, end + 2);
      if (event.rfind("data: ", 0) == 0 && !on_event(event.substr(6))) return false;
    }
    return true;
  };
  return cli.send(req);
}

double metric(const std::string& name, ServerProcess& srv = server()) {
  auto r = srv.client().Get("/metrics");
  REQUIRE(r);
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  FAIL("no metric " << name);
  return 0;
}

void check_error(const httplib::Result& r, int status, const std::string& part = "") {
  REQUIRE(r);
  CHECK(r->status == status);
  auto j = json::parse(r->body);
  CHECK(j["error"]["message"].is_string());
  CHECK(j["error"]["type"].is_string());
  if (!part.empty()) CHECK_MESSAGE(r->body.find(part) != std::string::npos, r->body);
}

}  // namespace

TEST_CASE("serve: StopMatcher never sends a stop string, even split across pieces") {
  StopMatcher m({"END", "xy"});
  std::string out = m.push("abcE");
  out += m.push("N");
  CHECK(out == "abc");
  out += m.push("Dtail");
  CHECK(out == "abc");
  CHECK(m.stopped());
  StopMatcher n({"END"});
  CHECK(n.push("aE") == "a");
  CHECK(n.flush() == "E");
}

TEST_CASE("serve: requests are parsed and checked") {
  SamplerConfig d;
  auto r = parse_completion_request(R"({"prompt":"x","stop":"a","seed":3,"temperature":0,"max_tokens":5})", false, d, -1);
  CHECK(r.stop == std::vector<std::string>{"a"});
  CHECK(r.sampling.seed == 3);
  CHECK(r.max_tokens == 5);
  for (const char* bad : {R"({"prompt":"x","temperature":-1})", R"({"prompt":"x","top_p":2})", R"({"prompt":"x","max_tokens":0})",
                          R"({"prompt":"x","stop":[1]})", R"({"prompt":"x","presence_penalty":"1"})", R"([1])", "{",
                          R"({"prompt":"x","seed":1.5})", R"({"prompt":"x","stream":1})", R"({"prompt":"x","max_tokens":1e999})"})
    CHECK_THROWS_AS(parse_completion_request(bad, false, d, -1), ApiError);
  CHECK_THROWS_AS(parse_completion_request(R"({"messages":[{"role":"robot","content":"x"}]})", true, d, -1), ApiError);
  CHECK_THROWS_AS(parse_completion_request(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", true, d, -1), ApiError);
  auto parts = parse_completion_request(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})", true, d, -1);
  CHECK(parts.messages[0].content == "ab");
}

TEST_CASE("serve: health, models, and the API key") {
  auto h = server().client(false).Get("/health");
  REQUIRE(h);
  CHECK(h->status == 200);
  auto m = server().client().Get("/v1/models");
  REQUIRE(m);
  CHECK(json::parse(m->body)["data"][0]["id"] == "vkmoe-demo");
  check_error(server().client(false).Get("/v1/models"), 401);
  auto wrong = server().client(false);
  wrong.set_bearer_token_auth("nope");
  check_error(wrong.Post("/v1/completions", R"({"prompt":"x"})", "application/json"), 401);
}

TEST_CASE("serve: chat, not streamed and streamed, reproducible with a seed") {
  auto r = post("/v1/chat/completions", chat_body(""));
  REQUIRE(r);
  REQUIRE(r->status == 200);
  auto j = json::parse(r->body);
  CHECK(j["object"] == "chat.completion");
  CHECK(j["choices"][0]["message"]["role"] == "assistant");
  CHECK(j["usage"]["completion_tokens"].get<int>() <= 6);
  CHECK(j["usage"]["prompt_tokens"].get<int>() > 0);
  std::string text, finish;
  bool done = false;
  auto s = stream("/v1/chat/completions", chat_body(R"(,"stream":true)"), [&](const std::string& data) {
    if (data == "[DONE]") return done = true;
    auto c = json::parse(data);
    CHECK(c["object"] == "chat.completion.chunk");
    auto& delta = c["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
    return true;
  });
  REQUIRE(s);
  CHECK(done);
  CHECK(!finish.empty());
  CHECK(text == j["choices"][0]["message"]["content"].get<std::string>());
}

TEST_CASE("serve: completions, streamed and not, with a stop string") {
  auto r = post("/v1/completions", R"({"prompt":"A mixture","max_tokens":8,"temperature":0})");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  const std::string text = json::parse(r->body)["choices"][0]["text"];
  REQUIRE(text.size() > 2);
  const std::string stop = text.substr(2, 1);
  auto s = post("/v1/completions", R"({"prompt":"A mixture","max_tokens":8,"temperature":0,"stop":[")" + stop + "\"]}");
  REQUIRE(s);
  auto sj = json::parse(s->body);
  CHECK(sj["choices"][0]["finish_reason"] == "stop");
  CHECK(sj["choices"][0]["text"].get<std::string>() == text.substr(0, text.find(stop)));
  std::string streamed;
  stream("/v1/completions", R"({"prompt":"A mixture","max_tokens":8,"temperature":0,"stream":true})", [&](const std::string& d) {
    if (d != "[DONE]") streamed += json::parse(d)["choices"][0]["text"].get<std::string>();
    return true;
  });
  CHECK(streamed == text);
}

TEST_CASE("serve: bad input gets a 400 (or 413) with OpenAI's error JSON") {
  check_error(post("/v1/chat/completions", "{not json"), 400, "JSON");
  check_error(post("/v1/chat/completions", R"({"messages":"hi"})"), 400, "messages");
  check_error(post("/v1/completions", R"({"prompt":"x","temperature":1e999})"), 400);
  check_error(post("/v1/completions", R"({"prompt":"x","temperature":3})"), 400, "temperature");
  check_error(post("/v1/completions", R"({"prompt":"x","top_p":-0.5})"), 400, "top_p");
  check_error(post("/v1/completions", R"({"prompt":"x","max_tokens":"8"})"), 400, "max_tokens");
  check_error(post("/v1/completions", R"({"prompt":"x","stop":5})"), 400, "stop");
  std::string long_prompt;
  for (int i = 0; i < 600; ++i) long_prompt += "cat ";
  check_error(post("/v1/completions", R"({"prompt":")" + long_prompt + "\"}"), 400, "context of 512");
  check_error(post("/v1/completions", R"({"prompt":")" + std::string(70000, 'a') + "\"}"), 413);
  check_error(post("/v1/chat/completions", R"({"messages":[]})"), 400, "messages");
  check_error(post("/v1/completions", R"({"prompt":"x","seed":18446744073709551615})"), 400, "seed");
  check_error(post("/v1/completions", R"({"prompt":"x","n":2})"), 400);
  CHECK(server().client().Get("/health"));  // still up
}

TEST_CASE("serve: a client that disconnects mid-stream stops its generation") {
  const double before = metric("vkmoe_tokens_predicted_total");
  int chunks = 0;
  stream("/v1/completions", R"({"prompt":"A","max_tokens":400,"temperature":0,"stream":true})",
         [&](const std::string&) { return ++chunks < 3; });
  CHECK(chunks == 3);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = post("/v1/completions", R"({"prompt":"A","max_tokens":2})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
  CHECK(metric("vkmoe_tokens_predicted_total") - before < 100);  // not the 400 asked for
}

// A loopback TCP connection: the client's descriptor and the one accept() gave.
struct Loopback {
  int listener = -1, client = -1, server = -1;
  sockaddr_in addr{};
  Loopback() {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(listener, 1) == 0);
    REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    client = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    server = accept(listener, nullptr, nullptr);
    REQUIRE(server >= 0);
  }
  ~Loopback() {
    for (int fd : {listener, client, server})
      if (fd >= 0) close(fd);
  }
  int client_port() const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(client, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }
};

TEST_CASE("serve: a connection's socket is found by its ends, and its peer's close is seen") {
  Loopback c;
  const int port = ntohs(c.addr.sin_port);
  CHECK(find_connection("127.0.0.1", port, "127.0.0.1", c.client_port()) == c.server);
  CHECK(find_connection("127.0.0.1", port, "127.0.0.1", c.client_port() + 1) != c.server);
  CHECK(find_connection("127.0.0.2", port, "127.0.0.1", c.client_port()) == -1);
  CHECK(!peer_closed(c.server));
  CHECK(send(c.client, "GET", 3, 0) == 3);  // data waiting is not a close
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(!peer_closed(c.server));
  close(c.client);
  c.client = -1;
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    closed = peer_closed(c.server);
  }
  CHECK(!closed);  // the unread "GET" comes first: a read would still return data
  char buf[3];
  CHECK(recv(c.server, buf, 3, 0) == 3);
  CHECK(peer_closed(c.server));
  CHECK(!peer_closed(-1));
}

TEST_CASE("serve: reasoning goes to reasoning_content, streamed and not") {
  const ResponseInfo info{"chatcmpl-1", "m", 0, true};
  auto j = json::parse(completion_json(info, "Hi", "stop", {3, 4, 1}, "thinking"));
  CHECK(j["choices"][0]["message"]["content"] == "Hi");
  CHECK(j["choices"][0]["message"]["reasoning_content"] == "thinking");
  CHECK(j["usage"]["total_tokens"] == 7);
  CHECK(j["usage"]["prompt_tokens_details"]["cached_tokens"] == 1);
  CHECK(!json::parse(completion_json(info, "Hi", "stop", {3, 4}))["choices"][0]["message"].contains("reasoning_content"));
  auto c = json::parse(chunk_json(info, "hmm", true, nullptr, {}, true));
  CHECK(c["choices"][0]["delta"]["reasoning_content"] == "hmm");
  CHECK(!c["choices"][0]["delta"].contains("content"));
}

TEST_CASE("serve: a client that disconnects during a reply that is not streamed frees its slot") {
  const double before = metric("vkmoe_tokens_predicted_total");
  // A raw connection, so the test can close it mid-request.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(server().port()));
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string body = R"({"prompt":"A","max_tokens":400,"temperature":0})";
  const std::string request = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kKey +
                              "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + body;
  REQUIRE(send(fd, request.data(), request.size(), 0) == ssize_t(request.size()));
  for (int i = 0; i < 600 && metric("vkmoe_requests_processing") < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(metric("vkmoe_requests_processing") == 1);
  close(fd);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = post("/v1/completions", R"({"prompt":"A","max_tokens":2})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
  CHECK(metric("vkmoe_requests_processing") == 0);
  CHECK(metric("vkmoe_tokens_predicted_total") - before < 100);  // not the 400 asked for
  CHECK(server().log().find("POST /v1/completions 499") != std::string::npos);
}

TEST_CASE("serve: past the queue bound a request gets 503") {
  std::atomic<bool> started{false}, release{false};
  std::thread running([&] {
    stream("/v1/completions", R"({"prompt":"A","max_tokens":400,"temperature":0,"stream":true})", [&](const std::string&) {
      started = true;
      return !release.load();
    });
  });
  for (int i = 0; i < 600 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int waiting_status = 0;
  std::thread waiting([&] {
    auto r = post("/v1/completions", R"({"prompt":"A","max_tokens":2})");
    waiting_status = r ? r->status : -1;
  });
  for (int i = 0; i < 600 && metric("vkmoe_requests_deferred") < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  check_error(post("/v1/completions", R"({"prompt":"A","max_tokens":2})"), 503, "busy");
  release = true;
  running.join();
  waiting.join();
  CHECK(waiting_status == 200);
  const std::string log = server().log();
  CHECK(log.find("POST /v1/completions 503") != std::string::npos);
  CHECK(log.find("POST /v1/chat/completions 200 prompt=") != std::string::npos);
}

TEST_CASE("serve: metrics in Prometheus text format") {
  auto r = server().client().Get("/metrics");
  REQUIRE(r);
  CHECK(r->get_header_value("Content-Type").rfind("text/plain", 0) == 0);
  for (const char* name : {"vkmoe_prompt_tokens_seconds", "vkmoe_predicted_tokens_seconds", "vkmoe_requests_processing",
                           "vkmoe_requests_deferred", "vkmoe_kv_cache_used_cells", "vkmoe_expert_tokens_total{layer=\"0\",expert=\"0\"}",
                           "vkmoe_expert_load_imbalance{layer=\"1\"}", "vkmoe_prompt_tokens_cached_total",
                           "vkmoe_slot_kv_cache_used_cells{slot=\"0\"}", "vkmoe_moe_batched_from_tokens",
                           "vkmoe_decode_steps_total", "vkmoe_slots"})
    CHECK_MESSAGE(r->body.find(std::string("\n") + name + " ") != std::string::npos, name);
  CHECK(r->body.find("# TYPE vkmoe_tokens_predicted_total counter") != std::string::npos);
  CHECK(metric("vkmoe_predicted_tokens_seconds") > 0);
}

// Three requests at once on three slots give what each gives alone (on the one-slot server):
// their decode steps run as one batch, whose rounding differs from a step alone by ~1e-6 of the
// largest logit; a seeded draw flips only when it lands that close to a boundary between two
// candidates (batch_loop_test applies the greedy near-tie rule token by token).
TEST_CASE("serve -np 3: concurrent requests are batched and each equals the same request alone") {
  ServerProcess& p = parallel_server();
  const char* prompts[3] = {"The quick brown", "A mixture of experts", "Hello"};
  auto body = [&](int i) {
    return std::string(R"({"prompt":")") + prompts[i] + R"(","max_tokens":24,"temperature":0.8,"seed":)" +
           std::to_string(11 + i) + "}";
  };
  std::string together[3], alone[3];
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&, i] {
      auto r = post("/v1/completions", body(i), p);
      if (r && r->status == 200) together[i] = json::parse(r->body)["choices"][0]["text"];
    });
  for (auto& c : clients) c.join();
  CHECK(metric("vkmoe_requests_processing_max", p) >= 2);
  CHECK(metric("vkmoe_decode_batched_steps_total", p) > 0);
  CHECK(metric("vkmoe_decode_step_tokens_max", p) >= 2);
  CHECK(metric("vkmoe_kv_cache_cells", p) == 3 * 256);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    auto r = post("/v1/completions", body(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    alone[i] = json::parse(r->body)["choices"][0]["text"];
    CHECK(!together[i].empty());
    CHECK(together[i] == alone[i]);
  }
  // The same request again: the slot holding its prompt prefills only the last token.
  const double cached = metric("vkmoe_prompt_tokens_cached_total", p);
  const double prefilled = metric("vkmoe_prompt_tokens_total", p);
  auto again = post("/v1/completions", body(1), p);
  REQUIRE(again);
  REQUIRE(again->status == 200);
  const int prompt_tokens = json::parse(again->body)["usage"]["prompt_tokens"];
  CHECK(json::parse(again->body)["choices"][0]["text"] == together[1]);
  CHECK(metric("vkmoe_prompt_tokens_cached_total", p) - cached == prompt_tokens - 1);
  CHECK(json::parse(again->body)["usage"]["prompt_tokens_details"]["cached_tokens"] == prompt_tokens - 1);
  CHECK(metric("vkmoe_prompt_tokens_total", p) - prefilled == 1);
  CHECK(metric("vkmoe_kv_cache_used_cells", p) > 0);
  // Expert load over all slots: every token each slot ran went to k = 2 experts of layer 0.
  auto m = p.client().Get("/metrics");
  REQUIRE(m);
  std::istringstream in(m->body);
  double routed = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("vkmoe_expert_tokens_total{layer=\"0\",", 0) == 0) routed += std::stod(line.substr(line.rfind(' ') + 1));
  CHECK(routed == 2 * (metric("vkmoe_prompt_tokens_total", p) + metric("vkmoe_decode_step_tokens_total", p)));
}

TEST_CASE("serve -np 3: with every slot busy one request waits, the next gets 503; a disconnect frees a slot") {
  ServerProcess& p = parallel_server();
  std::atomic<int> started{0};
  std::atomic<bool> release[3] = {false, false, false};
  std::vector<std::thread> streams;
  for (int i = 0; i < 3; ++i)
    streams.emplace_back([&, i] {
      bool counted = false;
      stream("/v1/completions", R"({"prompt":"A","max_tokens":400,"temperature":0,"stream":true})",
             [&](const std::string&) {
               if (!counted) counted = true, ++started;
               return !release[i].load();
             },
             p);
    });
  for (int i = 0; i < 600 && started < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(started == 3);
  CHECK(metric("vkmoe_requests_processing", p) == 3);
  int waiting_status = 0;
  std::thread waiting([&] {
    auto r = post("/v1/completions", R"({"prompt":"Hello","max_tokens":3})", p);
    waiting_status = r ? r->status : -1;
  });
  for (int i = 0; i < 600 && metric("vkmoe_requests_deferred", p) < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  check_error(post("/v1/completions", R"({"prompt":"A","max_tokens":2})", p), 503, "busy");
  release[0] = true;  // one client goes: its slot takes the waiting request while the others stream on
  waiting.join();
  CHECK(waiting_status == 200);
  CHECK(metric("vkmoe_requests_processing", p) <= 2);
  release[1] = release[2] = true;
  for (auto& s : streams) s.join();
  for (int i = 0; i < 200 && metric("vkmoe_requests_processing", p) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(metric("vkmoe_requests_processing", p) == 0);
  CHECK(p.log().find("POST /v1/completions 503") != std::string::npos);
}
