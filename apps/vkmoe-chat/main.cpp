// vkmoe-chat: a Dear ImGui chat window that shows, live, which experts each token goes to.
// Laid out as Dear ImGui's example_glfw_vulkan: setup, the frame loop (events, new frame, draw,
// render, present), cleanup. The model runs on a worker thread (chat_worker), the window's
// Vulkan drawing on its own instance and device (vulkan_window).
#define GLFW_INCLUDE_NONE
#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_vulkan.h>
#include <imgui.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "apps/vkmoe-chat/chat_app.h"
#include "apps/vkmoe-chat/screenshot.h"
#include "apps/vkmoe-chat/vulkan_window.h"
#include "runtime/vk/check.h"

namespace {

using namespace vkmoe;

const ImVec4 kClearColor(0.08f, 0.08f, 0.10f, 1.0f);

struct HeadlessOptions {
  std::string screenshot;  // empty: an interactive window
  int frames = 120;
  std::string prompt;
};

Args parse_args(int argc, char** argv) {
  std::set<std::string> values = model_value_flags(), bools = model_bool_flags();
  for (const auto& s : sampler_value_flags()) values.insert(s);
  for (const auto& s : chat_value_flags()) values.insert(s);
  for (const char* s : {"--screenshot", "--frames", "--prompt"}) values.insert(s);
  std::vector<std::string> argv_list(argv + 1, argv + argc);
  Args args(argv_list, values, bools);
  if (!args.has("--screenshot")) return args;
  // The headless picture is reproducible and quick: a fixed seed (one where the demo model
  // answers "Hello" in words), and a reply of at most 48 tokens (the demo model does not always
  // end its turn), unless given.
  std::vector<std::string> defaults;
  if (!args.has("--seed") && !args.has("-s")) defaults.insert(defaults.end(), {"--seed", "2"});
  if (!args.has("-n")) defaults.insert(defaults.end(), {"-n", "48"});
  argv_list.insert(argv_list.begin(), defaults.begin(), defaults.end());
  return Args(argv_list, values, bools);
}

void usage() {
  std::printf(
      "usage: vkmoe-chat [-m model.gguf] [--device N|NAME] [-c N] [--seed N] [--temp T] [--system "
      "TEXT] [-n N]\n"
      "                  [--screenshot out.png --frames N --prompt TEXT]\n"
      "Without -m, the built-in demo model. --screenshot: run N frames (default 120), send the "
      "prompt at\n"
      "frame 1, wait for the reply, write the last frame as a PNG and exit: a headless test under\n"
      "xvfb-run. It defaults to --seed 2 -n 48 so the picture is reproducible and quick.\n");
}

void on_glfw_error(int error, const char* description) {
  std::fprintf(stderr, "vkmoe-chat: GLFW error %d: %s\n", error, description);
}

// DejaVu Sans where the system has it: easier to read than ImGui's built-in bitmap font.
void load_font() {
  ImGuiIO& io = ImGui::GetIO();
  const char* path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
  // Latin, Greek, Cyrillic, punctuation, arrows, box drawing, and U+FFFD for malformed text.
  static const ImWchar ranges[] = {0x0020, 0x024F, 0x0370, 0x04FF, 0x2000, 0x206F, 0x2190,
                                   0x21FF, 0x2500, 0x257F, 0xFFFD, 0xFFFD, 0};
  if (std::filesystem::exists(path) && io.Fonts->AddFontFromFileTTF(path, 16.0f, nullptr, ranges))
    return;
  io.Fonts->AddFontDefault();
}

int run(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  HeadlessOptions headless{args.get("--screenshot"),
                           static_cast<int>(args.get_int("--frames", 120, 1, 1000000)),
                           args.get("--prompt", "Hello")};
  // Every option is checked before the window opens.
  ChatWorkerOptions options = chat_worker_options_from_args(args);

  // Setup: window, Vulkan, Dear ImGui.
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) throw std::runtime_error("GLFW could not start (no display? try xvfb-run)");
  glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
  GLFWwindow* window = glfwCreateWindow(1280, 800, "vkmoe-chat", nullptr, nullptr);
  if (!window) throw std::runtime_error("GLFW could not open a window");
  if (!glfwVulkanSupported()) throw std::runtime_error("GLFW found no Vulkan loader");
  VulkanWindow vw;
  setup_vulkan(vw, window);
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;  // the layout is fixed; write no imgui.ini
  ImGui::StyleColorsDark();
  ImGui::GetStyle().FrameRounding = 3.0f;
  load_font();
  ImGui_ImplGlfw_InitForVulkan(window, true);
  init_imgui_vulkan(vw);

  // The model loads on the worker thread while the window already draws.
  ChatWorker worker(std::move(options));
  ChatApp app(worker, vw.device_name);

  // The frame loop.
  int frame = 0;
  bool sent = false, wrote = false;
  while (!glfwWindowShouldClose(window)) {
    // Sleep until input, or at most a 30th of a second while the model loads or writes (the
    // stream still shows smoothly and the model keeps the CPU on lavapipe), half a second when
    // idle: drawing costs CPU too where the GPU is software.
    const bool busy = !headless.screenshot.empty() || !app.loaded() || app.replying();
    glfwWaitEventsTimeout(busy ? 1.0 / 30 : 0.5);
    resize_if_needed(vw, window);
    // The prompt goes at frame 1, or once the model has loaded if that takes longer.
    if (!headless.screenshot.empty() && frame >= 1 && !sent && app.loaded()) {
      app.send(headless.prompt);
      sent = true;
    }

    ImGui_ImplVulkan_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    app.frame();
    ImGui::Render();
    ImDrawData* draw_data = ImGui::GetDrawData();
    const bool minimized = draw_data->DisplaySize.x <= 0.0f || draw_data->DisplaySize.y <= 0.0f;
    if (!minimized) {
      frame_render(vw, draw_data, kClearColor);
      frame_present(vw);
    }
    ++frame;
    if (!headless.screenshot.empty() && frame >= headless.frames &&
        ((sent && !app.replying()) || app.failed())) {
      save_screenshot(vw, draw_data, kClearColor, headless.screenshot);
      std::fprintf(stderr, "vkmoe-chat: wrote %s after %d frames\n", headless.screenshot.c_str(),
                   frame);
      wrote = true;
      break;
    }
  }

  // Cleanup, in reverse: the worker (and the model), then ImGui, Vulkan and the window.
  worker.stop();
  VK_CHECK(vkDeviceWaitIdle(vw.device));
  ImGui_ImplVulkan_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  cleanup_vulkan(vw);
  glfwDestroyWindow(window);
  glfwTerminate();

  // With VKMOE_VALIDATE=1 a validation error anywhere fails the run, as in the tests.
  if (const uint32_t errors = render_validation_errors() + worker.validation_errors()) {
    std::fprintf(stderr, "vkmoe-chat: %u Vulkan validation errors\n", errors);
    return 1;
  }
  if (headless.screenshot.empty()) return 0;
  return wrote && app.errors() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      usage();
      return 0;
    }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vkmoe-chat: error: %s\n", e.what());
    return 1;
  }
}
