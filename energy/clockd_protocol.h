// The line protocol between joule-train (ClockdClient) and joule-clockd, the root helper that locks
// SM clocks for users without root. One request per line, one reply line per request, ASCII:
//
//   clocks <gpu>        -> ok <mhz> <mhz> ...          supported SM clocks, ascending
//   query <gpu>         -> ok <sm_mhz> <reasons>        current SM clock and clock event reasons
//   lock <gpu> <mhz>    -> ok <sm_mhz> <reasons>        lock min = max = mhz (a supported clock);
//                                                       the client now holds the GPU
//   reset <gpu>         -> ok <sm_mhz> <reasons>        undo any lock; the client releases the GPU
//   anything refused    -> error <why>
//
// <gpu> is an NVML index ("0") or a PCI bus id ("0000:1b:00.0"), compared in canonical form
// (canonical_gpu). <reasons> is a comma-separated list of clock event reason names
// (clock_event_reason_names) or "none". Lines end with '\n', requests are at most
// kClockdMaxRequest bytes and replies at most kClockdMaxReply. Parsing never throws: a malformed
// line is a reason string, since the daemon must answer a broken client, not die of it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace joule::energy {

constexpr size_t kClockdMaxRequest = 256;   // bytes, '\n' included
constexpr size_t kClockdMaxReply = 4096;    // bytes, '\n' included (a list of ~110 clocks fits)

enum class ClockdVerb { clocks, query, lock, reset };
const char* to_string(ClockdVerb verb);

struct ClockdRequest {
  ClockdVerb verb = ClockdVerb::query;
  std::string gpu;   // canonical form
  unsigned mhz = 0;  // lock only
};

struct ClockdReply {
  bool ok = false;
  std::string error;                 // !ok: the daemon's reason
  std::vector<unsigned> clocks_mhz;  // clocks: the supported list; query/lock/reset: {SM clock}
  std::vector<std::string> reasons;  // query/lock/reset: clock event reason names (none = empty)
};

// "7" -> "7" (decimal, no leading zeros); "0000:1b:00.0", "00000000:1B:00.0", "1b:00.0" ->
// "00000000:1B:00.0" (NVML's form); anything else -> "" (invalid).
std::string canonical_gpu(const std::string& spec);

// One request line without its '\n'. false with *why (naming what was wrong) on anything else.
bool parse_clockd_request(const std::string& line, ClockdRequest* request, std::string* why);
std::string format_clockd_request(const ClockdRequest& request);  // ends with '\n'

// Reply lines. A reply to `verb` must have that verb's shape (see the table above).
std::string format_clockd_ok_clocks(const std::vector<unsigned>& clocks_mhz);
std::string format_clockd_ok_state(unsigned sm_mhz, const std::vector<std::string>& reasons);
std::string format_clockd_error(const std::string& why);  // newlines in `why` become spaces
bool parse_clockd_reply(ClockdVerb verb, const std::string& line, ClockdReply* reply, std::string* why);

}  // namespace joule::energy
