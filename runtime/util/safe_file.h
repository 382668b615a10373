// Files vkmoe reads and writes on the user's behalf, done safely:
// - write_file_safely never writes through a path someone else could have planted (a symlink or
//   a predictable temporary name): it writes a private mkstemp file beside the target, fsyncs it
//   and renames it over the target, so readers see the old file or the whole new one.
// - read_regular_file refuses directories, FIFOs and devices before reading (a FIFO would block).
// - refuse_same_file stops an output from replacing one of the inputs, links resolved.
// - private_dir makes (or checks) a directory only this user can write, for shared places
//   like /tmp.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace vkmoe {

void write_file_safely(const std::filesystem::path& target, std::span<const uint8_t> bytes);
std::string read_regular_file(const std::filesystem::path& path);
// Opens a regular file read-only (non-blocking open, so a FIFO cannot hang); throws naming the
// path otherwise. The caller owns the descriptor.
int open_regular_file(const std::filesystem::path& path);
void refuse_same_file(const std::filesystem::path& output, const std::vector<std::filesystem::path>& inputs);
// <parent>/<name>, created with mode 0700 if missing; refused unless it is a real directory
// (not a link) owned by this user and closed to others.
std::filesystem::path private_dir(const std::filesystem::path& parent, const std::string& name);

}  // namespace vkmoe
