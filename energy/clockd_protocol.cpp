// Parsing and formatting of the joule-clockd line protocol (see clockd_protocol.h). Strict: one
// space between words, decimal numbers without signs, no trailing bytes; anything else is refused
// with a reason, never thrown.
#include "energy/clockd_protocol.h"

#include <charconv>
#include <cstdio>
#include <sstream>

namespace joule::energy {
namespace {

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start <= line.size()) {
    const size_t end = line.find(' ', start);
    words.push_back(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return words;
}

bool parse_unsigned(const std::string& text, unsigned* value) {
  if (text.empty() || text.size() > 9) return false;  // no clock has 10 digits; no overflow either
  for (char c : text)
    if (c < '0' || c > '9') return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool printable(const std::string& line) {
  for (unsigned char c : line)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

}  // namespace

const char* to_string(ClockdVerb verb) {
  switch (verb) {
    case ClockdVerb::clocks: return "clocks";
    case ClockdVerb::query: return "query";
    case ClockdVerb::lock: return "lock";
    case ClockdVerb::reset: return "reset";
  }
  return "?";
}

std::string canonical_gpu(const std::string& spec) {
  if (spec.empty() || spec.size() > 32) return "";
  bool digits = true;
  for (char c : spec) digits = digits && c >= '0' && c <= '9';
  if (digits) {
    unsigned index = 0;
    if (!parse_unsigned(spec, &index)) return "";
    return std::to_string(index);
  }
  unsigned domain = 0, bus = 0, device = 0, function = 0;
  const char* text = spec.c_str();
  int used = -1;
  const bool long_form = std::sscanf(text, "%8x:%2x:%2x.%1x%n", &domain, &bus, &device, &function, &used) == 4 &&
                         used >= 0 && text[used] == '\0';
  if (!long_form) {
    domain = 0;
    used = -1;
    const bool short_form =
        std::sscanf(text, "%2x:%2x.%1x%n", &bus, &device, &function, &used) == 3 && used >= 0 && text[used] == '\0';
    if (!short_form) return "";
  }
  for (char c : spec)  // sscanf's %x also takes signs and spaces: allow hex digits, ':' and '.' only
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
      return "";
  if (device > 0x1f || function > 7) return "";
  char out[32];
  std::snprintf(out, sizeof out, "%08X:%02X:%02X.%X", domain, bus, device, function);
  return out;
}

bool parse_clockd_request(const std::string& line, ClockdRequest* request, std::string* why) {
  if (line.size() + 1 > kClockdMaxRequest) {
    *why = "request longer than " + std::to_string(kClockdMaxRequest - 1) + " bytes";
    return false;
  }
  if (!printable(line)) {
    *why = "request has non-printable bytes";
    return false;
  }
  const std::vector<std::string> words = split_words(line);
  const std::string& verb = words[0];
  ClockdRequest r;
  size_t expected = 2;
  if (verb == "clocks") r.verb = ClockdVerb::clocks;
  else if (verb == "query") r.verb = ClockdVerb::query;
  else if (verb == "reset") r.verb = ClockdVerb::reset;
  else if (verb == "lock") r.verb = ClockdVerb::lock, expected = 3;
  else {
    *why = "unknown request '" + verb + "': expected clocks, query, lock or reset";
    return false;
  }
  if (words.size() != expected) {
    *why = verb + (expected == 3 ? " takes <gpu> <mhz>" : " takes <gpu>");
    return false;
  }
  r.gpu = canonical_gpu(words[1]);
  if (r.gpu.empty()) {
    *why = "'" + words[1] + "' is neither an NVML index nor a PCI bus id";
    return false;
  }
  if (r.verb == ClockdVerb::lock && !parse_unsigned(words[2], &r.mhz)) {
    *why = "'" + words[2] + "' is not a clock in MHz";
    return false;
  }
  *request = r;
  return true;
}

std::string format_clockd_request(const ClockdRequest& request) {
  std::string line = std::string(to_string(request.verb)) + " " + request.gpu;
  if (request.verb == ClockdVerb::lock) line += " " + std::to_string(request.mhz);
  return line + "\n";
}

std::string format_clockd_ok_clocks(const std::vector<unsigned>& clocks_mhz) {
  std::string line = "ok";
  for (unsigned mhz : clocks_mhz) line += " " + std::to_string(mhz);
  return line + "\n";
}

std::string format_clockd_ok_state(unsigned sm_mhz, const std::vector<std::string>& reasons) {
  std::string list;
  for (const std::string& reason : reasons) list += (list.empty() ? "" : ",") + reason;
  return "ok " + std::to_string(sm_mhz) + " " + (list.empty() ? "none" : list) + "\n";
}

std::string format_clockd_error(const std::string& why) {
  std::string text = why.empty() ? "refused" : why;
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  if (text.size() + 7 > kClockdMaxReply) text.resize(kClockdMaxReply - 7);
  return "error " + text + "\n";
}

bool parse_clockd_reply(ClockdVerb verb, const std::string& line, ClockdReply* reply, std::string* why) {
  ClockdReply r;
  if (line.rfind("error ", 0) == 0) {
    r.error = line.substr(6);
    *reply = r;
    return true;
  }
  const std::vector<std::string> words = split_words(line);
  if (words[0] != "ok" || !printable(line)) {
    *why = "malformed reply from joule-clockd: '" + line.substr(0, 80) + "'";
    return false;
  }
  r.ok = true;
  const bool list = verb == ClockdVerb::clocks;
  if ((list && words.size() < 2) || (!list && words.size() != 3)) {
    *why = std::string("reply to ") + to_string(verb) + " has the wrong shape: '" + line.substr(0, 80) + "'";
    return false;
  }
  const size_t numbers = list ? words.size() : 2;
  for (size_t i = 1; i < numbers; ++i) {
    unsigned mhz = 0;
    if (!parse_unsigned(words[i], &mhz)) {
      *why = "reply from joule-clockd has '" + words[i] + "' where a clock in MHz belongs";
      return false;
    }
    r.clocks_mhz.push_back(mhz);
  }
  if (!list && words[2] != "none") {
    std::istringstream names(words[2]);
    for (std::string name; std::getline(names, name, ',');)
      if (!name.empty()) r.reasons.push_back(name);
  }
  *reply = r;
  return true;
}

}  // namespace joule::energy
