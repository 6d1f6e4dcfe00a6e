// joule-bench energy: the cost of energy measurement and accounting, per operation.
#pragma once

namespace joule::bench {

// argv[1] == "energy"; prints one table; returns the exit status.
int energy_main(int argc, char** argv);

}  // namespace joule::bench
