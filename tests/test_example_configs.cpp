// Every example config (examples/configs/*.pbtxt) is accepted by joule-train --check on 1 and 2
// ranks' worth of checks: its fields, data, batch sizes and scripted knob schedule.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/command.h"

namespace joule {
namespace {

namespace fs = std::filesystem;

TEST(ExampleConfigs, EveryExamplePassesCheck) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "needs dataset-fashion-mnist";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(std::string(JOULE_SOURCE_DIR) + "/examples/configs")) {
    if (entry.path().extension() != ".pbtxt") continue;
    const testing::CommandResult r = testing::run_command(testing::binary_path("joule-train") + " --config " +
                                                          testing::shell_quote(entry.path().string()) + " --check 2>&1");
    EXPECT_EQ(r.status, 0) << entry.path() << ": " << r.output;
    EXPECT_NE(r.output.find("model {"), std::string::npos) << "prints the resolved config: " << r.output;
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

}  // namespace
}  // namespace joule
