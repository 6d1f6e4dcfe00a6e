// Picks the Communicator this build provides: MPI when built with it (works under mpirun/mpiexec,
// under SLURM's srun, and as a singleton started without a launcher), else the one-rank
// LocalCommunicator. Call once, early in main, and pass the result down.
#pragma once

#include <memory>

#include "distributed/communicator.h"

namespace joule {

// argc/argv as given to main (MPI may remove its own arguments); both may be null.
std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv);

}  // namespace joule
