// vkmoe run / chat / eval / tokenize: the commands that load a model.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "apps/vkmoe/commands.h"
#include "apps/vkmoe/model_args.h"
#include "runtime/model/chat_session.h"
#include "runtime/model/generator.h"
#include "runtime/tokenizer/chat_template.h"

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

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream o;
  o << f.rdbuf();
  return o.str();
}

}  // namespace

int cmd_run(const std::vector<std::string>& argv) {
  Args args(argv, merge(merge(model_value_flags(), sampler_value_flags()), {"-p", "--prompt", "-n", "--n-predict", "-f", "--file"}),
            merge(model_bool_flags(), {"--no-display-prompt", "--expert-stats"}));
  auto lm = load_model_from_args(args, args.has("--quiet"));
  std::string prompt = args.get("-p", args.get("--prompt"));
  if (args.has("-f") || args.has("--file")) prompt = read_file_bytes(args.get("-f", args.get("--file")));
  if (prompt.empty()) prompt = "A mixture of experts";
  const int n_predict = static_cast<int>(args.get_int("-n", args.get_int("--n-predict", 128)));
  auto tokens = lm.tokenizer->encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (tokens.empty()) throw std::invalid_argument("the prompt encodes to no tokens");
  Generator gen(*lm.model, *lm.tokenizer, sampler_from_args(args));
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
  Args args(argv, merge(merge(model_value_flags(), sampler_value_flags()), {"--system", "-sys", "-n"}), model_bool_flags());
  auto lm = load_model_from_args(args, args.has("--quiet"));
  const auto& tok = *lm.tokenizer;
  const ChatFormat format = detect_chat_format(tok.vocab().chat_template, lm.model->config().arch_key);
  std::fprintf(stderr, "chat format: %s. Type a message; /reset starts over, /exit (or end of input) quits.\n",
               std::string(chat_format_name(format)).c_str());
  Generator gen(*lm.model, tok, sampler_from_args(args));
  ChatSession chat(gen, tok, format, args.get("--system", args.get("-sys")));
  const int n_predict = static_cast<int>(args.get_int("-n", -1));
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
    auto reason = chat.turn(line, n_predict, emit);
    std::printf("\n");
    std::fflush(stdout);
    if (reason == StopReason::context_full) {
      std::fprintf(stderr, "[context full (-c %u): /reset to start over]\n", lm.model->n_ctx());
      break;
    }
  }
  print_stats(gen.stats(), gen.sampler());
  return 0;
}

int cmd_eval(const std::vector<std::string>& argv) {
  Args args(argv, merge(model_value_flags(), {"--tokens", "--prompt", "-p", "--out", "-o"}), model_bool_flags());
  auto lm = load_model_from_args(args, true);
  std::vector<int32_t> tokens;
  if (args.has("--tokens")) {
    std::stringstream ss(args.get("--tokens"));
    std::string item;
    while (std::getline(ss, item, ',')) {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size()) throw std::invalid_argument("--tokens: '" + item + "' is not a token id");
      tokens.push_back(static_cast<int32_t>(v));
    }
  } else {
    tokens = lm.tokenizer->encode(args.get("--prompt", args.get("-p")), true, true);
  }
  if (tokens.empty()) throw std::invalid_argument("give --tokens 1,2,3 or --prompt TEXT");
  const std::string out = args.get("--out", args.get("-o"));
  if (out.empty()) throw std::invalid_argument("give --out logits.f32");
  auto logits = lm.model->forward(tokens, 0, LogitsMode::all);
  std::ofstream f(out, std::ios::binary);
  f.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * 4));
  if (!f) throw std::runtime_error("cannot write " + out);
  std::fprintf(stderr, "wrote %zu x %u float32 logits to %s\n", tokens.size(), lm.model->config().n_vocab, out.c_str());
  return 0;
}

int cmd_tokenize(const std::vector<std::string>& argv) {
  Args args(argv, {"-m", "--model", "--file", "-f"}, {"--add-special", "--parse-special"});
  std::string path = args.get("-m", args.get("--model"));
  if (path.empty()) throw std::invalid_argument("usage: vkmoe tokenize -m model.gguf \"text\" [--add-special] [--parse-special] [--file F]");
  std::string text;
  if (args.has("--file") || args.has("-f")) text = read_file_bytes(args.get("--file", args.get("-f")));
  else if (args.positional().size() == 1) text = args.positional()[0];
  else throw std::invalid_argument("give the text as one argument or --file F");
  auto file = GgufFile::open(path);
  auto tok = Tokenizer::from_gguf(file);
  auto ids = tok.encode(text, args.has("--add-special"), args.has("--parse-special"));
  for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
  std::printf("\n");
  return 0;
}

}  // namespace vkmoe
