// make_communicator: MpiCommunicator when JOULE_HAVE_MPI, LocalCommunicator otherwise.
#include "distributed/make_communicator.h"

#include "core/build_info.h"
#if JOULE_HAVE_MPI
#include "distributed/mpi_communicator.h"
#endif

namespace joule {

std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv) {
#if JOULE_HAVE_MPI
  return std::make_unique<MpiCommunicator>(argc, argv);
#else
  (void)argc;
  (void)argv;
  return std::make_unique<LocalCommunicator>();
#endif
}

}  // namespace joule
