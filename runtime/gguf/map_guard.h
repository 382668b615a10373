// Guards read-only file mappings against SIGBUS. When a mapped file shrinks (overwritten or
// truncated while a model loads), reading a page past its new end raises SIGBUS, which would kill
// the process. The handler installed here maps zero pages over the rest of that mapping instead
// and marks it faulted; the owner then reports the damage as an error (GgufFile::check_intact).
// A SIGBUS outside every registered mapping keeps its previous meaning.
#pragma once
#include <cstddef>

namespace vkmoe {

// Returns a slot id for remove() and faulted(); -1 when every slot is taken (then unguarded).
int map_guard_add(const void* base, size_t size);
void map_guard_remove(int id);
bool map_guard_faulted(int id);

}  // namespace vkmoe
