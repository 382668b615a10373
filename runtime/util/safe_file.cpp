#include "runtime/util/safe_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace vkmoe {

namespace {

[[noreturn]] void fail(const std::filesystem::path& p, const std::string& what, int err = 0) {
  throw std::runtime_error(p.string() + ": " + what + (err ? std::string(": ") + std::strerror(err) : ""));
}

// Closes on scope exit; the temporary file is removed unless released.
struct TempFile {
  int fd = -1;
  std::string path;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }
};

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "is a directory";
  if (S_ISFIFO(m)) return "is a FIFO";
  if (S_ISCHR(m) || S_ISBLK(m)) return "is a device";
  if (S_ISSOCK(m)) return "is a socket";
  return "is not a regular file";
}

}  // namespace

void write_file_safely(const std::filesystem::path& target, std::span<const uint8_t> bytes) {
  if (target.empty()) throw std::invalid_argument("empty output path");
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) fail(target, std::string("cannot write: it ") + kind_of(st.st_mode));
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  TempFile tmp;
  std::string name = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  tmp.fd = ::mkstemp(name.data());  // O_CREAT | O_EXCL, mode 0600: nothing planted is followed
  if (tmp.fd < 0) fail(dir, "cannot create a file", errno);
  tmp.path = name;
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(tmp.fd, 0666 & ~mask) != 0) fail(name, "cannot set the mode", errno);
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(tmp.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(target, "cannot write", n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
  if (::fsync(tmp.fd) != 0) fail(target, "cannot write", errno);
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) fail(target, "cannot write", errno);
  // rename replaces a link at the target itself, never the file it points to.
  if (::rename(name.c_str(), target.c_str()) != 0) fail(target, "cannot write", errno);
  tmp.path.clear();
}

int open_regular_file(const std::filesystem::path& path) {
  if (path.empty()) throw std::invalid_argument("empty file name");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    if (!S_ISREG(st.st_mode) && st.st_mode) fail(path, std::string("cannot read: it ") + kind_of(st.st_mode));
    fail(path, "cannot stat", err);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string read_regular_file(const std::filesystem::path& path) {
  TempFile f;  // only its descriptor: path stays empty
  f.fd = open_regular_file(path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "cannot read", errno);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

void refuse_same_file(const std::filesystem::path& output, const std::vector<std::filesystem::path>& inputs) {
  struct stat out {};
  if (::stat(output.c_str(), &out) != 0) return;  // a new file cannot be an input
  for (const auto& in : inputs) {
    struct stat st {};
    if (!in.empty() && ::stat(in.c_str(), &st) == 0 && st.st_dev == out.st_dev && st.st_ino == out.st_ino)
      throw std::invalid_argument("the output " + output.string() + " is the input " + in.string() +
                                  "; choose another output file");
  }
}

std::filesystem::path private_dir(const std::filesystem::path& parent, const std::string& name) {
  const auto dir = parent / name;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail(dir, "cannot create the directory", errno);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) fail(dir, "cannot stat", errno);
  if (!S_ISDIR(st.st_mode)) fail(dir, "refusing to use it: it is not a directory (a link?)");
  if (st.st_uid != ::geteuid())
    fail(dir, "refusing to use it: it belongs to user " + std::to_string(st.st_uid) + ", not to this user (" +
                  std::to_string(::geteuid()) + "); set VKMOE_CACHE_DIR or HOME");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    fail(dir, std::string("refusing to use it: others can access it (mode ") + mode + ")");
  }
  return dir;
}

}  // namespace vkmoe
