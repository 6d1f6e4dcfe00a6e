// nearest_supported_clock: the one rule for turning a requested SM clock into one the card
// supports, shared by ClockActuator (what it locks), ClockPolicy (what it decides) and joule-sim
// (what its simulated ranks run), so a decision means the same clock on every path.
#pragma once

#include <cstdint>
#include <vector>

namespace joule::energy {

// The clock in `ascending` (non-empty, strictly ascending) nearest `mhz`; ties: the lower one.
uint32_t nearest_supported_clock(const std::vector<uint32_t>& ascending, uint32_t mhz);

}  // namespace joule::energy
