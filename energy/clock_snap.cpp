// nearest_supported_clock: see clock_snap.h.
#include "energy/clock_snap.h"

#include <algorithm>

#include "core/error.h"

namespace joule::energy {

uint32_t nearest_supported_clock(const std::vector<uint32_t>& ascending, uint32_t mhz) {
  JOULE_ASSERT(!ascending.empty(), "nearest_supported_clock: no supported clocks");
  const auto above = std::lower_bound(ascending.begin(), ascending.end(), mhz);
  if (above == ascending.end()) return ascending.back();
  if (above == ascending.begin() || *above == mhz) return *above;
  const uint32_t lower = *(above - 1);
  return mhz - lower <= *above - mhz ? lower : *above;
}

}  // namespace joule::energy
