// main() of joule_mpi_tests: creates the communicator (MPI when built with it) once, lets only
// rank 0 print gtest's report (other ranks print just their failures, prefixed with the rank), and
// makes a failure on any rank a non-zero exit status on every rank.
#include <gtest/gtest.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "distributed/make_communicator.h"
#include "tests/mpi/mpi_test_env.h"

namespace joule::testing {
namespace {

Communicator* communicator = nullptr;  // owned by main(), alive while tests run

// Stands in for gtest's printer on ranks other than 0: failed assertions only, named by rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestStart(const ::testing::TestInfo& test) override {
    test_name_ = std::string(test.test_suite_name()) + "." + test.name();
  }
  // (gtest holds its lock here: UnitTest::current_test_info() would deadlock)
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s failed at %s:%d\n%s\n", rank_, test_name_.c_str(),
                 result.file_name() ? result.file_name() : "?", result.line_number(), result.message());
  }

 private:
  int rank_;
  std::string test_name_;
};

}  // namespace

Communicator& test_communicator() { return *communicator; }

}  // namespace joule::testing

int main(int argc, char** argv) {
  std::unique_ptr<joule::Communicator> world;
  try {
    world = joule::make_communicator(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "joule_mpi_tests: %s\n", e.what());
    return 1;
  }
  joule::testing::communicator = world.get();
  try {
    ::testing::InitGoogleTest(&argc, argv);
    if (world->rank() != 0) {
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new joule::testing::RankFailurePrinter(world->rank()));
    }
    const int status = RUN_ALL_TESTS();

    double failed_ranks = status != 0 ? 1.0 : 0.0;
    world->all_reduce_sum(&failed_ranks, 1);
    if (world->rank() == 0 && failed_ranks > 0)
      std::fprintf(stderr, "%g of %d rank(s) had failures\n", failed_ranks, world->size());
    joule::testing::communicator = nullptr;
    return failed_ranks > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    // this rank cannot take part in further collectives: end all ranks rather than hang them
    std::fprintf(stderr, "joule_mpi_tests: rank %d: %s\n", world->rank(), e.what());
    world->abort(1);
  }
}
