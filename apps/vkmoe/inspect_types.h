// `vkmoe inspect`'s weight types: the types of each tensor group (tensor names with the layer
// number dropped, e.g. "ffn_down_exps.weight") and the file's bits per weight.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vkmoe {

class GgufFile;

struct TypeGroup {
  std::string group;
  std::map<std::string, uint32_t> tensors_per_type;  // type name -> tensors
  uint64_t elements = 0, bytes = 0;
};

std::vector<TypeGroup> type_groups(const GgufFile& file);  // in first-appearance order
double bits_per_weight(const GgufFile& file);              // all tensors' bits / elements

std::string format_type_groups(const GgufFile& file);  // a text block ending in a newline
nlohmann::ordered_json type_groups_json(const GgufFile& file);

}  // namespace vkmoe
