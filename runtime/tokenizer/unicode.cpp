#include "runtime/tokenizer/unicode.h"

#include <array>

namespace vkmoe {
namespace {

// Bytes a sequence with this lead byte has in all, or 0 when the byte cannot start one.
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Whether b may stand at `index` (1..3) after `lead`; the second byte's narrower ranges keep
// out overlong forms, surrogates and code points past U+10FFFF.
bool valid_continuation(unsigned char lead, size_t index, unsigned char b) {
  if (index == 1) {
    if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
    if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
    if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
    if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  }
  return b >= 0x80 && b <= 0xBF;
}

struct ByteMap {
  std::array<std::string, 256> to_text;
  std::array<int, 324> from_cp;  // every image is below U+0144
};

const ByteMap& byte_map() {
  static const ByteMap map = [] {
    ByteMap m;
    m.from_cp.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      // Printable Latin-1 stands for itself; the rest are moved past U+00FF in byte order.
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = printable ? char32_t(b) : char32_t(next++);
      utf8_append(m.to_text[b], cp);
      m.from_cp[cp] = b;
    }
    return m;
  }();
  return map;
}

}  // namespace

size_t utf8_decode(std::string_view text, size_t pos, char32_t& cp) {
  auto lead = static_cast<unsigned char>(text[pos]);
  size_t len = sequence_length(lead);
  if (len == 1) {
    cp = lead;
    return 1;
  }
  if (len == 0 || pos + len > text.size()) {
    cp = kReplacementChar;
    return 1;
  }
  char32_t value = lead & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    auto b = static_cast<unsigned char>(text[pos + i]);
    if (!valid_continuation(lead, i, b)) {
      cp = kReplacementChar;
      return 1;
    }
    value = (value << 6) | (b & 0x3F);
  }
  cp = value;
  return len;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

size_t utf8_complete_prefix(std::string_view bytes) {
  size_t n = bytes.size();
  // Only the last three bytes can belong to a character still waiting for more.
  for (size_t k = 1; k <= 3 && k <= n; ++k) {
    auto lead = static_cast<unsigned char>(bytes[n - k]);
    size_t len = sequence_length(lead);
    if (len == 1) return n;
    if (len == 0) continue;  // a continuation byte: look further back for its lead
    if (len <= k) return n;  // that character is complete (or malformed)
    for (size_t i = 1; i < k; ++i) {
      if (!valid_continuation(lead, i, static_cast<unsigned char>(bytes[n - k + i]))) return n;
    }
    return n - k;
  }
  return n;
}

std::string utf8_sanitize(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    char32_t cp;
    size_t len = utf8_decode(bytes, pos, cp);
    if (cp == kReplacementChar && len == 1) {
      utf8_append(out, cp);
    } else {
      out.append(bytes.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

std::string_view byte_to_unicode(unsigned char b) { return byte_map().to_text[b]; }

int unicode_to_byte(char32_t cp) {
  const auto& from = byte_map().from_cp;
  return cp < from.size() ? from[cp] : -1;
}

}  // namespace vkmoe
