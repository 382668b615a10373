#pragma once
#include <string>
#include <vector>

namespace vkmoe {

int cmd_devices(const std::vector<std::string>& args);
int cmd_selfcheck(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_run(const std::vector<std::string>& args);
int cmd_chat(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);
int cmd_synth(const std::vector<std::string>& args);
int cmd_serve(const std::vector<std::string>& args);

}  // namespace vkmoe
