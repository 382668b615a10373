// Issue 13 at the library level: checked numbers, safe files, the demo model cache (concurrent
// first runs, planted links, damaged files heal) and a model file that shrinks while mapped.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/gguf/gguf_writer.h"
#include "runtime/model/demo_model.h"
#include "runtime/tokenizer/chat_template.h"
#include "runtime/util/parse_number.h"
#include "runtime/util/safe_file.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  auto d = fs::temp_directory_path() / ("vkmoe_robust_" + std::to_string(seed())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Sets an environment variable for one scope.
struct EnvScope {
  std::string name;
  std::string old;
  bool had;
  EnvScope(const char* n, const std::string& v) : name(n), had(std::getenv(n) != nullptr) {
    if (had) old = std::getenv(n);
    setenv(n, v.c_str(), 1);
  }
  ~EnvScope() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("numbers: whole text, range, finite; errors name the option and quote the text") {
  CHECK(parse_int("42", "-n", 0, 100) == 42);
  CHECK(parse_int("-1", "-n", -1, 100) == -1);
  CHECK(parse_int("+7", "-n", 0, 100) == 7);
  CHECK_THROWS_WITH(parse_int("4294967297", "-n", 0, INT32_MAX), doctest::Contains("-n: '4294967297' is out of range"));
  CHECK_THROWS_WITH(parse_int("99999999999999999999", "-n"), doctest::Contains("out of range"));
  for (const char* bad : {"", "abc", "5x", " 5", "1.5", "0x10", "--3"})
    CHECK_THROWS_WITH(parse_int(bad, "-n"), doctest::Contains("is not an integer"));
  CHECK(parse_float("0.5", "--temp", 0, 1) == 0.5);
  CHECK(parse_float("1e-3", "--temp", 0, 1) == doctest::Approx(1e-3));
  for (const char* bad : {"nan", "inf", "-inf", "1e999"})
    CHECK_THROWS_WITH(parse_float(bad, "--temp", 0, 1), doctest::Contains("is not a finite number"));
  CHECK_THROWS_WITH(parse_float("2", "--top-p", 0, 1), doctest::Contains("--top-p: '2' is out of range"));
  CHECK_THROWS_WITH(parse_float("x", "--top-p", 0, 1), doctest::Contains("is not a number"));
  EnvScope env("VKMOE_TEST_NUMBER", "abc");
  CHECK_THROWS_WITH(env_int("VKMOE_TEST_NUMBER", 1, 0, 10), doctest::Contains("VKMOE_TEST_NUMBER: 'abc'"));
}

TEST_CASE("safe files: a link at the target is replaced, never followed; no temporary file is left") {
  auto dir = scratch("safe");
  const auto victim = dir / "victim", target = dir / "out.bin";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, target);
  const std::vector<uint8_t> bytes = {1, 2, 3};
  write_file_safely(target, bytes);
  CHECK(read_all(victim) == "precious");
  CHECK_FALSE(fs::is_symlink(target));
  CHECK(read_all(target) == std::string("\x01\x02\x03"));
  size_t files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file() || e.is_symlink();
  CHECK(files == 2);
  CHECK_THROWS_WITH(write_file_safely(dir, bytes), doctest::Contains("is a directory"));
  CHECK_THROWS_WITH(read_regular_file(dir), doctest::Contains("is a directory"));
  REQUIRE(mkfifo((dir / "fifo").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_regular_file(dir / "fifo"), doctest::Contains("is a FIFO"));
  CHECK_THROWS_WITH(refuse_same_file(target, {dir / "x", target}), doctest::Contains("is the input"));
  CHECK_NOTHROW(refuse_same_file(dir / "new", {target}));
}

TEST_CASE("private directories: made 0700; a link, another's or an open one is refused") {
  auto dir = scratch("private");
  auto p = private_dir(dir, "mine");
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK_NOTHROW(private_dir(dir, "mine"));
  fs::create_directory_symlink(p, dir / "link");
  CHECK_THROWS_WITH(private_dir(dir, "link"), doctest::Contains("not a directory"));
  fs::create_directory(dir / "open");
  chmod((dir / "open").c_str(), 0777);
  CHECK_THROWS_WITH(private_dir(dir, "open"), doctest::Contains("others can access it"));
}

TEST_CASE("demo cache: concurrent first runs, a planted link and damaged files all end in a whole model") {
  auto dir = scratch("demo");
  EnvScope env("VKMOE_CACHE_DIR", dir.string());
  // Two first runs at once: each writes its own temporary file.
  fs::path a, b;
  std::thread t1([&] { a = demo_model_path(false); }), t2([&] { b = demo_model_path(false); });
  t1.join();
  t2.join();
  REQUIRE(a == b);
  CHECK(demo_model_intact(a));
  const std::string good = read_all(a);
  CHECK(std::vector<uint8_t>(good.begin(), good.end()) == make_demo_model());
  // Truncated, then one byte flipped in the middle: both are written again.
  fs::resize_file(a, good.size() / 2);
  CHECK_FALSE(demo_model_intact(a));
  CHECK(demo_model_path(false) == a);
  CHECK(read_all(a) == good);
  {
    std::fstream f(a, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(good.size() * 3 / 4));
    f.put(static_cast<char>(good[good.size() * 3 / 4] ^ 0x40));
  }
  CHECK_FALSE(demo_model_intact(a));
  demo_model_path(false);
  CHECK(read_all(a) == good);
  // A link planted at the cache file: replaced by the model, the file it pointed to untouched.
  const auto victim = dir / "victim";
  std::ofstream(victim) << "precious";
  fs::remove(a);
  fs::create_symlink(victim, a);
  demo_model_path(false);
  CHECK(read_all(victim) == "precious");
  CHECK(read_all(a) == good);
  size_t files = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++files;
  CHECK(files == 2);  // the model and the victim: no temporary file left
}

TEST_CASE("a model file that shrinks while mapped gives an error, not SIGBUS") {
  auto dir = scratch("sigbus");
  GgufWriter w;
  w.set_string("general.architecture", "test");
  std::vector<uint8_t> data(1 << 20, 0x5a);
  w.add_tensor("big", GgmlType::I8, {data.size()}, data);
  const auto path = dir / "model.gguf";
  w.write(path);
  auto f = GgufFile::open(path);
  CHECK_NOTHROW(f.check_intact());
  // Overwritten by another program while loading: only the header remains.
  REQUIRE(truncate(path.c_str(), 4096) == 0);
  auto bytes = f.tensor_data(*f.find_tensor("big"));
  uint64_t sum = 0;
  for (uint8_t x : bytes) sum += x;  // reads past the new end: zeros instead of SIGBUS
  CHECK(sum < uint64_t{0x5a} * data.size());
  CHECK_THROWS_WITH(f.check_intact(), doctest::Contains("changed while it was in use"));
}

TEST_CASE("chat template names round-trip and an unknown one lists the names") {
  for (ChatFormat f : {ChatFormat::ChatMl, ChatFormat::Mistral, ChatFormat::DeepSeek, ChatFormat::Tulu})
    CHECK(parse_chat_format(chat_format_name(f)) == f);
  CHECK_THROWS_WITH(parse_chat_format("llama9"), doctest::Contains("chatml, mistral, deepseek, tulu"));
}
