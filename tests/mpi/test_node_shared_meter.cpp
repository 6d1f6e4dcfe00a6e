// The node-shared meter under mpirun (2 and 4 ranks on one host) and as a singleton, on a fake
// powercap tree that rank 0 advances between barriers: every rank opens RaplMeter on it (each
// alone would report the whole node's energy), reads it through make_node_shared_meter after
// burning a different amount of CPU time (rank r: (r + 1) × 20 ms per window), and the ranks'
// totals must add up to the tree's delta, once — not size() times — with each share in
// [0, delta], growing, and larger for ranks that used more CPU time.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "distributed/node_shared_meter.h"
#include "energy/estimate_meter.h"
#include "energy/rapl_meter.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/support/data_files.h"

namespace joule {
namespace {

using testing::test_communicator;
namespace fs = std::filesystem;

constexpr uint64_t kMaxUj = 262143328850;  // a real package's max_energy_range_uj

void write_counter(const std::string& zone_dir, const std::string& file, uint64_t value) {
  std::ofstream out(zone_dir + "/" + file, std::ios::trunc);
  out << value << "\n";
  EXPECT_TRUE(out.good()) << zone_dir << "/" << file;
}

void make_zone(const std::string& dir, const std::string& name, uint64_t energy_uj) {
  fs::create_directories(dir);
  std::ofstream(dir + "/name") << name << "\n";
  write_counter(dir, "energy_uj", energy_uj);
  write_counter(dir, "max_energy_range_uj", kMaxUj);
}

// Spins until this process has used `seconds` more CPU time (what the split weighs).
void burn_cpu_seconds(double seconds) {
  const double until = process_cpu_seconds() + seconds;
  volatile double sink = 0;
  while (process_cpu_seconds() < until)
    for (int i = 0; i < 10000; ++i) sink = sink + i * 1e-9;
}

TEST(NodeSharedMeter, RanksOfOneNodeReportTheTreesDeltaOnce) {
  Communicator& comm = test_communicator();
  if (comm.local_size() != comm.size()) GTEST_SKIP() << "the ranks are on several hosts; the fake tree is on one";
  const bool lead = comm.rank() == 0;
  std::unique_ptr<testing::TempDir> tree;
  uint64_t package_uj = 5'000'000'000, dram_uj = 70'000'000;  // counters at open (not counted)
  if (lead) {
    tree = std::make_unique<testing::TempDir>();
    make_zone(tree->file("intel-rapl:0"), "package-0", package_uj);
    make_zone(tree->file("intel-rapl:0:0"), "dram", dram_uj);
  }
  const std::string root = comm.all_gather(lead ? tree->path() : "")[0];  // after rank 0 made it

  std::string why;
  std::unique_ptr<energy::RaplMeter> rapl = energy::RaplMeter::open(root, &why);
  double opened = rapl != nullptr ? 1 : 0;
  comm.all_reduce_sum(&opened, 1);
  EXPECT_EQ(opened, comm.size()) << "rank " << comm.rank() << ": " << why;
  if (opened != comm.size()) return;  // on every rank alike

  std::string note;
  std::unique_ptr<energy::Meter> meter = make_node_shared_meter(std::move(rapl), comm, {}, &note);
  if (comm.size() > 1) {
    EXPECT_NE(note.find("split among its " + std::to_string(comm.size()) + " ranks by CPU time"), std::string::npos)
        << note;
  }
  EXPECT_EQ(meter->sources(), std::vector<std::string>{"rapl"});

  // the tree's energy per window: package and DRAM, µJ (window 2 has none)
  const std::vector<uint64_t> package_steps = {4'000'000, 0, 7'500'000};
  const std::vector<uint64_t> dram_steps = {1'000'000, 0, 250'000};
  std::vector<energy::MeterReading> readings;
  for (size_t w = 0; w < package_steps.size(); ++w) {
    burn_cpu_seconds(0.02 * (comm.rank() + 1));
    comm.barrier();  // every rank's work is done: rank 0 advances the counters
    if (lead) {
      write_counter(tree->file("intel-rapl:0"), "energy_uj", package_uj += package_steps[w]);
      write_counter(tree->file("intel-rapl:0:0"), "energy_uj", dram_uj += dram_steps[w]);
    }
    comm.barrier();
    readings.push_back(meter->read());
  }

  const double cpu_delta_j = (4'000'000 + 7'500'000) * 1e-6;
  const double dram_delta_j = (1'000'000 + 250'000) * 1e-6;
  for (size_t w = 0; w < readings.size(); ++w) {
    EXPECT_GE(readings[w].cpu_j, w > 0 ? readings[w - 1].cpu_j : 0.0) << "window " << w;
    EXPECT_GE(readings[w].dram_j, w > 0 ? readings[w - 1].dram_j : 0.0) << "window " << w;
    EXPECT_EQ(readings[w].gpu_j, 0.0);
  }
  const energy::MeterReading mine = readings.back();
  EXPECT_GE(mine.cpu_j, 0.0);
  EXPECT_LE(mine.cpu_j, cpu_delta_j);
  EXPECT_GE(mine.dram_j, 0.0);
  EXPECT_LE(mine.dram_j, dram_delta_j);

  // Job totals: the tree's delta once. The acceptance bound is 1%; the rule is exact up to
  // rounding, so 1e-9 relative is asserted.
  std::vector<double> totals = {mine.cpu_j, mine.dram_j};
  comm.all_reduce_sum(totals.data(), 2);
  EXPECT_NEAR(totals[0], cpu_delta_j, 1e-9 * cpu_delta_j) << "job CPU total vs the tree's delta";
  EXPECT_NEAR(totals[1], dram_delta_j, 1e-9 * dram_delta_j) << "job DRAM total vs the tree's delta";

  // Rank r burned (r + 1) units of CPU time per window: the shares grow with the rank.
  std::vector<double> shares(static_cast<size_t>(comm.size()), 0.0);
  shares[comm.rank()] = mine.cpu_j;
  comm.all_reduce_sum(shares.data(), comm.size());
  for (int r = 1; r < comm.size(); ++r)
    EXPECT_LT(shares[r - 1], shares[r]) << "rank " << r - 1 << " used less CPU time than rank " << r;
  comm.barrier();  // rank 0 removes the tree only after every rank's last read
}

}  // namespace
}  // namespace joule
