#include "runtime/server/connection.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

namespace vkmoe {
namespace {

// One end of a socket as numeric host and port; false when it has none (not an IP socket).
bool end_of(int fd, bool peer, std::string& host, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if ((peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
            : getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)) != 0)
    return false;
  if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) return false;
  char h[NI_MAXHOST], p[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  host = h;
  port = std::atoi(p);
  return true;
}

}  // namespace

int find_connection(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    char* end = nullptr;
    const long fd = std::strtol(entry.path().filename().c_str(), &end, 10);
    struct stat st {};
    if (*end || fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    std::string host;
    int port = 0;
    if (!end_of(static_cast<int>(fd), false, host, port) || port != local_port || host != local_addr) continue;
    if (end_of(static_cast<int>(fd), true, host, port) && port == remote_port && host == remote_addr)
      return static_cast<int>(fd);
  }
  return -1;
}

bool peer_closed(int fd) {
  if (fd < 0) return false;
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;
  if (n == 0) return true;  // the peer's end of stream
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace vkmoe
