// joule-bench cpu-math: the auto search of run.cpu_math made visible. Builds the config's model,
// records the GEMMs one training step runs on a batch, times every backend on each shape and prints
// one table (ms and GFLOP/s per shape and backend, results checked against Eigen), then the choice.
#pragma once

namespace joule::bench {

// argv[1] == "cpu-math"; returns the exit status (1 when a backend's results are wrong).
int cpu_math_main(int argc, char** argv);

}  // namespace joule::bench
