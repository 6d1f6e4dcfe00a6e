// RaplMeter on fake powercap trees (this machine has no RAPL): zone discovery (packages, DRAM
// sub-zones, zones that are not counted, nested sub-zones), wraparound arithmetic, polling between
// reads, the JOULE_POWERCAP_ROOT override, unreadable zones (a directory or a missing file in place
// of energy_uj: tests run as root, where chmod 000 does not block reads), and the fallback to the
// labelled estimate; EstimateMeter and CompositeMeter as Meters.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "energy/estimate_meter.h"
#include "energy/rapl_meter.h"
#include "tests/support/data_files.h"

namespace joule::energy {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// Sets (or with nullopt unsets) an environment variable for one scope and restores it afterwards.
class EnvGuard {
 public:
  EnvGuard(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~EnvGuard() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text << "\n";
  ASSERT_TRUE(out.good()) << path;
}

// A zone directory `dir` (created) with name, energy_uj and max_energy_range_uj files.
void make_zone(const std::string& dir, const std::string& name, uint64_t energy_uj, uint64_t max_uj) {
  fs::create_directories(dir);
  write_text(dir + "/name", name);
  write_text(dir + "/energy_uj", std::to_string(energy_uj));
  write_text(dir + "/max_energy_range_uj", std::to_string(max_uj));
}

constexpr uint64_t kMax = 262143328850;  // a real package's max_energy_range_uj (2^32 × 61.035 µJ)

// Two packages with DRAM sub-zones, plus zones that must not be counted: a core sub-zone, psys,
// an MMIO duplicate of package 0, and the control-type directory "intel-rapl".
void make_two_socket_tree(const TempDir& root) {
  make_zone(root.file("intel-rapl:0"), "package-0", 1000, kMax);
  make_zone(root.file("intel-rapl:0:0"), "dram", 300, kMax);
  make_zone(root.file("intel-rapl:0:1"), "core", 50, kMax);
  make_zone(root.file("intel-rapl:1"), "package-1", 2000, kMax);
  make_zone(root.file("intel-rapl:1:0"), "dram", 400, kMax);
  make_zone(root.file("intel-rapl:2"), "psys", 7000, kMax);
  make_zone(root.file("intel-rapl-mmio:0"), "package-0", 9000, kMax);
  fs::create_directories(root.file("intel-rapl"));
  write_text(root.file("intel-rapl/enabled"), "1");
}

void set_energy(const TempDir& root, const std::string& zone, uint64_t energy_uj) {
  write_text(root.file(zone + "/energy_uj"), std::to_string(energy_uj));
}

std::unique_ptr<RaplMeter> open_ok(const TempDir& root) {
  std::string why = "stale";
  std::unique_ptr<RaplMeter> meter = RaplMeter::open(root.path(), &why);
  EXPECT_NE(meter, nullptr) << why;
  EXPECT_EQ(why, "");
  return meter;
}

}  // namespace

TEST(RaplMeter, CounterDeltaUnwrapsOneWrap) {
  EXPECT_EQ(RaplMeter::counter_delta(100, 250, 999), 150u);
  EXPECT_EQ(RaplMeter::counter_delta(250, 250, 999), 0u);
  // range [0, 999] holds 1000 values: 900 → 999 is 99 steps, 999 → 0 one, 0 → 100 a hundred
  EXPECT_EQ(RaplMeter::counter_delta(900, 100, 999), 200u);
  EXPECT_EQ(RaplMeter::counter_delta(999, 0, 999), 1u);
  EXPECT_EQ(RaplMeter::counter_delta(1, 0, 999), 999u);  // the longest interval one wrap can explain
  EXPECT_EQ(RaplMeter::counter_delta(kMax - 1'000'000, 500'000, kMax), 1'500'001u);
  EXPECT_EQ(RaplMeter::counter_delta(5000, 10, 999), 10u);  // previous outside the range: a reset
}

TEST(RaplMeter, SumsPackagesAndDramOnly) {
  TempDir root;
  make_two_socket_tree(root);
  auto meter = open_ok(root);
  ASSERT_NE(meter, nullptr);
  const std::vector<RaplMeter::Zone> zones = meter->zones();
  ASSERT_EQ(zones.size(), 4u);
  EXPECT_EQ(zones[0].id, "intel-rapl:0");
  EXPECT_EQ(zones[0].name, "package-0");
  EXPECT_EQ(zones[1].id, "intel-rapl:0:0");
  EXPECT_TRUE(zones[1].dram);
  EXPECT_EQ(zones[2].id, "intel-rapl:1");
  EXPECT_EQ(zones[3].id, "intel-rapl:1:0");
  EXPECT_EQ(meter->sources(), std::vector<std::string>{"rapl"});
  EXPECT_TRUE(meter->measured());

  const MeterReading start = meter->read();
  EXPECT_EQ(start.cpu_j, 0.0);  // energy since open
  EXPECT_EQ(start.dram_j, 0.0);
  set_energy(root, "intel-rapl:0", 1000 + 5'000'000);
  set_energy(root, "intel-rapl:1", 2000 + 2'500'000);
  set_energy(root, "intel-rapl:0:0", 300 + 1'000'000);
  set_energy(root, "intel-rapl:1:0", 400 + 250'000);
  set_energy(root, "intel-rapl:0:1", 50 + 9'000'000);      // core: inside package-0 already
  set_energy(root, "intel-rapl:2", 7000 + 9'000'000);      // psys: the platform
  set_energy(root, "intel-rapl-mmio:0", 9000 + 9'000'000);  // a second view of package 0
  const MeterReading r = meter->read();
  EXPECT_DOUBLE_EQ(r.cpu_j, 7.5);
  EXPECT_DOUBLE_EQ(r.dram_j, 1.25);
  EXPECT_EQ(r.gpu_j, 0.0);
  EXPECT_DOUBLE_EQ(r.total_j(), 8.75);
  EXPECT_GE(r.time_s, start.time_s);
}

TEST(RaplMeter, UnwrapsWraparoundPerZone) {
  TempDir root;
  constexpr uint64_t max = 10'000'000;  // 10 J range to keep the numbers readable
  make_zone(root.file("intel-rapl:0"), "package-0", 9'000'000, max);
  make_zone(root.file("intel-rapl:0:0"), "dram", 9'999'000, max);
  make_zone(root.file("intel-rapl:1"), "package-1", 100, max);
  auto meter = open_ok(root);
  ASSERT_NE(meter, nullptr);
  set_energy(root, "intel-rapl:0", 500'000);  // wrapped: 1'000'000 to the top, +1, +500'000
  set_energy(root, "intel-rapl:0:0", 1'000);  // wrapped: 1'000 + 1 + 1'000
  set_energy(root, "intel-rapl:1", 200);      // no wrap on the other package
  MeterReading r = meter->read();
  EXPECT_NEAR(r.cpu_j, (1'500'001 + 100) * 1e-6, 1e-12);
  EXPECT_NEAR(r.dram_j, 2'001 * 1e-6, 1e-12);
  set_energy(root, "intel-rapl:0", 2'500'000);  // after the wrap, plain increments again
  r = meter->read();
  EXPECT_NEAR(r.cpu_j, (3'500'001 + 100) * 1e-6, 1e-12);
}

TEST(RaplMeter, PollBetweenReadsCatchesEveryWrap) {
  TempDir root;
  constexpr uint64_t max = 10'000'000;
  make_zone(root.file("intel-rapl:0"), "package-0", 9'000'000, max);
  auto polled = open_ok(root);
  auto unpolled = open_ok(root);
  ASSERT_NE(polled, nullptr);
  ASSERT_NE(unpolled, nullptr);
  // two wraps between reads: only the meter that polled in between sees both
  for (const uint64_t value : {9'900'000ull, 500'000ull, 9'000'000ull}) {
    set_energy(root, "intel-rapl:0", value);
    polled->poll();
  }
  set_energy(root, "intel-rapl:0", 100'000);
  const double expected_uj = 900'000 + 600'001 + 8'500'000 + 1'100'001;
  EXPECT_NEAR(polled->read().cpu_j, expected_uj * 1e-6, 1e-12);
  EXPECT_NEAR(unpolled->read().cpu_j, 1'100'001 * 1e-6, 1e-12);  // one wrap lost: the documented limit
}

TEST(RaplMeter, NestedSubZonesAreCountedOnce) {
  TempDir root;
  // sysfs nests sub-zones in their package and also links them at the top
  make_zone(root.file("intel-rapl:0"), "package-0", 0, kMax);
  make_zone(root.file("intel-rapl:0/intel-rapl:0:0"), "dram", 0, kMax);
  fs::create_directory_symlink(root.file("intel-rapl:0/intel-rapl:0:0"), root.file("intel-rapl:0:0"));
  make_zone(root.file("intel-rapl:1"), "package-1", 0, kMax);
  make_zone(root.file("intel-rapl:1/intel-rapl:1:0"), "dram", 0, kMax);  // nested only
  auto meter = open_ok(root);
  ASSERT_NE(meter, nullptr);
  EXPECT_EQ(meter->zones().size(), 4u);
  set_energy(root, "intel-rapl:0/intel-rapl:0:0", 3'000'000);
  set_energy(root, "intel-rapl:1/intel-rapl:1:0", 1'000'000);
  EXPECT_DOUBLE_EQ(meter->read().dram_j, 4.0);
}

TEST(RaplMeter, RootComesFromTheEnvironment) {
  TempDir root;
  make_two_socket_tree(root);
  {
    EnvGuard env("JOULE_POWERCAP_ROOT", root.path());
    EXPECT_EQ(RaplMeter::default_root(), root.path());
    std::string warning = "stale";
    std::unique_ptr<Meter> meter = make_cpu_meter(12.0, 0.0, &warning);
    EXPECT_EQ(warning, "");
    EXPECT_EQ(meter->sources(), std::vector<std::string>{"rapl"});
    EXPECT_TRUE(meter->measured());
    set_energy(root, "intel-rapl:1", 2000 + 4'000'000);
    EXPECT_DOUBLE_EQ(meter->read().cpu_j, 4.0);
  }
  {
    EnvGuard env("JOULE_POWERCAP_ROOT", std::nullopt);
    EXPECT_EQ(RaplMeter::default_root(), "/sys/class/powercap");
  }
  {
    EnvGuard env("JOULE_POWERCAP_ROOT", std::string());
    EXPECT_EQ(RaplMeter::default_root(), "/sys/class/powercap");
  }
}

TEST(RaplMeter, UnreadablePackageFallsBackToTheEstimate) {
  TempDir root;
  make_two_socket_tree(root);
  const std::string energy_file = root.file("intel-rapl:1/energy_uj");
  fs::remove(energy_file);
  fs::create_directory(energy_file);  // reads fail with EISDIR, even for root
  std::string why;
  EXPECT_EQ(RaplMeter::open(root.path(), &why), nullptr);
  EXPECT_NE(why.find(energy_file), std::string::npos) << why;
  EXPECT_NE(why.find("is a directory"), std::string::npos) << why;

  fs::remove(energy_file);  // now missing
  EXPECT_EQ(RaplMeter::open(root.path(), &why), nullptr);
  EXPECT_NE(why.find(energy_file + ": no such file"), std::string::npos) << why;

  write_text(energy_file, "12 J");
  EXPECT_EQ(RaplMeter::open(root.path(), &why), nullptr);
  EXPECT_NE(why.find("is not a counter"), std::string::npos) << why;

  EnvGuard env("JOULE_POWERCAP_ROOT", root.path());
  std::string warning;
  std::unique_ptr<Meter> meter = make_cpu_meter(12.0, 1.0, &warning);
  EXPECT_EQ(meter->sources(), std::vector<std::string>{"estimate"});
  EXPECT_FALSE(meter->measured());
  EXPECT_EQ(warning.rfind("RAPL unusable: ", 0), 0u) << warning;
  EXPECT_NE(warning.find(energy_file), std::string::npos) << warning;
  EXPECT_NE(warning.find("\"estimate\""), std::string::npos) << warning;
  EXPECT_EQ(warning.find('\n'), std::string::npos) << "one line: " << warning;
}

// A FIFO (or device) in place of a counter must not hang the meter: it is refused, unread.
TEST(RaplMeter, FifoCounterIsRefusedWithoutBlocking) {
  TempDir root;
  make_zone(root.file("intel-rapl:0"), "package-0", 1000, kMax);
  const std::string energy_file = root.file("intel-rapl:0/energy_uj");
  fs::remove(energy_file);
  ASSERT_EQ(::mkfifo(energy_file.c_str(), 0600), 0);
  std::string why;
  EXPECT_EQ(RaplMeter::open(root.path(), &why), nullptr);
  EXPECT_NE(why.find(energy_file + ": not a regular file"), std::string::npos) << why;
}

TEST(RaplMeter, PermissionDeniedIsExplained) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: chmod 000 does not block root's reads";
  TempDir root;
  make_zone(root.file("intel-rapl:0"), "package-0", 0, kMax);
  chmod(root.file("intel-rapl:0/energy_uj").c_str(), 0);
  std::string why;
  EXPECT_EQ(RaplMeter::open(root.path(), &why), nullptr);
  EXPECT_NE(why.find("permission denied"), std::string::npos) << why;
  EXPECT_NE(why.find("root"), std::string::npos) << why;
}

TEST(RaplMeter, UnreadableDramIsLeftOutWithANote) {
  TempDir root;
  make_two_socket_tree(root);
  fs::remove(root.file("intel-rapl:0:0/energy_uj"));
  std::string why;
  std::unique_ptr<RaplMeter> meter = RaplMeter::open(root.path(), &why);
  ASSERT_NE(meter, nullptr) << why;
  EXPECT_NE(why.find("DRAM"), std::string::npos) << why;
  EXPECT_NE(why.find(root.file("intel-rapl:0:0/energy_uj")), std::string::npos) << why;
  EXPECT_EQ(meter->zones().size(), 3u);
  set_energy(root, "intel-rapl:1:0", 400 + 2'000'000);
  EXPECT_DOUBLE_EQ(meter->read().dram_j, 2.0);
}

TEST(RaplMeter, ReadErrorAfterOpenIsCountedLater) {
  TempDir root;
  make_zone(root.file("intel-rapl:0"), "package-0", 1'000'000, kMax);
  auto meter = open_ok(root);
  ASSERT_NE(meter, nullptr);
  fs::remove(root.file("intel-rapl:0/energy_uj"));
  EXPECT_EQ(meter->read().cpu_j, 0.0);
  EXPECT_EQ(meter->zones()[0].read_errors, 1u);
  set_energy(root, "intel-rapl:0", 3'000'000);  // back: the energy in between is not lost
  EXPECT_DOUBLE_EQ(meter->read().cpu_j, 2.0);
}

TEST(RaplMeter, MissingOrEmptyTreeFallsBackToTheEstimate) {
  TempDir root;
  std::string why;
  EXPECT_EQ(RaplMeter::open(root.file("absent"), &why), nullptr);
  EXPECT_NE(why.find(root.file("absent") + " does not exist"), std::string::npos) << why;
  EXPECT_EQ(RaplMeter::open(root.path(), &why), nullptr);
  EXPECT_NE(why.find("no RAPL package zone"), std::string::npos) << why;
  make_zone(root.file("intel-rapl:0"), "psys", 0, kMax);  // a platform zone alone is no package
  EXPECT_EQ(RaplMeter::open(root.path(), &why), nullptr);
  EXPECT_NE(why.find("no RAPL package zone"), std::string::npos) << why;

  EnvGuard env("JOULE_POWERCAP_ROOT", root.file("absent"));
  std::string warning;
  std::unique_ptr<Meter> meter = make_cpu_meter(10.0, 0.0, &warning);
  EXPECT_NE(dynamic_cast<EstimateMeter*>(meter.get()), nullptr);
  EXPECT_EQ(meter->sources(), std::vector<std::string>{"estimate"});
  EXPECT_FALSE(meter->measured());
  EXPECT_NE(warning.find("does not exist"), std::string::npos) << warning;
  EXPECT_NE(make_cpu_meter(10.0, 0.0, nullptr), nullptr);  // the warning is optional
}

TEST(EstimateMeter, IsAMeterLabelledEstimate) {
  EstimateMeter estimate(10.0, 2.0);
  Meter& meter = estimate;
  EXPECT_EQ(meter.sources(), std::vector<std::string>{"estimate"});
  EXPECT_FALSE(meter.measured());
  const MeterReading before = meter.read();
  const double cpu0 = process_cpu_seconds();
  while (process_cpu_seconds() - cpu0 < 0.02) {
  }
  const MeterReading after = meter.read();
  EXPECT_EQ(after.gpu_j, 0.0);
  EXPECT_EQ(after.dram_j, 0.0);
  EXPECT_GT(after.time_s, 0.0);
  EXPECT_GE(after.time_s, before.time_s);
  // 20 ms of CPU at 10 W is 0.2 J; ask for half to leave room for clock granularity
  EXPECT_GE(after.cpu_j - before.cpu_j, 0.1);
  EXPECT_DOUBLE_EQ(after.total_j(), after.cpu_j);
}

namespace {
// A meter with fixed numbers and labels.
class FixedMeter : public Meter {
 public:
  FixedMeter(MeterReading reading, std::vector<std::string> sources, bool measured)
      : reading_(reading), sources_(std::move(sources)), measured_(measured) {}
  MeterReading read() override { return reading_; }
  std::vector<std::string> sources() const override { return sources_; }
  bool measured() const override { return measured_; }

 private:
  MeterReading reading_;
  std::vector<std::string> sources_;
  bool measured_;
};
}  // namespace

TEST(CompositeMeter, SumsDomainsAndJoinsLabels) {
  const MeterReading gpu{.time_s = 5.0, .gpu_j = 100.0, .cpu_j = 0, .dram_j = 0};
  const MeterReading cpu{.time_s = 5.5, .gpu_j = 0, .cpu_j = 30.0, .dram_j = 4.0};
  CompositeMeter both(std::make_unique<FixedMeter>(gpu, std::vector<std::string>{"nvml"}, true),
                      std::make_unique<FixedMeter>(cpu, std::vector<std::string>{"rapl"}, true));
  const MeterReading r = both.read();
  EXPECT_DOUBLE_EQ(r.gpu_j, 100.0);
  EXPECT_DOUBLE_EQ(r.cpu_j, 30.0);
  EXPECT_DOUBLE_EQ(r.dram_j, 4.0);
  EXPECT_DOUBLE_EQ(r.total_j(), 134.0);
  EXPECT_DOUBLE_EQ(r.time_s, 5.5);
  EXPECT_EQ(both.sources(), (std::vector<std::string>{"nvml", "rapl"}));
  EXPECT_TRUE(both.measured());

  CompositeMeter estimated(std::make_unique<FixedMeter>(gpu, std::vector<std::string>{"nvml"}, true),
                           std::make_unique<EstimateMeter>(10.0, 0.0));
  EXPECT_EQ(estimated.sources(), (std::vector<std::string>{"nvml", "estimate"}));
  EXPECT_FALSE(estimated.measured());
  EXPECT_GE(estimated.read().cpu_j, 0.0);
  EXPECT_DOUBLE_EQ(estimated.read().gpu_j, 100.0);
}

}  // namespace joule::energy
