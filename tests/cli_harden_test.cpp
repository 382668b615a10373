// Issue 13's hostile and careless inputs, each through the real command line: a clear error that
// names the problem (before any work where the input alone is wrong), never a crash, a hang, an
// overwritten file or a silent wrong answer. Models are the shared tiny qwen3moe, rewritten.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/gguf/gguf_writer.h"
#include "runtime/quant/quant.h"
#include "tests/cli_util.h"

using namespace vkmoe;
using namespace vkmoe::test;
namespace fs = std::filesystem;

namespace {

// Pipelines compiled once for the whole suite (first use of each costs seconds on lavapipe).
const std::string kWarmCache = "VKMOE_CACHE_DIR=" + (fs::temp_directory_path() / "vkmoe_cli_harden_cache").string();

CliResult run(const std::string& args, const std::string& env = "") { return run_vkmoe(args, "", kWarmCache + " " + env); }
int code(const CliResult& r) { return WEXITSTATUS(r.status); }

fs::path scratch() {
  static const fs::path dir = [] {
    auto d = fs::temp_directory_path() / ("vkmoe_harden_" + std::to_string(seed()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

fs::path tiny_model() {
  auto dir = shared_dir();
  return dir.empty() ? fs::path() : dir / "models/qwen3moe-tiny-f32.gguf";
}

// The tiny model copied with changes: `meta` sets keys after the copy (replacing), `tensor` may
// write a tensor itself (returns true) or leave it to be copied.
using TensorEdit = std::function<bool(GgufWriter&, const GgufFile&, const GgufTensorInfo&)>;
fs::path edited_model(const std::string& name, const std::function<void(GgufWriter&)>& meta, const TensorEdit& tensor = {}) {
  auto src = GgufFile::open(tiny_model());
  GgufWriter w;
  for (const auto& m : src.metadata()) w.set_value(m.key, *src.get_value(m.key));
  if (meta) meta(w);
  for (const auto& t : src.tensors()) {
    if (tensor && tensor(w, src, t)) continue;
    w.add_tensor(t.name, t.type, t.shape, src.tensor_data(t));
  }
  auto path = scratch() / name;
  w.write(path);
  return path;
}

std::vector<float> floats_of(const GgufFile& f, const GgufTensorInfo& t) {
  auto d = f.tensor_data(t);
  std::vector<float> v(d.size() / 4);
  std::memcpy(v.data(), d.data(), d.size());
  return v;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

#define NEED_SHARED()                                \
  if (tiny_model().empty()) {                        \
    MESSAGE("../shared not present: skipped");       \
    return;                                          \
  }

}  // namespace

TEST_CASE("1: without HOME the demo model goes to a private directory; a planted link there is refused") {
  const auto tmp = scratch() / "tmp";
  const auto victim = scratch() / "victim";
  fs::create_directories(tmp);
  fs::create_directories(victim);
  fs::create_directory_symlink(victim, tmp / ("vkmoe-" + std::to_string(geteuid())));
  auto r = run("run -n 1", "VKMOE_CACHE_DIR= HOME= XDG_CACHE_HOME= TMPDIR=" + tmp.string());
  INFO(r.out);
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "refusing to use it"));
  CHECK(fs::is_empty(victim));
}

TEST_CASE("3: eval refuses an output that is its model, also through a link") {
  NEED_SHARED();
  const auto model = scratch() / "model.gguf";
  fs::copy_file(tiny_model(), model, fs::copy_options::overwrite_existing);
  const std::string before = file_bytes(model);
  fs::create_symlink(model, scratch() / "logits.f32");
  for (const auto& out : {model, scratch() / "logits.f32"}) {
    auto r = run("eval -m " + model.string() + " --tokens 1,2 --out " + out.string());
    INFO(r.out);
    CHECK(code(r) == 1);
    CHECK(contains(r.out, "is the input"));
  }
  CHECK(file_bytes(model) == before);
}

TEST_CASE("5, 9: a FIFO or a directory as an input file is refused at once") {
  const auto fifo = scratch() / "fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto r = run("run -m " + fifo.string() + " -n 1", "timeout 60");
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "is a FIFO"));
  r = run("run -f " + scratch().string() + " -n 1");
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "is a directory"));
  r = run("tokenize -m " + fifo.string() + " --file " + scratch().string());
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "is a directory"));
}

TEST_CASE("6, 7, 15, 17, 20: every number is checked, before any work") {
  // A missing model in each command shows that the options were refused before loading.
  const std::string m = " -m /no/such.gguf";
  const std::pair<std::string, std::string> cases[] = {
      {"run --temp nan" + m, "--temp: 'nan' is not a finite number"},
      {"run --temp inf" + m, "--temp: 'inf' is not a finite number"},
      {"run --repeat-penalty 0" + m, "--repeat-penalty: '0' is out of range"},
      {"run --repeat-penalty -1" + m, "--repeat-penalty: '-1' is out of range"},
      {"run --top-p 1.5" + m, "--top-p: '1.5' is out of range"},
      {"run -n 4294967297" + m, "-n: '4294967297' is out of range"},
      {"run -c -1" + m, "-c: '-1' is out of range"},
      {"run -c 4294967296" + m, "-c: '4294967296' is out of range"},
      {"run --batch 0" + m, "--batch: '0' is out of range"},
      {"run --seed abc" + m, "--seed: 'abc' is not an integer"},
      {"run --top-k 5x" + m, "--top-k: '5x' is not an integer"},
      {"run --mem-budget 0" + m, "--mem-budget: '0' is no memory"},
      {"run -m ''", "-m: empty path"},
      {"run -p ''" + m, "the prompt is empty"},
      {"run -p a -f /etc/hostname" + m, "give the prompt once"},
      {"run -n 1 -n 2" + m, "-n is given twice"},
      {"eval --tokens 1,4294967297 --out x" + m, "--tokens: '4294967297' is not a token id of this model"},
      {"eval --tokens 1,,2 --out x" + m, "--tokens: '' is not a token id"},
      {"chat --chat-template nosuch" + m, "--chat-template: 'nosuch' is not a template vkmoe knows"},
      {"inspect /no/such.gguf -c 0", "-c: '0' is out of range"},
  };
  for (const auto& [args, want] : cases) {
    auto r = run(args);
    INFO(args, "\n", r.out);
    CHECK(code(r) == 1);
    CHECK(contains(r.out, want));
    CHECK_FALSE(contains(r.out, "/no/such.gguf: cannot open"));
  }
  auto r = run("run" + m, "VKMOE_FENCE_TIMEOUT_S=abc");
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "VKMOE_FENCE_TIMEOUT_S: 'abc' is not an integer"));
}

TEST_CASE("8: run takes one positional argument as the prompt, and refuses two") {
  auto r = run("run \"Hello there\" -n 2 --seed 1 --quiet");
  INFO(r.out);
  CHECK(code(r) == 0);
  CHECK(r.out.rfind("Hello there", 0) == 0);
  r = run("run Hello there -n 2");
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "give the prompt once"));
}

TEST_CASE("10: NaN metadata is refused at load; NaN weights fail naming the first layer") {
  NEED_SHARED();
  auto bad_eps = edited_model("nan_eps.gguf", [](GgufWriter& w) {
    w.set_float32("qwen3moe.attention.layer_norm_rms_epsilon", std::numeric_limits<float>::quiet_NaN());
  });
  auto r = run("eval -m " + bad_eps.string() + " --tokens 1 --out " + (scratch() / "l.f32").string());
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "layer_norm_rms_epsilon"));
  auto bad_norm = edited_model("nan_norm.gguf", {}, [](GgufWriter& w, const GgufFile& f, const GgufTensorInfo& t) {
    if (t.name != "blk.1.ffn_norm.weight") return false;
    auto v = floats_of(f, t);
    v[3] = std::numeric_limits<float>::quiet_NaN();
    w.add_tensor(t.name, t.type, t.shape, quantize(GgmlType::F32, v));
    return true;
  });
  r = run("eval -m " + bad_norm.string() + " --tokens 1,2,3 --out " + (scratch() / "l.f32").string());
  INFO(r.out);
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "NaN or Inf logits"));
  CHECK(contains(r.out, "layer 1"));
  CHECK(contains(r.out, bad_norm.string()));
}

TEST_CASE("12: tensors the model would not use are refused, naming the first") {
  NEED_SHARED();
  auto one_layer = edited_model("one_layer.gguf", [](GgufWriter& w) { w.set_uint32("qwen3moe.block_count", 1); });
  auto r = run("eval -m " + one_layer.string() + " --tokens 1 --out " + (scratch() / "l.f32").string());
  INFO(r.out);
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "tensor 'blk.1."));
  CHECK(contains(r.out, "is not used"));
}

TEST_CASE("13: without a Vulkan driver, inspect still works and the rest say how to install one") {
  NEED_SHARED();
  const std::string no_driver = "VK_ICD_FILENAMES=/nonexistent/icd.json VK_DRIVER_FILES=/nonexistent/icd.json";
  auto r = run("inspect " + tiny_model().string(), no_driver);
  INFO(r.out);
  CHECK(code(r) == 0);
  CHECK(contains(r.out, "parameters:"));
  CHECK(contains(r.out, "devices: unavailable"));
  r = run("eval -m " + tiny_model().string() + " --tokens 1 --out " + (scratch() / "l.f32").string(), no_driver);
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "no Vulkan driver was found"));
  CHECK(contains(r.out, "mesa-vulkan-drivers"));
}

TEST_CASE("14: a vocabulary shorter than the output tensor is refused at load, naming the file") {
  NEED_SHARED();
  auto src = GgufFile::open(tiny_model());
  auto short_vocab = edited_model("short_vocab.gguf", [&](GgufWriter& w) {
    for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"}) {
      auto v = src.get_value(key);
      if (!v) continue;
      v->items.resize(300);
      w.set_value(key, *v);
    }
  });
  auto r = run("run -m " + short_vocab.string() + " -n 4");
  INFO(r.out);
  CHECK(code(r) == 1);
  CHECK(contains(r.out, short_vocab.string()));
  CHECK(contains(r.out, "the vocabulary has 300 tokens"));
}

TEST_CASE("15: -c beyond the training context warns; -c 0 is the training context") {
  NEED_SHARED();
  auto short_ctx = edited_model("short_ctx.gguf", [](GgufWriter& w) { w.set_uint32("qwen3moe.context_length", 64); });
  const std::string out = (scratch() / "l.f32").string();
  auto r = run("eval -m " + short_ctx.string() + " -c 128 --tokens 1,2 --out " + out);
  INFO(r.out);
  CHECK(code(r) == 0);
  CHECK(contains(r.out, "warning: -c 128 exceeds the context"));
  r = run("eval -m " + short_ctx.string() + " -c 0 --tokens 1,2 --out " + out);
  CHECK(code(r) == 0);
  CHECK_FALSE(contains(r.out, "warning"));
}

TEST_CASE("16: chat: the template is checked at load, an over-long message is dropped alone") {
  NEED_SHARED();
  auto odd = edited_model("odd_template.gguf", [](GgufWriter& w) { w.set_string("tokenizer.chat_template", "{{ odd }}"); });
  auto r = run_vkmoe("chat -m " + odd.string(), "hello\\n", kWarmCache);
  INFO(r.out);
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "--chat-template"));
  std::string longer;
  for (int i = 0; i < 40; ++i) longer += "many words here ";
  r = run_vkmoe("chat -m " + odd.string() + " --chat-template chatml -c 48 -n 4 --seed 1", longer + "\\nhi\\n/exit\\n",
                kWarmCache);
  INFO(r.out);
  CHECK(code(r) == 0);
  CHECK(contains(r.out, "[message not sent"));
  CHECK(contains(r.out, "decode: 4 tokens"));
}

TEST_CASE("16: Ctrl-C stops the reply, not the chat") {
  NEED_SHARED();
  // With seed 2 the tiny model's random weights do not end their turn within 400 tokens: the
  // reply runs until interrupted.
  const auto dir = scratch() / "sigint";
  fs::create_directories(dir);
  const std::string script =
      "d=" + dir.string() + "\nmkfifo $d/in\n" + kWarmCache + " " + VKMOE_EXE + " chat -m " + tiny_model().string() +
      " -n 1000 --seed 2 < $d/in > $d/out 2>&1 &\npid=$!\nexec 3>$d/in\n"
      "for i in $(seq 600); do grep -q 'chat format' $d/out && break; sleep 0.1; done\n"
      "s0=$(wc -c < $d/out)\necho hello >&3\n"
      "for i in $(seq 600); do [ $(wc -c < $d/out) -gt $((s0 + 100)) ] && break; sleep 0.1; done\n"
      "kill -INT $pid\nsleep 1\necho /exit >&3\nexec 3>&-\nwait $pid\necho \"rc=$?\"\ncat $d/out\n";
  std::ofstream(dir / "run.sh") << script;
  FILE* p = popen(("bash " + (dir / "run.sh").string()).c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  INFO(out);
  CHECK(contains(out, "rc=0"));
  CHECK(contains(out, "[reply stopped]"));
  CHECK(contains(out, "decode:"));
}

TEST_CASE("18: bench kernels --model with no match is an error") {
  auto r = run("bench kernels --quick --model nosuch");
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "no layer shape is named like 'nosuch'"));
}

TEST_CASE("19: errors from deep in the loader name the file") {
  NEED_SHARED();
  // An integer matrix (I16) is a type no weight kernel reads (mixed float types are supported).
  auto mixed = edited_model("i16_expert.gguf", {}, [](GgufWriter& w, const GgufFile& f, const GgufTensorInfo& t) {
    if (t.name != "blk.0.ffn_up_exps.weight") return false;
    w.add_tensor(t.name, GgmlType::I16, t.shape, quantize(GgmlType::F16, floats_of(f, t)));
    return true;
  });
  auto r = run("eval -m " + mixed.string() + " --tokens 1 --out " + (scratch() / "l.f32").string());
  INFO(r.out);
  CHECK(code(r) == 1);
  CHECK(contains(r.out, "error: " + mixed.string() + ": "));
}

TEST_CASE("no_vocab files (llama.cpp's test files): eval from token ids works, run and chat say why they cannot") {
  NEED_SHARED();
  auto no_vocab = edited_model("no_vocab.gguf", [](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "no_vocab"); });
  auto r = run("eval -m " + no_vocab.string() + " --tokens 1,2,3 --out " + (scratch() / "nv.f32").string());
  INFO(r.out);
  CHECK(code(r) == 0);
  for (const char* cmd : {"run -n 2 -p hi", "chat"}) {
    r = run(std::string(cmd) + " -m " + no_vocab.string());
    INFO(r.out);
    CHECK(code(r) == 1);
    CHECK(contains(r.out, "has no vocabulary"));
    CHECK(contains(r.out, "eval --tokens"));
  }
}
