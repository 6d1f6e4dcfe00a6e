// joule-bench controller: what the energy controller (distributed/energy_control.h) costs per window.
#pragma once

namespace joule::bench {

// argv[1] == "controller"; prints one table (rank 0 under mpirun); returns the exit status
// (1 when the trace did not make the policies decide, or the all-reduce summed wrong).
int controller_main(int argc, char** argv);

}  // namespace joule::bench
