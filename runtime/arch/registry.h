// The supported architectures: GGUF name, display name and hyperparameter reader, one line each
// in registry.cpp. Adding an architecture is one file (runtime/arch/<arch>.cpp) plus one line.
#pragma once
#include <span>
#include <string>
#include <string_view>

#include "runtime/model/model_config.h"

namespace vkmoe {

class Hparams;

// Fills the architecture's part of the config from the file: RoPE layout, expert widths, norms,
// router, attention particulars and `layers`. The common keys (widths, heads, RoPE base and
// scaling, expert counts) are read before it, by load_model_config.
using ArchReader = void (*)(const Hparams& h, ModelConfig& c);

struct ArchInfo {
  Arch arch;
  const char* key;      // general.architecture as llama.cpp writes it
  const char* display;  // for messages and `vkmoe inspect`
  ArchReader read;
  const char* alias = nullptr;  // another general.architecture read the same way
};

std::span<const ArchInfo> architectures();
const ArchInfo& arch_info(Arch a);
const ArchInfo* find_arch(std::string_view key);  // by key or alias; nullptr if unsupported
std::string supported_architectures();            // "qwen3moe, qwen2moe, ..." for messages

// The readers, one per runtime/arch/<arch>.cpp.
void read_qwen3moe(const Hparams& h, ModelConfig& c);
void read_qwen2moe(const Hparams& h, ModelConfig& c);
void read_mixtral(const Hparams& h, ModelConfig& c);
void read_olmoe(const Hparams& h, ModelConfig& c);
void read_deepseek2(const Hparams& h, ModelConfig& c);
void read_glm4moe(const Hparams& h, ModelConfig& c);
void read_deepseek(const Hparams& h, ModelConfig& c);
void read_gpt_oss(const Hparams& h, ModelConfig& c);
void read_ernie4_5_moe(const Hparams& h, ModelConfig& c);
void read_dots1(const Hparams& h, ModelConfig& c);
void read_granitemoe(const Hparams& h, ModelConfig& c);
void read_hunyuan_moe(const Hparams& h, ModelConfig& c);
void read_minimax_m2(const Hparams& h, ModelConfig& c);
void read_phimoe(const Hparams& h, ModelConfig& c);
void read_dbrx(const Hparams& h, ModelConfig& c);
void read_arctic(const Hparams& h, ModelConfig& c);
void read_llama4(const Hparams& h, ModelConfig& c);
void read_bailingmoe2(const Hparams& h, ModelConfig& c);
void read_grok(const Hparams& h, ModelConfig& c);

}  // namespace vkmoe
