// The built-in demo model: a small qwen3moe model that vkmoe writes itself, deterministically,
// so `vkmoe run` works on a fresh machine with no download. Its tokenizer is a real byte-level
// BPE learned on a built-in text; its output head holds that text's bigram statistics, so it
// writes recognisable (if aimless) sentences, while every token still goes through real
// attention, RMSNorm, RoPE, a router and 8 experts on the GPU.
#pragma once
#include <filesystem>
#include <vector>

namespace vkmoe {

// The file's bytes (about 10 MB).
std::vector<uint8_t> make_demo_model();

// Path of the cached demo model, written on first use (atomically) under the cache directory
// ($VKMOE_CACHE_DIR, $XDG_CACHE_HOME/vkmoe or ~/.cache/vkmoe; with none of them, a private 0700
// directory in the system temp folder). Its checksum is verified on every call: a damaged or
// truncated cache is written again.
std::filesystem::path demo_model_path(bool verbose = true);

// The file at `path` is a whole demo model (its embedded checksum matches).
bool demo_model_intact(const std::filesystem::path& path);

}  // namespace vkmoe
