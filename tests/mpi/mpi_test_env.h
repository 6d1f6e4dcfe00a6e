// The communicator shared by the tests of joule_mpi_tests (run under mpirun, and alone as a
// singleton). mpi_test_main.cpp creates it once before any test and destroys it after the last.
//
// Every rank runs every test, so a test must reach the same collectives in the same order on all
// ranks: check with EXPECT_* (not ASSERT_*, which returns early) around collective calls.
#pragma once

#include "distributed/communicator.h"

namespace joule::testing {

Communicator& test_communicator();

}  // namespace joule::testing
