// utf8_cut: a prefix of UTF-8 text no longer than a byte limit that never ends inside a
// character (a cut multi-byte character is invalid UTF-8, which protobuf's string fields and
// JSON readers reject). Used wherever a log or report line is shortened.
#pragma once

#include <cstddef>
#include <string>

namespace joule {

// The longest prefix of `text` of at most `limit` bytes that ends at a character boundary.
std::string utf8_prefix(const std::string& text, size_t limit);

// `text` when it fits in `limit` bytes; else utf8_prefix(text, limit - marker's size) + marker
// (the marker alone, cut, when limit is smaller than it).
std::string utf8_shorten(const std::string& text, size_t limit, const std::string& marker);

}  // namespace joule
