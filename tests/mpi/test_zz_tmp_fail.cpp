#include <gtest/gtest.h>
#include "tests/mpi/mpi_test_env.h"
TEST(TmpFail, OnLastRankOnly) {
  auto& comm = joule::testing::test_communicator();
  EXPECT_NE(comm.rank(), comm.size() - 1) << "deliberate";
  comm.barrier();
}
