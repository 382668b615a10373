// UTF-8 helpers the tokenizers share, and GPT-2's byte <-> character mapping for byte-level BPE.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace vkmoe {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the character starting at text[pos]. Returns its length in bytes (at least 1);
// a malformed or truncated sequence gives U+FFFD and length 1 so that every byte is consumed.
size_t utf8_decode(std::string_view text, size_t pos, char32_t& cp);

void utf8_append(std::string& out, char32_t cp);

// Length of the longest prefix of `bytes` that does not end inside a character that more bytes
// could still complete (a malformed sequence counts as complete: no later byte can mend it).
size_t utf8_complete_prefix(std::string_view bytes);

// Copies `bytes`, turning each malformed byte into U+FFFD, so the result is valid UTF-8.
std::string utf8_sanitize(std::string_view bytes);

// GPT-2's reversible mapping of the 256 byte values onto printable characters, as UTF-8.
std::string_view byte_to_unicode(unsigned char b);
// The inverse for one character; -1 when the character is not a byte's image.
int unicode_to_byte(char32_t cp);

}  // namespace vkmoe
