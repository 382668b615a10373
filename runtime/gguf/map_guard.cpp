#include "runtime/gguf/map_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace vkmoe {

namespace {

constexpr int kSlots = 64;

// Lock-free for the handler: a slot is live while size != 0.
struct Slot {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> size{0};
  std::atomic<bool> faulted{false};
};
Slot g_slots[kSlots];
std::mutex g_mutex;  // add/remove only
struct sigaction g_previous;
bool g_installed = false;

void on_sigbus(int sig, siginfo_t* info, void* ucontext) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    const size_t size = s.size.load();
    const uintptr_t base = s.base.load();
    if (!size || addr < base || addr >= base + size) continue;
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t from = addr / page * page, to = (base + size + page - 1) / page * page;
    // mmap is a plain system call on Linux, safe here in practice; the faulting read is then
    // retried and sees zeros.
    if (mmap(reinterpret_cast<void*>(from), to - from, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
        MAP_FAILED) {
      s.faulted.store(true);
      return;
    }
  }
  // Not ours: behave as before this handler existed.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) return g_previous.sa_sigaction(sig, info, ucontext);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  signal(SIGBUS, SIG_DFL);  // the read is retried and the default action ends the process
}

}  // namespace

int map_guard_add(const void* base, size_t size) {
  std::lock_guard lock(g_mutex);
  if (!g_installed) {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0) return -1;
    g_installed = true;
  }
  for (int i = 0; i < kSlots; ++i) {
    if (g_slots[i].size.load()) continue;
    g_slots[i].faulted.store(false);
    g_slots[i].base.store(reinterpret_cast<uintptr_t>(base));
    g_slots[i].size.store(size);
    return i;
  }
  return -1;
}

void map_guard_remove(int id) {
  if (id < 0 || id >= kSlots) return;
  std::lock_guard lock(g_mutex);
  g_slots[id].size.store(0);
  g_slots[id].base.store(0);
}

bool map_guard_faulted(int id) { return id >= 0 && id < kSlots && g_slots[id].faulted.load(); }

}  // namespace vkmoe
