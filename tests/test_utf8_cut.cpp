// utf8_prefix / utf8_shorten: cuts never split a multi-byte character.
#include <gtest/gtest.h>

#include "core/utf8_cut.h"

namespace {

// true when `s` is well-formed UTF-8 as far as lead and continuation bytes go
bool whole_characters(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

TEST(Utf8Cut, EveryLimitKeepsWholeCharactersAndTheLongestPrefix) {
  const std::string text = "rank 1: 1410 \u2192 1350 MHz \u2264 \U0001F600 ok";  // 1-, 3- and 4-byte characters
  ASSERT_TRUE(whole_characters(text));
  for (size_t limit = 0; limit <= text.size() + 2; ++limit) {
    const std::string cut = joule::utf8_prefix(text, limit);
    EXPECT_LE(cut.size(), limit);
    EXPECT_TRUE(whole_characters(cut)) << "limit " << limit;
    EXPECT_EQ(text.compare(0, cut.size(), cut), 0) << "limit " << limit;
    // the longest: one more character would not fit
    if (cut.size() < text.size()) {
      size_t next = cut.size() + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      EXPECT_GT(next, limit) << "limit " << limit;
    }
  }
}

TEST(Utf8Cut, ShortenAppendsTheMarkerWithinTheLimit) {
  const std::string text = "\u2192\u2192\u2192\u2192";  // 12 bytes
  EXPECT_EQ(joule::utf8_shorten(text, 12, "..."), text);
  EXPECT_EQ(joule::utf8_shorten(text, 11, "..."), "\u2192\u2192...");  // 8 bytes left: two arrows
  EXPECT_EQ(joule::utf8_shorten(text, 2, "..."), "..");
  const std::string marked = joule::utf8_shorten(text, 8, "\u2026");
  EXPECT_EQ(marked, "\u2192\u2026");
  EXPECT_TRUE(whole_characters(marked));
}

}  // namespace
