// A small option parser with llama.cpp-style flags: "-n 128", "--device 1", "--json".
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vkmoe {

class Args {
 public:
  // value_flags take a value; bool_flags do not. Anything else is an error that names it.
  Args(const std::vector<std::string>& args, std::set<std::string> value_flags, std::set<std::string> bool_flags);
  bool has(const std::string& flag) const { return values_.count(flag) || bools_.count(flag); }
  std::string get(const std::string& flag, const std::string& def = "") const;
  int64_t get_int(const std::string& flag, int64_t def) const;
  double get_float(const std::string& flag, double def) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> bools_;
  std::vector<std::string> positional_;
};

}  // namespace vkmoe
