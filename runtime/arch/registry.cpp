#include "runtime/arch/registry.h"

namespace vkmoe {

namespace {

const ArchInfo kArchitectures[] = {
    {Arch::qwen3moe, "qwen3moe", "qwen3moe", read_qwen3moe},
    {Arch::qwen2moe, "qwen2moe", "qwen2moe", read_qwen2moe},
    {Arch::mixtral, "llama", "mixtral (llama with experts)", read_mixtral, "mixtral"},
    {Arch::olmoe, "olmoe", "olmoe", read_olmoe},
    {Arch::deepseek2, "deepseek2", "deepseek2", read_deepseek2},
    {Arch::glm4moe, "glm4moe", "glm4moe", read_glm4moe},
    {Arch::deepseek, "deepseek", "deepseek", read_deepseek},
    {Arch::gpt_oss, "gpt-oss", "gpt-oss", read_gpt_oss},
    {Arch::ernie4_5_moe, "ernie4_5-moe", "ernie4_5-moe", read_ernie4_5_moe},
    {Arch::dots1, "dots1", "dots1", read_dots1},
    {Arch::granitemoe, "granitemoe", "granitemoe", read_granitemoe},
    {Arch::hunyuan_moe, "hunyuan-moe", "hunyuan-moe", read_hunyuan_moe},
    {Arch::minimax_m2, "minimax-m2", "minimax-m2", read_minimax_m2},
    {Arch::phimoe, "phimoe", "phimoe", read_phimoe},
    {Arch::dbrx, "dbrx", "dbrx", read_dbrx},
    {Arch::arctic, "arctic", "arctic", read_arctic},
    {Arch::llama4, "llama4", "llama4", read_llama4},
    {Arch::bailingmoe2, "bailingmoe2", "bailingmoe2", read_bailingmoe2},
    {Arch::grok, "grok", "grok", read_grok},
};

}  // namespace

std::span<const ArchInfo> architectures() { return kArchitectures; }

const ArchInfo& arch_info(Arch a) {
  for (const ArchInfo& i : kArchitectures)
    if (i.arch == a) return i;
  return kArchitectures[0];  // unreachable: every Arch has a line
}

const ArchInfo* find_arch(std::string_view key) {
  for (const ArchInfo& i : kArchitectures)
    if (key == i.key || (i.alias && key == i.alias)) return &i;
  return nullptr;
}

std::string supported_architectures() {
  std::string out;
  for (const ArchInfo& i : kArchitectures) out += (out.empty() ? "" : ", ") + std::string(i.display);
  return out;
}

const char* arch_name(Arch a) { return arch_info(a).display; }

}  // namespace vkmoe
