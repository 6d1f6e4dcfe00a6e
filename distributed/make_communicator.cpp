// make_communicator: MpiCommunicator when JOULE_HAVE_MPI, LocalCommunicator otherwise.
#include "distributed/make_communicator.h"

#include <cstdlib>
#include <string>

#include "core/build_info.h"
#include "core/error.h"
#if JOULE_HAVE_MPI
#include "distributed/mpi_communicator.h"
#endif

namespace joule {

#if JOULE_HAVE_MPI
namespace {

bool has_env(const char* name) { return std::getenv(name) != nullptr; }

// A task of a SLURM job step (srun sets SLURM_STEP_ID; a batch script alone, or salloc's shell,
// has none) that no MPI launcher wired up: srun without --mpi=pmix (MpiDefault=none). Open MPI
// then aborts inside MPI_Init with a message that does not say what to do, even for one task.
// mpirun's ranks (also inside an allocation) carry OMPI_COMM_WORLD_* and PMIX_*; srun --mpi=pmix
// gives PMIX_RANK/PMIX_NAMESPACE; a PMI-1/2 launch (MPICH, Intel MPI) gives PMI_RANK/PMI_FD.
void check_not_srun_without_pmi() {
  if (!has_env("SLURM_STEP_ID") && !has_env("SLURM_STEPID")) return;
  for (const char* launcher : {"PMIX_RANK", "PMIX_NAMESPACE", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                               "PMI_RANK", "PMI_FD", "PMI_SIZE"})
    if (has_env(launcher)) return;
  const char* step = std::getenv("SLURM_STEP_ID");
  if (step == nullptr) step = std::getenv("SLURM_STEPID");
  const char* job = std::getenv("SLURM_JOB_ID");
  const char* task = std::getenv("SLURM_PROCID");
  JOULE_CHECK(false, "started by srun (job ", job ? job : "?", ", step ", step, ", task ", task ? task : "?",
              ") without an MPI plugin, so MPI cannot start: use `srun --mpi=pmix ...` (or set MpiDefault=pmix "
              "in slurm.conf; `srun --mpi=list` lists the plugins), as scripts/slurm/joule.sbatch does");
}

}  // namespace
#endif

std::unique_ptr<Communicator> make_communicator(int* argc, char*** argv) {
#if JOULE_HAVE_MPI
  check_not_srun_without_pmi();  // before MPI_Init, which would abort with Open MPI's own text
  return std::make_unique<MpiCommunicator>(argc, argv);
#else
  (void)argc;
  (void)argv;
  return std::make_unique<LocalCommunicator>();
#endif
}

}  // namespace joule
