// vkmoe run / chat / eval / tokenize: the commands that load a model.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "apps/vkmoe/commands.h"
#include "runtime/service/model_loader.h"
#include "runtime/model/chat_session.h"
#include "runtime/model/generator.h"
#include "runtime/tokenizer/chat_template.h"
#include "runtime/util/parse_number.h"
#include "runtime/util/safe_file.h"

namespace vkmoe {

namespace {

std::set<std::string> merge(std::set<std::string> a, const std::set<std::string>& b) {
  a.insert(b.begin(), b.end());
  return a;
}

void print_stats(const GenerationStats& s, const Sampler& sampler) {
  std::fprintf(stderr, "\nprefill: %u tokens in %.3f s (%.2f tokens/s); decode: %u tokens in %.3f s (%.2f tokens/s); seed %llu\n",
               s.prompt_tokens, s.prefill_seconds, s.prefill_tps(), s.generated_tokens, s.decode_seconds, s.decode_tps(),
               static_cast<unsigned long long>(sampler.seed()));
}

void emit(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// Tokens each expert took per layer over the run (prompt and generated tokens), and how uneven
// the load was: max / mean, 1.0 being perfectly balanced.
void print_expert_stats(const RoutingSnapshot& r) {
  std::fprintf(stderr, "tokens per expert (layer: max/mean, then experts 0..%u):\n", r.experts - 1);
  for (uint32_t l = 0; l < r.layers; ++l) {
    uint64_t total = 0, most = 0;
    for (uint32_t e = 0; e < r.experts; ++e) {
      const uint32_t c = r.counts[static_cast<size_t>(l) * r.experts + e];
      total += c;
      most = std::max<uint64_t>(most, c);
    }
    if (total == 0) {
      std::fprintf(stderr, "  %3u: dense\n", l);
      continue;
    }
    std::fprintf(stderr, "  %3u: %5.2f |", l, most * static_cast<double>(r.experts) / total);
    for (uint32_t e = 0; e < r.experts; ++e) std::fprintf(stderr, " %u", r.counts[static_cast<size_t>(l) * r.experts + e]);
    std::fprintf(stderr, "\n");
  }
}

// The prompt of run / eval: -p, -f or one positional argument (as llama.cpp's tools take it),
// exactly one of them; given but empty is an error rather than a silent default.
std::string prompt_from_args(const Args& args, const std::string& def) {
  const std::string p = args.flag_of({"-p", "--prompt"}), f = args.flag_of({"-f", "--file"});
  const int given = args.has(p) + args.has(f) + !args.positional().empty();
  if (given > 1 || args.positional().size() > 1)
    throw std::invalid_argument("give the prompt once: -p TEXT, -f FILE or one argument (got " +
                                std::to_string(given) + " of them" +
                                (args.positional().size() > 1 ? ", " + std::to_string(args.positional().size()) + " arguments" : "") +
                                "; quote a prompt with spaces)");
  std::string prompt = def;
  if (args.has(p)) prompt = args.get(p);
  else if (args.has(f)) prompt = read_regular_file(args.get(f));
  else if (!args.positional().empty()) prompt = args.positional()[0];
  if (prompt.empty() && given) throw std::invalid_argument(args.has(f) ? "the prompt file " + args.get(f) + " is empty" : "the prompt is empty");
  return prompt;
}

// Ctrl-C during a reply stops the reply; while waiting for a message, the first one says how to
// quit and a second one ends the process.
std::atomic<bool> g_interrupt{false};
std::atomic<bool> g_generating{false};
std::atomic<int> g_idle_interrupts{0};

void on_sigint(int) {
  if (g_generating.load()) {
    g_interrupt.store(true);
    return;
  }
  if (g_idle_interrupts.fetch_add(1) == 0) {
    static const char msg[] = "\n(Ctrl-C again or /exit to quit)\n";
    (void)!write(2, msg, sizeof msg - 1);
    return;
  }
  _exit(130);
}

}  // namespace

int cmd_run(const std::vector<std::string>& argv) {
  Args args(argv, merge(merge(model_value_flags(), sampler_value_flags()), {"-p", "--prompt", "-n", "--n-predict", "-f", "--file"}),
            merge(model_bool_flags(), {"--no-display-prompt", "--expert-stats"}));
  // Everything is checked before the model loads.
  const ModelRequest request = model_request_from_args(args, args.has("--quiet"));
  const SamplerConfig sampling = sampler_from_args(args);
  const int n_predict = static_cast<int>(args.get_int(args.flag_of({"-n", "--n-predict"}), 128, -1, INT32_MAX));
  const std::string prompt = prompt_from_args(args, "A mixture of experts");
  auto lm = load_model(request);
  auto tokens = lm.tokenizer->encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (tokens.empty()) throw std::invalid_argument("the prompt encodes to no tokens");
  Generator gen(*lm.model, *lm.tokenizer, sampling);
  if (!args.has("--no-display-prompt")) emit(prompt);
  gen.feed(tokens);
  auto reason = gen.generate(n_predict, emit);
  if (reason == StopReason::context_full) std::fprintf(stderr, "\n[context full: -c %u]", lm.model->n_ctx());
  std::printf("\n");
  print_stats(gen.stats(), gen.sampler());
  std::fprintf(stderr, "%s", lm.model->profile_report().c_str());
  if (args.has("--expert-stats")) print_expert_stats(lm.model->routing());
  return 0;
}

int cmd_chat(const std::vector<std::string>& argv) {
  Args args(argv, merge(merge(model_value_flags(), sampler_value_flags()), chat_value_flags()),
            merge(model_bool_flags(), {"--hide-reasoning"}));
  if (!args.positional().empty()) throw std::invalid_argument("unexpected argument '" + args.positional()[0] + "'");
  const ModelRequest request = model_request_from_args(args, args.has("--quiet"));
  const SamplerConfig sampling = sampler_from_args(args);
  const int n_predict = static_cast<int>(args.get_int("-n", -1, -1, INT32_MAX));
  if (args.has("--chat-template")) parse_chat_format(args.get("--chat-template"));
  auto lm = load_model(request);
  const auto& tok = *lm.tokenizer;
  const ChatFormat format = chat_format_for(lm, args.get("--chat-template"), /*required=*/true);
  std::fprintf(stderr, "chat format: %s. Type a message; /reset starts over, /exit (or end of input) quits; Ctrl-C stops a reply.\n",
               std::string(chat_format_name(format)).c_str());
  Generator gen(*lm.model, tok, sampling);
  gen.set_interrupt(&g_interrupt);
  ChatSession chat(gen, tok, format, args.get(args.flag_of({"--system", "-sys"})));
  // gpt-oss's reasoning goes to stderr, dimmed on a terminal, so stdout holds the replies alone.
  const bool dim = isatty(2);
  std::function<void(const std::string&)> reasoning;
  if (!args.has("--hide-reasoning"))
    reasoning = [dim](const std::string& t) { std::fprintf(stderr, dim ? "\033[2m%s\033[0m" : "%s", t.c_str()); };
  std::signal(SIGINT, on_sigint);
  bool tty = isatty(0);
  for (;;) {
    if (tty) std::fprintf(stderr, "\n> ");
    std::string line;
    if (!std::getline(std::cin, line) || line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      chat.reset();
      std::fprintf(stderr, "(conversation reset)\n");
      continue;
    }
    if (line.empty()) continue;
    StopReason reason;
    g_interrupt.store(false);
    g_idle_interrupts.store(0);
    g_generating.store(true);
    try {
      reason = chat.turn(line, n_predict, {emit, reasoning, {}});
    } catch (const std::out_of_range& e) {  // this message does not fit: the conversation goes on
      g_generating.store(false);
      std::fprintf(stderr, "[message not sent: %s; /reset to start over]\n", e.what());
      continue;
    }
    g_generating.store(false);
    std::printf("\n");
    std::fflush(stdout);
    if (reason == StopReason::interrupted) std::fprintf(stderr, "[reply stopped]\n");
    if (reason == StopReason::context_full) {
      std::fprintf(stderr, "[context full (-c %u): /reset to start over]\n", lm.model->n_ctx());
      break;
    }
  }
  std::signal(SIGINT, SIG_DFL);
  print_stats(gen.stats(), gen.sampler());
  return 0;
}

// "1,2,3": every id an integer below n_vocab.
std::vector<int32_t> parse_token_list(const std::string& list, int64_t n_vocab) {
  std::vector<int32_t> tokens;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      tokens.push_back(static_cast<int32_t>(parse_int(item, "--tokens", 0, n_vocab - 1)));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("--tokens: '" + item + "' is not a token id of this model (0 to " +
                                  std::to_string(n_vocab - 1) + ")");
    }
  }
  if (tokens.empty() || list.back() == ',') throw std::invalid_argument("--tokens: give ids as 1,2,3");
  return tokens;
}

int cmd_eval(const std::vector<std::string>& argv) {
  Args args(argv, merge(model_value_flags(), {"--tokens", "--prompt", "-p", "--out", "-o"}), model_bool_flags());
  if (!args.positional().empty()) throw std::invalid_argument("unexpected argument '" + args.positional()[0] + "'");
  ModelRequest request = model_request_from_args(args, true);
  const std::string p = args.flag_of({"--prompt", "-p"});
  if (args.has("--tokens") == args.has(p)) throw std::invalid_argument("give --tokens 1,2,3 or --prompt TEXT (one of them)");
  if (args.has(p) && args.get(p).empty()) throw std::invalid_argument("the prompt is empty");
  const std::string out = args.get(args.flag_of({"--out", "-o"}));
  if (out.empty()) throw std::invalid_argument("give --out logits.f32");
  // The output must not replace the model (links resolved); checked again before writing.
  refuse_same_file(out, {request.path});
  if (args.has("--tokens")) parse_token_list(args.get("--tokens"), INT32_MAX);  // the syntax, before loading
  request.need_tokenizer = !args.has("--tokens");
  auto lm = load_model(request);
  const std::vector<int32_t> tokens = args.has("--tokens") ? parse_token_list(args.get("--tokens"), lm.model->config().n_vocab)
                                                           : lm.tokenizer->encode(args.get(p), true, true);
  if (tokens.empty()) throw std::invalid_argument("the prompt encodes to no tokens");
  auto logits = lm.model->forward(tokens, 0, LogitsMode::all);
  refuse_same_file(out, {lm.path});
  write_file_safely(out, {reinterpret_cast<const uint8_t*>(logits.data()), logits.size() * 4});
  std::fprintf(stderr, "wrote %zu x %u float32 logits to %s\n", tokens.size(), lm.model->config().n_vocab, out.c_str());
  return 0;
}

int cmd_tokenize(const std::vector<std::string>& argv) {
  Args args(argv, {"-m", "--model", "--file", "-f"}, {"--add-special", "--parse-special"});
  const std::string path = args.get(args.flag_of({"-m", "--model"}));
  if (path.empty()) throw std::invalid_argument("usage: vkmoe tokenize -m model.gguf \"text\" [--add-special] [--parse-special] [--file F]");
  const std::string f = args.flag_of({"--file", "-f"});
  if (args.positional().size() + args.has(f) != 1) throw std::invalid_argument("give the text as one argument or --file F");
  const std::string text = args.has(f) ? read_regular_file(args.get(f)) : args.positional()[0];
  auto file = GgufFile::open(path);
  auto tok = Tokenizer::from_gguf(file);
  auto ids = tok.encode(text, args.has("--add-special"), args.has("--parse-special"));
  file.check_intact();
  for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
  std::printf("\n");
  return 0;
}

}  // namespace vkmoe
