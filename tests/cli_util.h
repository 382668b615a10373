// Running the vkmoe executable from a test, as a user would: shared by the CLI suites.
#pragma once
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/test_util.h"

namespace vkmoe::test {

struct CliResult {
  int status;       // as from pclose: use WEXITSTATUS
  std::string out;  // stdout and stderr together
};

// A private cache per test run, so the demo model and pipeline cache are exercised from scratch.
inline std::string cli_cache_dir() {
  return (std::filesystem::temp_directory_path() / ("vkmoe_cli_" + std::to_string(seed()))).string();
}

// `env` goes before the command (e.g. "VK_ICD_FILENAMES=/none"); `input` is piped to stdin.
inline CliResult run_vkmoe(const std::string& args, const std::string& input = "", const std::string& env = "") {
  std::string cmd = "VKMOE_VALIDATE=1 VKMOE_SYNC_VALIDATION=1 VKMOE_CACHE_DIR=" + cli_cache_dir() + " " + env + " " +
                    VKMOE_EXE + " " + args + " 2>&1";
  if (!input.empty()) cmd = "printf '" + input + "' | " + cmd;
  CliResult r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace vkmoe::test
