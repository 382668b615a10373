// vkmoe serve: an OpenAI-compatible HTTP server (cpp-httplib). HTTP threads parse and check a
// request, hand it to the BatchLoop (runtime/server/batch_loop.h: -np slots whose decode steps
// run as one batch on the model's own thread) as a Job, and relay its pieces to the client;
// everything that does not need HTTP lives in runtime/server/ and is tested on its own.
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
#include "runtime/server/batch_loop.h"
#include "runtime/server/metrics.h"
#include "runtime/server/openai_json.h"
#include "runtime/server/request.h"
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
  std::unique_ptr<BatchLoop> loop;
  std::atomic<uint64_t> next_id{1};
};

// What the request log line reports; the handler, its content provider and httplib's logger run
// on the same worker thread.
struct RequestLog {
  Clock::time_point start;
  uint32_t prompt_tokens = 0, generated_tokens = 0, cached_tokens = 0;
  int slot = -1;  // the slot that ran it; -1: none
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

// Asks whether the request's client is still connected (see runtime/server/connection.h).
std::function<bool()> connection_check(const httplib::Request& req) {
  const int fd = find_connection(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  return [fd] { return !peer_closed(fd); };
}

// How often a waiting HTTP thread looks at its client: a disconnect frees the slot this soon.
constexpr std::chrono::milliseconds kPoll{50};

Usage usage(const JobOutcome& o) { return {o.prompt_tokens, o.generated_tokens, o.cached_tokens}; }

void log_outcome(const JobOutcome& o) {
  t_log.prompt_tokens = o.prompt_tokens;
  t_log.generated_tokens = o.generated_tokens;
  t_log.cached_tokens = o.cached_tokens;
  t_log.slot = static_cast<int>(o.slot);
}

void stream_response(std::shared_ptr<Job> job, ResponseInfo info, std::function<bool()> connected,
                     httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [job, info, connected](size_t, httplib::DataSink& sink) {
    bool first = true, gone = false;
    auto write = [&](const std::string& event) {
      gone = gone || !(sink.is_writable() && sink.write(event.data(), event.size()));
      return !gone;
    };
    std::vector<JobPiece> pieces;
    for (bool done = false; !done && !gone;) {
      done = job->wait(pieces, kPoll);
      for (const JobPiece& p : pieces) {
        if (!write(sse_event(chunk_json(info, p.text, first, nullptr, {}, p.channel == ReplyChannel::reasoning)))) break;
        first = false;
      }
      pieces.clear();
      if (!done && !connected()) gone = true;
    }
    if (gone) {
      job->cancel();  // the slot is freed before the next step
    } else if (const JobOutcome& o = job->outcome(); !o.error.empty()) {
      write(sse_event(error_json(o.error, "server_error", 500)));
    } else {
      log_outcome(o);
      write(sse_event(chunk_json(info, "", first, finish_reason(o.reason, o.stop_string), usage(o))));
      write(sse_done());
    }
    sink.done();
    return true;
  });
}

// A reply that is not streamed: generated, then sent; the client is watched meanwhile.
void whole_response(Job& job, const ResponseInfo& info, const std::function<bool()>& connected,
                    httplib::Response& res) {
  std::vector<JobPiece> pieces;
  while (!job.wait(pieces, kPoll))
    if (!connected()) {
      job.cancel();
      // Nobody reads the reply; the status shows in the request's log line (nginx's 499).
      return json_error(res, 499, "the client closed the connection");
    }
  std::string text, reasoning;
  for (const JobPiece& p : pieces) (p.channel == ReplyChannel::reasoning ? reasoning : text) += p.text;
  const JobOutcome& o = job.outcome();
  if (!o.error.empty()) return json_error(res, 500, o.error, "server_error");
  if (o.client_gone) return json_error(res, 499, "the client closed the connection");
  log_outcome(o);
  res.set_content(completion_json(info, text, finish_reason(o.reason, o.stop_string), usage(o), reasoning),
                  "application/json");
}

void handle_completion(ServeState& s, const httplib::Request& req, httplib::Response& res, bool chat) {
  try {
    auto r = parse_completion_request(req.body, chat, s.sampling, s.opt.default_max_tokens);
    auto job = std::make_shared<Job>(JobSpec{prompt_tokens(s, r), r.sampling, r.max_tokens, r.stop,
                                             r.chat && s.format == ChatFormat::Harmony});
    if (!s.loop->submit(job))
      throw ApiError(503, "the server is busy: all " + std::to_string(s.opt.slots) + " slots (-np) are in use and " +
                              std::to_string(s.opt.max_queue) + " requests are already waiting (--max-queue)",
                     "unavailable_error");
    ResponseInfo info{(chat ? "chatcmpl-" : "cmpl-") + std::to_string(s.next_id++), s.model_id,
                      std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count(), chat};
    auto connected = connection_check(req);
    if (r.stream) return stream_response(job, info, connected, res);
    whole_response(*job, info, connected, res);
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
    r.set_content(prometheus_metrics(s.loop->stats(), s.lm.model->n_ctx(), s.lm.model->moe_batched_from()),
                  "text/plain; version=0.0.4");
  });
}

void configure(httplib::Server& svr, ServeState& s) {
  const size_t threads = s.opt.slots + s.opt.max_queue + 4;  // every queued request holds a worker
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(s.opt.max_body);
  svr.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    t_log = {Clock::now()};
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
    const std::string slot = t_log.slot < 0 ? "" : " cached=" + std::to_string(t_log.cached_tokens) + " slot=" + std::to_string(t_log.slot);
    std::fprintf(stderr, "%s %s %d prompt=%u generated=%u %.3fs%s\n", req.method.c_str(), req.path.c_str(), res.status,
                 t_log.prompt_tokens, t_log.generated_tokens, secs, slot.c_str());
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
  ModelRequest request = model_request_from_args(args, args.has("--quiet"));
  request.options.n_parallel = opt.slots;  // one KV cache per slot, planned and allocated at load
  const SamplerConfig sampling = sampler_from_args(args);
  ServeState st{load_model(request), ChatFormat::Unknown, sampling, opt, "", nullptr};
  st.loop = std::make_unique<BatchLoop>(*st.lm.model, *st.lm.tokenizer,
                                        BatchLoopOptions{opt.slots, opt.max_queue, request.options.n_batch});
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
  std::fprintf(stderr,
               "serve: listening on http://%s:%d (model %s, %u slots of context %u, queue %u, MoE batched path from %u "
               "tokens)\n",
               opt.host.c_str(), port, st.model_id.c_str(), opt.slots, st.lm.model->n_ctx(), opt.max_queue,
               st.lm.model->moe_batched_from());
  if (!svr.listen_after_bind()) throw std::runtime_error("the server stopped listening");
  return 0;
}

}  // namespace vkmoe
