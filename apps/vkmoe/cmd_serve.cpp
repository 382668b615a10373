// vkmoe serve: an OpenAI-compatible HTTP server (cpp-httplib). Requests take turns on the one
// loaded model through a Scheduler; everything that does not need HTTP (parsing, validation,
// response JSON, metrics, the queue) lives in runtime/server/ and is tested on its own.
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/vkmoe/commands.h"
#include "runtime/service/model_loader.h"
#include "runtime/model/generator.h"
#include "runtime/model/model.h"
#include "runtime/server/connection.h"
#include "runtime/server/metrics.h"
#include "runtime/server/openai_json.h"
#include "runtime/server/request.h"
#include "runtime/server/scheduler.h"
#include "runtime/tokenizer/chat_template.h"
#include "runtime/tokenizer/harmony.h"

namespace vkmoe {
namespace {

using Clock = std::chrono::steady_clock;

struct ServeOptions {
  std::string host = "127.0.0.1", api_key, chat_template;
  int port = 8080, default_max_tokens = -1;
  uint32_t slots = 1, max_queue = 16;
  size_t max_body = 1 << 20;
};

struct ServeState {
  LoadedModel lm;
  ChatFormat format = ChatFormat::Unknown;
  SamplerConfig sampling;
  ServeOptions opt;
  std::string model_id;
  Scheduler scheduler;
  ServerMetrics metrics;
  std::atomic<uint64_t> next_id{1};
};

// What the request log line reports; the handler, its content provider and httplib's logger run
// on the same worker thread.
struct RequestLog {
  Clock::time_point start;
  uint32_t prompt_tokens = 0, generated_tokens = 0;
};
thread_local RequestLog t_log;

void json_error(httplib::Response& res, int status, const std::string& message,
                const std::string& type = "invalid_request_error") {
  res.status = status;
  res.set_content(error_json(message, type, status), "application/json");
}

// The prompt's tokens, checked against the context.
std::vector<int32_t> prompt_tokens(const ServeState& s, const CompletionRequest& r) {
  std::string text = r.prompt;
  if (r.chat && s.format == ChatFormat::Unknown)
    throw ApiError(400, "this model's chat template is unknown: start the server with --chat-template NAME, or use /v1/completions");
  try {
    if (r.chat) text = apply_chat_template(s.format, r.messages, /*add_generation_prompt=*/true);
  } catch (const std::invalid_argument& e) {  // e.g. a role the format cannot show
    throw ApiError(400, e.what());
  }
  auto tokens = s.lm.tokenizer->encode(text, /*add_special=*/true, /*parse_special=*/true);
  if (tokens.empty()) throw ApiError(400, "the prompt encodes to no tokens");
  if (tokens.size() >= s.lm.model->n_ctx())
    throw ApiError(400, "the prompt has " + std::to_string(tokens.size()) + " tokens, more than the context of " +
                            std::to_string(s.lm.model->n_ctx()) + " tokens leaves room for (-c " +
                            std::to_string(s.lm.model->n_ctx()) + ")");
  return tokens;
}

struct GenOutcome {
  std::string text, reasoning;
  const char* finish = "stop";
  GenerationStats stats;
  bool client_gone = false;
};

// A piece of the reply for the client (content or reasoning); false when the client is gone.
using Emit = std::function<bool(ReplyChannel, const std::string&)>;

// Runs one request on the model (the caller holds its turn). Generation stops before the next
// token once emit returns false or connected() does. A gpt-oss chat reply is split into its
// channels; stop strings apply to the reply's content.
GenOutcome generate(ServeState& s, const std::vector<int32_t>& tokens, const CompletionRequest& r, const Emit& emit,
                    const std::function<bool()>& connected) {
  GenOutcome out;
  if (!connected()) {  // gone while it waited in line
    out.client_gone = true;
    return out;
  }
  Generator gen(*s.lm.model, *s.lm.tokenizer, r.sampling);
  std::atomic<bool> stop{false};
  gen.set_interrupt(&stop);
  const bool harmony = r.chat && s.format == ChatFormat::Harmony;
  gen.set_render_special(harmony);
  StopMatcher matcher(r.stop);
  auto send = [&](ReplyChannel channel, const std::string& text) {
    if (text.empty() || stop.load()) return;
    (channel == ReplyChannel::reasoning ? out.reasoning : out.text) += text;
    if (emit && !emit(channel, text)) stop.store(out.client_gone = true);
  };
  auto content = [&](const std::string& piece) {
    send(ReplyChannel::content, matcher.push(piece));
    if (matcher.stopped()) stop.store(true);
  };
  HarmonyParser channels([&](ReplyChannel channel, std::string_view t) {
    if (channel == ReplyChannel::content) content(std::string(t));
    else if (channel == ReplyChannel::reasoning) send(channel, std::string(t));
  });
  gen.feed(tokens);
  auto reason = gen.generate(
      r.max_tokens, [&](const std::string& piece) { harmony ? channels.push(piece) : content(piece); },
      [&](int32_t) {
        s.metrics.set_kv_cells(gen.position());
        if (!connected()) stop.store(out.client_gone = true);
      });
  if (harmony) channels.finish();
  send(ReplyChannel::content, matcher.flush());
  out.finish = finish_reason(reason, matcher.stopped());
  out.stats = gen.stats();
  s.metrics.add_request(out.stats);
  s.metrics.set_expert_counts(s.lm.model->routing());
  s.metrics.set_kv_cells(0);
  t_log.prompt_tokens = out.stats.prompt_tokens;
  t_log.generated_tokens = out.stats.generated_tokens;
  return out;
}

// Asks whether the request's client is still connected (see runtime/server/connection.h).
std::function<bool()> connection_check(const httplib::Request& req) {
  const int fd = find_connection(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  return [fd] { return !peer_closed(fd); };
}

void stream_response(ServeState& s, std::shared_ptr<Scheduler::Ticket> ticket, CompletionRequest r,
                     std::vector<int32_t> tokens, ResponseInfo info, std::function<bool()> connected,
                     httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [&s, ticket, r, tokens, info, connected](size_t, httplib::DataSink& sink) {
    ticket->wait();
    bool first = true;
    auto write = [&](const std::string& event) { return sink.is_writable() && sink.write(event.data(), event.size()); };
    try {
      auto emit = [&](ReplyChannel channel, const std::string& text) {
        const bool ok = write(sse_event(chunk_json(info, text, first, nullptr, 0, 0, channel == ReplyChannel::reasoning)));
        first = false;
        return ok;
      };
      auto out = generate(s, tokens, r, emit, connected);
      write(sse_event(chunk_json(info, "", first, out.finish, out.stats.prompt_tokens, out.stats.generated_tokens)));
      write(sse_done());
    } catch (const std::exception& e) {
      write(sse_event(error_json(e.what(), "server_error", 500)));
    }
    sink.done();
    return true;
  });
}

void handle_completion(ServeState& s, const httplib::Request& req, httplib::Response& res, bool chat) {
  try {
    auto r = parse_completion_request(req.body, chat, s.sampling, s.opt.default_max_tokens);
    auto tokens = prompt_tokens(s, r);
    std::shared_ptr<Scheduler::Ticket> ticket = s.scheduler.enter();
    if (!ticket) throw ApiError(503, "the server is busy: " + std::to_string(s.opt.max_queue) +
                                         " requests are already waiting (--max-queue)", "unavailable_error");
    ResponseInfo info{(chat ? "chatcmpl-" : "cmpl-") + std::to_string(s.next_id++), s.model_id,
                      std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count(), chat};
    auto connected = connection_check(req);
    if (r.stream) return stream_response(s, ticket, std::move(r), std::move(tokens), info, connected, res);
    ticket->wait();
    auto out = generate(s, tokens, r, {}, connected);
    // Nobody reads the reply; the status shows in the request's log line (nginx's 499).
    if (out.client_gone) return json_error(res, 499, "the client closed the connection");
    res.set_content(completion_json(info, out.text, out.finish, out.stats.prompt_tokens, out.stats.generated_tokens,
                                    out.reasoning),
                    "application/json");
  } catch (const ApiError& e) {
    json_error(res, e.status, e.what(), e.type);
  } catch (const std::exception& e) {
    json_error(res, 500, e.what(), "server_error");
  }
}

void add_routes(httplib::Server& svr, ServeState& s) {
  svr.Post("/v1/chat/completions", [&](const httplib::Request& q, httplib::Response& r) { handle_completion(s, q, r, true); });
  svr.Post("/v1/completions", [&](const httplib::Request& q, httplib::Response& r) { handle_completion(s, q, r, false); });
  svr.Get("/v1/models", [&](const httplib::Request&, httplib::Response& r) {
    r.set_content("{\"object\":\"list\",\"data\":[{\"id\":" + nlohmann::json(s.model_id).dump() +
                      ",\"object\":\"model\",\"created\":0,\"owned_by\":\"vkmoe\"}]}",
                  "application/json");
  });
  svr.Get("/health", [](const httplib::Request&, httplib::Response& r) { r.set_content("{\"status\":\"ok\"}", "application/json"); });
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& r) {
    r.set_content(s.metrics.prometheus(s.scheduler.queued(), s.scheduler.active(), s.lm.model->n_ctx()),
                  "text/plain; version=0.0.4");
  });
}

void configure(httplib::Server& svr, ServeState& s) {
  const size_t threads = s.opt.slots + s.opt.max_queue + 4;  // every queued request holds a worker
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(s.opt.max_body);
  svr.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    t_log = {Clock::now(), 0, 0};
    if (s.opt.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + s.opt.api_key) return httplib::Server::HandlerResponse::Unhandled;
    json_error(res, 401, "a valid API key is needed: Authorization: Bearer KEY", "authentication_error");
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string msg = res.status == 413 ? "the request body is larger than the limit"
                            : res.status == 404 ? "no such endpoint" : "the request failed";
    json_error(res, res.status, msg, res.status >= 500 ? "server_error" : "invalid_request_error");
  });
  svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    // A request refused before routing (413, a bad request line) has no start time.
    const double secs = t_log.start == Clock::time_point{} ? 0 : std::chrono::duration<double>(Clock::now() - t_log.start).count();
    std::fprintf(stderr, "%s %s %d prompt=%u generated=%u %.3fs\n", req.method.c_str(), req.path.c_str(), res.status,
                 t_log.prompt_tokens, t_log.generated_tokens, secs);
    t_log = {};
  });
}

ServeOptions serve_options(const Args& args) {
  ServeOptions o;
  o.host = args.get("--host", o.host);
  if (o.host.empty()) throw std::invalid_argument("--host is empty");
  o.port = static_cast<int>(args.get_int("--port", o.port, 0, 65535));
  o.api_key = args.get("--api-key");
  if (args.has("--api-key") && o.api_key.empty()) throw std::invalid_argument("--api-key is empty");
  o.slots = static_cast<uint32_t>(args.get_int(args.flag_of({"-np", "--parallel"}), 1, 1, 256));
  o.max_queue = static_cast<uint32_t>(args.get_int("--max-queue", o.max_queue, 0, 1024));
  o.max_body = static_cast<size_t>(args.get_int("--max-body", int64_t(o.max_body), 1024, int64_t(1) << 30));
  o.default_max_tokens = static_cast<int>(args.get_int(args.flag_of({"-n", "--n-predict"}), -1, -1, INT32_MAX));
  o.chat_template = args.get("--chat-template");
  if (!o.chat_template.empty()) parse_chat_format(o.chat_template);
  return o;
}

}  // namespace

int cmd_serve(const std::vector<std::string>& argv) {
  std::set<std::string> values = model_value_flags(), s = sampler_value_flags();
  values.insert(s.begin(), s.end());
  values.insert({"--host", "--port", "-np", "--parallel", "--api-key", "--max-queue", "--max-body", "-n", "--n-predict",
                 "--chat-template"});
  Args args(argv, values, model_bool_flags());
  if (!args.positional().empty()) throw std::invalid_argument("unexpected argument '" + args.positional()[0] + "'");
  const ServeOptions opt = serve_options(args);
  const ModelRequest request = model_request_from_args(args, args.has("--quiet"));
  const SamplerConfig sampling = sampler_from_args(args);
  // Slots beyond one would share today's single KV cache: they wait in line instead.
  if (opt.slots > 1)
    std::fprintf(stderr, "serve: -np %u: requests run one at a time until sessions land (issue 9); the others queue\n",
                 opt.slots);
  ServeState st{load_model(request), ChatFormat::Unknown, sampling, opt, "", Scheduler(1, opt.max_queue)};
  st.opt.slots = 1;
  st.format = chat_format_for(st.lm, opt.chat_template, /*required=*/false);
  if (st.format == ChatFormat::Unknown)
    std::fprintf(stderr, "serve: the model's chat template is unknown: /v1/chat/completions needs --chat-template\n");
  if (opt.host != "127.0.0.1" && opt.host != "localhost" && opt.host != "::1" && opt.api_key.empty())
    std::fprintf(stderr, "serve: warning: listening on %s without --api-key: anyone who can reach it may use it\n",
                 opt.host.c_str());
  st.model_id = request.path.empty() ? "vkmoe-demo" : std::filesystem::path(request.path).filename().string();
  std::signal(SIGPIPE, SIG_IGN);
  httplib::Server svr;
  configure(svr, st);
  add_routes(svr, st);
  const int port = opt.port == 0 ? svr.bind_to_any_port(opt.host) : (svr.bind_to_port(opt.host, opt.port) ? opt.port : -1);
  if (port < 0) throw std::runtime_error("cannot listen on " + opt.host + ":" + std::to_string(opt.port));
  std::fprintf(stderr, "serve: listening on http://%s:%d (model %s, context %u, queue %u)\n", opt.host.c_str(), port,
               st.model_id.c_str(), st.lm.model->n_ctx(), opt.max_queue);
  if (!svr.listen_after_bind()) throw std::runtime_error("the server stopped listening");
  return 0;
}

}  // namespace vkmoe
