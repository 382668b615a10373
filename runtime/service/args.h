// A small option parser with llama.cpp-style flags: "-n 128", "--device 1", "--json".
#pragma once
#include <cstdint>
#include <initializer_list>
#include <limits>
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
  // Checked: the whole value must be a number in [min, max] (floats also finite), else an
  // error naming the flag, e.g. "--temp: 'nan' is not a finite number".
  int64_t get_int(const std::string& flag, int64_t def, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const;
  double get_float(const std::string& flag, double def, double min, double max) const;
  // Of flags that mean the same ("-c", "--ctx-size"): the one given (an error if several are),
  // or the first.
  std::string flag_of(std::initializer_list<const char*> aliases) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> bools_;
  std::vector<std::string> positional_;
};

}  // namespace vkmoe
