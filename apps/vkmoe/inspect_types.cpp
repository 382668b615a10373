#include "apps/vkmoe/inspect_types.h"

#include <cstdio>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/quant/ggml_type.h"

namespace vkmoe {

namespace {

// "blk.12.ffn_up_exps.weight" -> "ffn_up_exps.weight"; other names stay.
std::string group_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return name;
  const size_t dot = name.find('.', 4);
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

double bpw(uint64_t bytes, uint64_t elements) { return elements ? 8.0 * double(bytes) / double(elements) : 0.0; }

}  // namespace

std::vector<TypeGroup> type_groups(const GgufFile& file) {
  std::vector<TypeGroup> groups;
  std::map<std::string, size_t> index;
  for (const auto& t : file.tensors()) {
    const std::string g = group_of(t.name);
    auto [it, added] = index.emplace(g, groups.size());
    if (added) groups.push_back({g, {}, 0, 0});
    TypeGroup& tg = groups[it->second];
    ++tg.tensors_per_type[std::string(ggml_type_name(t.type))];
    tg.elements += t.elements();
    tg.bytes += t.bytes;
  }
  return groups;
}

double bits_per_weight(const GgufFile& file) {
  uint64_t bytes = 0, elements = 0;
  for (const auto& t : file.tensors()) {
    bytes += t.bytes;
    elements += t.elements();
  }
  return bpw(bytes, elements);
}

std::string format_type_groups(const GgufFile& file) {
  char line[256];
  std::snprintf(line, sizeof line, "weight types (%.2f bits per weight over the file):\n", bits_per_weight(file));
  std::string s = line;
  for (const auto& g : type_groups(file)) {
    std::string types;
    for (const auto& [type, n] : g.tensors_per_type) types += (types.empty() ? "" : ", ") + type + " x" + std::to_string(n);
    std::snprintf(line, sizeof line, "  %-30s %6.2f bpw  %s\n", g.group.c_str(), bpw(g.bytes, g.elements), types.c_str());
    s += line;
  }
  return s;
}

nlohmann::ordered_json type_groups_json(const GgufFile& file) {
  nlohmann::ordered_json j;
  j["bits_per_weight"] = bits_per_weight(file);
  auto groups = nlohmann::ordered_json::array();
  for (const auto& g : type_groups(file))
    groups.push_back({{"group", g.group}, {"types", g.tensors_per_type}, {"bits_per_weight", bpw(g.bytes, g.elements)}});
  j["groups"] = groups;
  return j;
}

}  // namespace vkmoe
