// vkmoe: the command line. Each subcommand lives in its own cmd_*.cpp.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "apps/vkmoe/commands.h"
#include "runtime/util/parse_number.h"
#include "runtime/vk/sequence.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
  const char* help;
};

const Command kCommands[] = {
    {"run", vkmoe::cmd_run, "generate text: -m model.gguf -p PROMPT|-f FILE|PROMPT -n 128 (no -m: the built-in demo model)"},
    {"chat", vkmoe::cmd_chat, "interactive chat with the model's chat template (-m, --system, --chat-template NAME, --hide-reasoning)"},
#ifdef VKMOE_SERVE
    {"serve", vkmoe::cmd_serve, "OpenAI-compatible HTTP server: [-m FILE] [--host 127.0.0.1] [--port 8080] [-np SLOTS] [--api-key KEY] [-c N] [--max-queue N]"},
#endif
    {"eval", vkmoe::cmd_eval, "write logits of every position: --tokens 1,2,3|--prompt TEXT --out logits.f32"},
    {"tokenize", vkmoe::cmd_tokenize, "print token ids: -m model.gguf \"text\" [--add-special] [--parse-special]"},
    {"devices", vkmoe::cmd_devices, "list Vulkan devices and their capabilities (--json)"},
    {"selfcheck", vkmoe::cmd_selfcheck, "run a compute self-check on a device (--device N|NAME)"},
    {"bench", vkmoe::cmd_bench, "benchmarks: `bench model [-m FILE] [-p 512] [-n 128] [-o md|json|jsonl|csv]`, `bench peak`, `bench kernels`"},
    {"synth", vkmoe::cmd_synth, "write a synthetic model: -o FILE [--type q4_K] [--layers N] [--arch ARCH] (the speed issue's reference shape; --arch lists the shapes)"},
    {"inspect", vkmoe::cmd_inspect, "show a GGUF model: hyperparameters, tensors, active bytes, memory plan"},
};

void usage() {
  std::printf("usage: vkmoe <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::printf("  %-10s %s\n", c.name, c.help);
  std::printf("\nmodel options: -m FILE, -c N (context), --batch N, --device N|NAME, --mem-budget SIZE, --spill\n");
  std::printf("sampling: --temp T, --top-k N, --top-p P, --min-p P, --repeat-penalty R, --presence-penalty P, -s/--seed N\n");
  std::printf("environment:   VKMOE_VALIDATE=1  enable the Khronos validation layer\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    usage();
    return argc < 2 ? 1 : 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      // The environment is checked before any work, like the options.
      vkmoe::fence_timeout_seconds();
      vkmoe::env_int("VKMOE_MOE_BATCHED_FROM", 1, 1, UINT32_MAX);
      return c.run(args);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vkmoe %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "vkmoe: unknown command '%s'\n\n", argv[1]);
  usage();
  return 1;
}
