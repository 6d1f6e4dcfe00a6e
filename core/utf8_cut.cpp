// utf8_cut: see utf8_cut.h.
#include "core/utf8_cut.h"

namespace joule {

std::string utf8_prefix(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  // a continuation byte (10xxxxxx) at `end` means the cut would split the character before it
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string utf8_shorten(const std::string& text, size_t limit, const std::string& marker) {
  if (text.size() <= limit) return text;
  if (limit <= marker.size()) return utf8_prefix(marker, limit);
  return utf8_prefix(text, limit - marker.size()) + marker;
}

}  // namespace joule
