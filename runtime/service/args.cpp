#include "runtime/service/args.h"

#include "runtime/util/parse_number.h"

namespace vkmoe {

Args::Args(const std::vector<std::string>& args, std::set<std::string> value_flags, std::set<std::string> bool_flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (isdigit(a[1]) || a[1] == '.'))) {
      std::string flag = a, value;
      bool inline_value = false;
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        flag = a.substr(0, eq);
        value = a.substr(eq + 1);
        inline_value = true;
      }
      if (value_flags.count(flag)) {
        if (!inline_value) {
          if (i + 1 >= args.size()) throw std::invalid_argument("option " + flag + " needs a value");
          value = args[++i];
        }
        if (values_.count(flag)) throw std::invalid_argument("option " + flag + " is given twice");
        values_[flag] = value;
      } else if (bool_flags.count(flag) && !inline_value) {
        bools_.insert(flag);
      } else {
        throw std::invalid_argument("unknown option " + a);
      }
    } else {
      positional_.push_back(a);
    }
  }
}

std::string Args::get(const std::string& flag, const std::string& def) const {
  auto it = values_.find(flag);
  return it == values_.end() ? def : it->second;
}

int64_t Args::get_int(const std::string& flag, int64_t def, int64_t min, int64_t max) const {
  auto it = values_.find(flag);
  return it == values_.end() ? def : parse_int(it->second, flag, min, max);
}

double Args::get_float(const std::string& flag, double def, double min, double max) const {
  auto it = values_.find(flag);
  return it == values_.end() ? def : parse_float(it->second, flag, min, max);
}

std::string Args::flag_of(std::initializer_list<const char*> aliases) const {
  std::string found;
  for (const char* a : aliases) {
    if (!has(a)) continue;
    if (!found.empty()) throw std::invalid_argument("give " + found + " or " + a + ", not both");
    found = a;
  }
  return found.empty() ? *aliases.begin() : found;
}

}  // namespace vkmoe
