// exit_status_for: the status each kind of failure gives every joule command, and the error line.
#include "core/exit_status.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <new>
#include <stdexcept>

#include "core/error.h"

namespace joule {
namespace {

Error make_error(ErrorKind kind) { return Error(kind, "core/x.cpp", 7, "message"); }

TEST(ExitStatus, InvalidInputIs2) { EXPECT_EQ(exit_status_for(make_error(ErrorKind::invalid_input)), 2); }

TEST(ExitStatus, IoAndInternalAre1) {
  EXPECT_EQ(exit_status_for(make_error(ErrorKind::io)), 1);
  EXPECT_EQ(exit_status_for(make_error(ErrorKind::internal)), 1);
}

TEST(ExitStatus, OutOfMemoryAndOtherExceptionsAre1) {
  EXPECT_EQ(exit_status_for(OutOfMemory(1 << 20)), 1);
  EXPECT_EQ(exit_status_for(std::bad_alloc()), 1);
  EXPECT_EQ(exit_status_for(std::runtime_error("x")), 1);
  EXPECT_EQ(exit_status_for(std::filesystem::filesystem_error("x", std::make_error_code(std::errc::io_error))), 1);
}

TEST(ExitStatus, MacrosGiveTheirStatus) {
  auto status_of = [](void (*raise)()) {
    try {
      raise();
    } catch (const std::exception& e) {
      return exit_status_for(e);
    }
    return -1;
  };
  EXPECT_EQ(status_of([] { JOULE_CHECK(false, "bad input"); }), 2);
  EXPECT_EQ(status_of([] { JOULE_CHECK_IO(false, "disk full"); }), 1);
  EXPECT_EQ(status_of([] { JOULE_ASSERT(false, "bug"); }), 1);
}

TEST(ExitStatus, ErrorLineNamesProgramAndRank) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(report_error("joule-train", 3, make_error(ErrorKind::io)), 1);
  print_error("joule-report", -1, std::runtime_error("boom"));
  const std::string text = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(text.find("joule-train (rank 3): error: message"), std::string::npos) << text;
  EXPECT_NE(text.find("joule-report: error: boom\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace joule
