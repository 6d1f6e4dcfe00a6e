// The run directory on nodes without a shared file system: every rank must refuse a run whose
// directory exists on its own node, before any rank writes anything. Two nodes are imitated on
// one machine: rank 1 runs in a mount namespace of its own (unshare -m) where the output folder is
// a separate tmpfs holding a stale run directory that rank 0 cannot see.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/build_info.h"
#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule::testing {
namespace {

namespace fs = std::filesystem;

TEST(MpiRunDirectory, StaleDirectoryOnAnotherNodeRefusesTheRunEverywhere) {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
  GTEST_SKIP() << "built without MPI";
#else
  if (geteuid() != 0 || run_command("unshare -m true").status != 0) GTEST_SKIP() << "needs root and unshare -m";
  const std::string dir = make_temp_dir("joule-mpi-rundir");
  const SyntheticFiles files = write_synthetic_dataset(dir + "/data", 600, 200, 5);
  std::ostringstream text;
  text << "run { name: \"r\" seed: 3 threads: 1 }\n"
       << "data { train_images: \"" << files.train_images << "\" train_labels: \"" << files.train_labels
       << "\" test_images: \"" << files.test_images << "\" test_labels: \"" << files.test_labels << "\" }\n"
       << "model { mlp { hidden: 16 } }\n"
       << "train { batch_size: 30 epochs: 1 }\n";
  std::ofstream(dir + "/cfg.pbtxt") << text.str();
  const std::string output = dir + "/runs";
  fs::create_directories(output);
  // rank 1's "node": the output folder is a fresh tmpfs there, with a stale r/ from an earlier job
  const std::string wrapper = dir + "/as-node.sh";
  std::ofstream(wrapper) << "#!/bin/sh\n"
                         << "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then\n"
                         << "  exec unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs " << output
                         << " && mkdir " << output << "/r && echo old > " << output
                         << "/r/rank-00001.jsonl && exec \"$0\" \"$@\"' \"$@\"\n"
                         << "fi\n"
                         << "exec \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  const CommandResult r =
      run_command("timeout -k 5 90 " + shell_quote(JOULE_MPIEXEC) + " --allow-run-as-root --oversubscribe -np 2 " +
                  shell_quote(wrapper) + " " + shell_quote(binary_path("joule-train")) + " --config " +
                  shell_quote(dir + "/cfg.pbtxt") + " --output " + shell_quote(output));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("exists already (rank 1 on "), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(output + "/r")) << "rank 0 wrote nothing on its node: " << r.output;
  if (!HasFailure()) fs::remove_all(dir);
#endif
}

}  // namespace
}  // namespace joule::testing
