// The SM-clock knob through the fake NVML library (dry run, NVML as root, the failure modes that
// disable it with one warning, bounds as input errors, the emergency and command resets), the
// joule-clockd line protocol, and the energy.clock config fields. The daemon itself: test_joule_clockd.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "energy/clock_actuator.h"
#include "energy/clockd_protocol.h"
#include "energy/nvml_meter.h"
#include "tests/support/expect_error.h"
#include "tests/support/fake_nvml_env.h"

namespace joule::energy {
namespace {

using joule::testing::expect_invalid_input;

bool yes() { return true; }
bool no() { return false; }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The card's SM clock as a second NVML user sees it.
unsigned card_clock_mhz(const std::string& gpu = "0") {
  std::string why;
  std::unique_ptr<NvmlDevice> device = open_nvml_device(gpu, &why);
  EXPECT_NE(device, nullptr) << why;
  return device ? device->sm_clock_mhz() : 0;
}

class ClockActuatorTest : public joule::testing::FakeNvmlTest {
 protected:
  ClockActuatorOptions options(ClockApply apply, bool (*root)() = yes) {
    ClockActuatorOptions o;
    o.gpu = "0";
    o.apply = apply;
    o.is_root = root;
    return o;
  }
  std::vector<std::string> warnings_;
};

TEST_F(ClockActuatorTest, DryRunRecordsTheChangeAndCallsNoSetter) {
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(options(ClockApply::dry_run, no), warnings_);
  EXPECT_TRUE(warnings_.empty());
  ASSERT_TRUE(knob->available()) << knob->reason();
  EXPECT_STREQ(knob->mode(), "dry_run");
  ASSERT_EQ(knob->supported_mhz().size(), 110u);  // 345 .. 1980 in 15 MHz steps
  const ClockChange change = knob->lock_sm_clock(1000);  // between 990 and 1005, nearer 1005
  EXPECT_EQ(change.requested_mhz, 1000u);
  EXPECT_EQ(change.snapped_mhz, 1005u);
  EXPECT_FALSE(change.applied);
  EXPECT_EQ(change.applied_mhz, 1980u);  // the card is untouched
  EXPECT_TRUE(contains(change.message, "dry run")) << change.message;
  EXPECT_EQ(knob->locked_mhz(), 1005u);
  knob->reset();
  EXPECT_EQ(knob->locked_mhz(), 0u);
  knob.reset();
  EXPECT_EQ(setter_calls(), 0u);
  EXPECT_EQ(card_clock_mhz(), 1980u);
}

TEST_F(ClockActuatorTest, ApplyStaysWithinBoundsSnapsAndReadsBack) {
  ClockActuatorOptions o = options(ClockApply::apply);
  o.min_mhz = 600;
  o.max_mhz = 1500;
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(o, warnings_);
  ASSERT_TRUE(knob->available()) << knob->reason();
  EXPECT_TRUE(warnings_.empty());
  EXPECT_STREQ(knob->mode(), "nvml");
  EXPECT_EQ(knob->supported_mhz().front(), 600u);
  EXPECT_EQ(knob->supported_mhz().back(), 1500u);
  const unsigned probe_calls = setter_calls();  // the reset at construction
  EXPECT_EQ(probe_calls, 1u);

  struct Case {
    unsigned request, expected;
  };
  for (const Case c : {Case{2000, 1500}, Case{100, 600}, Case{1000, 1005}, Case{997, 990}, Case{1500, 1500}}) {
    const ClockChange change = knob->lock_sm_clock(c.request);
    EXPECT_EQ(change.snapped_mhz, c.expected) << c.request;
    EXPECT_TRUE(change.applied) << change.message;
    EXPECT_EQ(change.applied_mhz, c.expected) << change.message;
    EXPECT_EQ(card_clock_mhz(), c.expected);
    EXPECT_TRUE(change.throttle_reasons.empty());
    EXPECT_TRUE(contains(change.message, "reads back " + std::to_string(c.expected))) << change.message;
  }
  EXPECT_EQ(setter_calls(), probe_calls + 5);
}

TEST_F(ClockActuatorTest, ReadBackReportsAClockTheCardCannotHold) {
  env_.set("FAKE_NVML_MAX_HELD_MHZ", "1500");  // a card at its power cap
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(options(ClockApply::apply), warnings_);
  ASSERT_TRUE(knob->available()) << knob->reason();
  const ClockChange change = knob->lock_sm_clock(1800);
  EXPECT_EQ(change.snapped_mhz, 1800u);
  EXPECT_EQ(change.applied_mhz, 1500u);
  EXPECT_EQ(change.throttle_reasons, std::vector<std::string>{"sw_power_cap"});
  EXPECT_TRUE(contains(change.message, "sw_power_cap")) << change.message;
  EXPECT_EQ(knob->current_mhz(), 1500u);
}

TEST_F(ClockActuatorTest, DestructionAndResetRestoreTheCardOnce) {
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(options(ClockApply::apply), warnings_);
  ASSERT_TRUE(knob->available()) << knob->reason();
  knob->lock_sm_clock(990);
  ASSERT_EQ(card_clock_mhz(), 990u);
  const unsigned before = setter_calls();
  knob->reset();
  EXPECT_EQ(card_clock_mhz(), 1980u);
  knob->reset();  // idempotent: nothing locked, no setter
  EXPECT_EQ(setter_calls(), before + 1);

  knob->lock_sm_clock(720);
  ASSERT_EQ(card_clock_mhz(), 720u);
  knob.reset();
  EXPECT_EQ(card_clock_mhz(), 1980u);
  EXPECT_EQ(setter_calls(), before + 3);
}

TEST_F(ClockActuatorTest, EmergencyResetUndoesEveryLiveLock) {
  env_.set("FAKE_NVML_DEVICES", "2");
  ClockActuatorOptions second = options(ClockApply::apply);
  second.gpu = "1";
  std::unique_ptr<ClockActuator> a = make_clock_actuator(options(ClockApply::apply), warnings_);
  std::unique_ptr<ClockActuator> b = make_clock_actuator(second, warnings_);
  ASSERT_TRUE(a->available() && b->available()) << a->reason() << b->reason();
  a->lock_sm_clock(990);
  b->lock_sm_clock(1200);
  ASSERT_EQ(card_clock_mhz("0"), 990u);
  ASSERT_EQ(card_clock_mhz("1"), 1200u);
  reset_clocks_emergency();
  EXPECT_EQ(card_clock_mhz("0"), 1980u);
  EXPECT_EQ(card_clock_mhz("1"), 1980u);
  const unsigned after = setter_calls();
  a.reset();
  b.reset();
  EXPECT_EQ(setter_calls(), after) << "the destructors reset again what the emergency path restored";
}

TEST_F(ClockActuatorTest, NoPermissionDisablesWithOneWarning) {
  env_.set("FAKE_NVML_FAIL", "no_permission");
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(options(ClockApply::apply), warnings_);
  EXPECT_FALSE(knob->available());
  EXPECT_STREQ(knob->mode(), "unavailable");
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_TRUE(contains(warnings_[0], "Insufficient Permissions")) << warnings_[0];
  EXPECT_TRUE(contains(knob->reason(), "Insufficient Permissions")) << knob->reason();
  const unsigned probe_calls = setter_calls();
  const ClockChange change = knob->lock_sm_clock(990);
  EXPECT_FALSE(change.applied);
  EXPECT_EQ(change.snapped_mhz, 0u);
  EXPECT_TRUE(contains(change.message, "unavailable")) << change.message;
  knob.reset();
  EXPECT_EQ(setter_calls(), probe_calls);
}

TEST_F(ClockActuatorTest, NotRootAndNoSocketDisablesWithOneWarning) {
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(options(ClockApply::apply, no), warnings_);
  EXPECT_FALSE(knob->available());
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_TRUE(contains(warnings_[0], "energy.clock.clockd_socket")) << warnings_[0];
  knob->lock_sm_clock(990);
  knob.reset();
  EXPECT_EQ(setter_calls(), 0u);
  EXPECT_EQ(card_clock_mhz(), 1980u);
}

TEST_F(ClockActuatorTest, MissingNvmlOrDaemonDisablesWithOneWarning) {
  env_.set("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1");
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(options(ClockApply::dry_run), warnings_);
  EXPECT_FALSE(knob->available());
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_TRUE(contains(warnings_[0], "/nonexistent/libnvidia-ml.so.1")) << warnings_[0];

  warnings_.clear();
  ClockActuatorOptions o = options(ClockApply::apply, no);
  o.clockd_socket = "/nonexistent/joule-clockd.sock";
  knob = make_clock_actuator(o, warnings_);
  EXPECT_FALSE(knob->available());
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_TRUE(contains(warnings_[0], "/nonexistent/joule-clockd.sock")) << warnings_[0];
}

TEST_F(ClockActuatorTest, NoGpuIsNoKnobAndNoWarning) {
  ClockActuatorOptions o = options(ClockApply::apply);
  o.gpu = "";
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(o, warnings_);
  EXPECT_FALSE(knob->available());
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(setter_calls(), 0u);
}

TEST_F(ClockActuatorTest, BoundsOutsideTheCardAreInputErrorsNamingTheField) {
  const auto make = [&](unsigned min, unsigned max) {
    return [&, min, max] {
      ClockActuatorOptions o = options(ClockApply::dry_run);
      o.min_mhz = min;
      o.max_mhz = max;
      make_clock_actuator(o, warnings_);
    };
  };
  expect_invalid_input(make(100, 0), {"energy.clock.min_mhz = 100", "345 .. 1980"});
  expect_invalid_input(make(0, 5000), {"energy.clock.max_mhz = 5000", "345 .. 1980"});
  expect_invalid_input(make(1500, 1000), {"energy.clock.min_mhz = 1500", "energy.clock.max_mhz = 1000"});
  expect_invalid_input(make(991, 1004), {"991 .. 1004", "none of the supported"});
  expect_invalid_input(
      [&] {
        ClockActuatorOptions o = options(ClockApply::dry_run);
        o.gpu = "gpu zero";
        make_clock_actuator(o, warnings_);
      },
      "energy.clock.gpu = \"gpu zero\"");
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ClockActuatorTest, ResetClocksCommandRestoresEveryGpu) {
  env_.set("FAKE_NVML_DEVICES", "2");
  {
    std::string why;
    std::unique_ptr<NvmlDevice> device = open_nvml_device("1", &why);
    ASSERT_NE(device, nullptr) << why;
    ASSERT_EQ(device->set_locked_clocks(800, 800), ClockStatus::ok);  // as a crashed run left it
  }
  ASSERT_EQ(card_clock_mhz("1"), 795u);  // the fake snaps down to a supported clock
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(reset_clocks_command(ClockActuatorOptions{}, out), 0);
  EXPECT_EQ(card_clock_mhz("1"), 1980u);
  env_.set("FAKE_NVML_FAIL", "no_permission");
  ClockActuatorOptions one;
  one.gpu = "0";
  EXPECT_EQ(reset_clocks_command(one, out), 1);
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  EXPECT_TRUE(contains(text, "NVML device 1: locked clocks reset; SM clock now 1980 MHz")) << text;
  EXPECT_TRUE(contains(text, "gpu 0: reset failed: Insufficient Permissions")) << text;
}

// ---- protocol ----------------------------------------------------------------------------------------
TEST(ClockdProtocol, GpuNamesHaveOneCanonicalForm) {
  EXPECT_EQ(canonical_gpu("0"), "0");
  EXPECT_EQ(canonical_gpu("007"), "7");
  EXPECT_EQ(canonical_gpu("0000:1b:00.0"), "00000000:1B:00.0");
  EXPECT_EQ(canonical_gpu("00000000:1B:00.0"), "00000000:1B:00.0");
  EXPECT_EQ(canonical_gpu("1b:00.0"), "00000000:1B:00.0");
  for (const char* bad : {"", "-1", "gpu0", "1b:00", "0000:1b:00.0x", "0000:+1b:00.0", "0 ", "0000:1b:20.0"})
    EXPECT_EQ(canonical_gpu(bad), "") << bad;
}

TEST(ClockdProtocol, RequestsParseStrictly) {
  ClockdRequest r;
  std::string why;
  ASSERT_TRUE(parse_clockd_request("lock 0000:1b:00.0 990", &r, &why)) << why;
  EXPECT_EQ(r.verb, ClockdVerb::lock);
  EXPECT_EQ(r.gpu, "00000000:1B:00.0");
  EXPECT_EQ(r.mhz, 990u);
  EXPECT_EQ(format_clockd_request(r), "lock 00000000:1B:00.0 990\n");
  ASSERT_TRUE(parse_clockd_request("reset 1", &r, &why)) << why;
  EXPECT_EQ(r.verb, ClockdVerb::reset);
  struct Bad {
    const char* line;
    const char* why;
  };
  for (const Bad b : {Bad{"power 0 300", "unknown request 'power'"}, Bad{"lock 0", "lock takes <gpu> <mhz>"},
                      Bad{"lock 0 -5", "'-5' is not a clock"}, Bad{"lock 0 99999999999", "is not a clock"},
                      Bad{"reset 0 1", "reset takes <gpu>"}, Bad{"query  0", "takes <gpu>"},
                      Bad{"clocks x", "'x' is neither"}, Bad{"lock 0 990\r", "non-printable"}, Bad{"", "unknown request"}}) {
    why.clear();
    EXPECT_FALSE(parse_clockd_request(b.line, &r, &why)) << b.line;
    EXPECT_TRUE(contains(why, b.why)) << b.line << ": " << why;
  }
  EXPECT_FALSE(parse_clockd_request("query " + std::string(300, '0'), &r, &why));
  EXPECT_TRUE(contains(why, "longer than")) << why;
}

TEST(ClockdProtocol, RepliesRoundTrip) {
  ClockdReply reply;
  std::string why;
  std::string line = format_clockd_ok_clocks({345, 360, 1980});
  ASSERT_TRUE(parse_clockd_reply(ClockdVerb::clocks, line.substr(0, line.size() - 1), &reply, &why)) << why;
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ(reply.clocks_mhz, (std::vector<unsigned>{345, 360, 1980}));
  line = format_clockd_ok_state(1500, {"sw_power_cap", "gpu_idle"});
  EXPECT_EQ(line, "ok 1500 sw_power_cap,gpu_idle\n");
  ASSERT_TRUE(parse_clockd_reply(ClockdVerb::lock, line.substr(0, line.size() - 1), &reply, &why)) << why;
  EXPECT_EQ(reply.clocks_mhz, std::vector<unsigned>{1500});
  EXPECT_EQ(reply.reasons, (std::vector<std::string>{"sw_power_cap", "gpu_idle"}));
  ASSERT_TRUE(parse_clockd_reply(ClockdVerb::query, "ok 1980 none", &reply, &why)) << why;
  EXPECT_TRUE(reply.reasons.empty());
  EXPECT_EQ(format_clockd_error("a\nb"), "error a b\n");
  ASSERT_TRUE(parse_clockd_reply(ClockdVerb::lock, "error held by another client", &reply, &why));
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.error, "held by another client");
  EXPECT_FALSE(parse_clockd_reply(ClockdVerb::lock, "ok 990", &reply, &why));
  EXPECT_FALSE(parse_clockd_reply(ClockdVerb::clocks, "ok", &reply, &why));
  EXPECT_FALSE(parse_clockd_reply(ClockdVerb::query, "okay 1980 none", &reply, &why));
  EXPECT_FALSE(parse_clockd_reply(ClockdVerb::clocks, "ok 345 fast", &reply, &why));
}

TEST(ClockEventReasons, NamesTheBits) {
  EXPECT_TRUE(clock_event_reason_names(0).empty());
  EXPECT_EQ(clock_event_reason_names(0x4 | 0x40), (std::vector<std::string>{"sw_power_cap", "hw_thermal_slowdown"}));
  EXPECT_EQ(clock_event_reason_names(1ull << 40), std::vector<std::string>{"unknown_0x10000000000"});
}

// ---- config ------------------------------------------------------------------------------------------
TEST(ClockKnobConfig, DefaultsAreADryRunWithoutAGpuAndFieldsAreValidated) {
  pb::Config config = parse_config_text("model { mlp { hidden: 16 } }", "test.pbtxt");
  fill_config_defaults(config);
  validate_config(config, "test.pbtxt", {.check_files = false});
  const ClockActuatorOptions defaults = clock_actuator_options(config.energy().clock());
  EXPECT_EQ(defaults.gpu, "");
  EXPECT_EQ(defaults.apply, ClockApply::dry_run);
  EXPECT_EQ(defaults.min_mhz, 0u);
  EXPECT_EQ(defaults.max_mhz, 0u);

  apply_config_override(config, "energy.clock.apply=APPLY");
  apply_config_override(config, "energy.clock.gpu=0000:1b:00.0");
  apply_config_override(config, "energy.clock.clockd_socket=/run/joule-clockd.sock");
  validate_config(config, "test.pbtxt", {.check_files = false});
  const ClockActuatorOptions set = clock_actuator_options(config.energy().clock());
  EXPECT_EQ(set.apply, ClockApply::apply);
  EXPECT_EQ(set.gpu, "0000:1b:00.0");
  EXPECT_EQ(set.clockd_socket, "/run/joule-clockd.sock");

  const auto invalid = [&](const std::string& assignment, const std::vector<std::string>& parts,
                           const pb::Config* base = nullptr) {
    pb::Config bad = base ? *base : config;
    apply_config_override(bad, assignment);
    expect_invalid_input([&] { validate_config(bad, "test.pbtxt", {.check_files = false}); }, parts);
  };
  invalid("energy.clock.gpu=gpu0", {"energy.clock.gpu = \"gpu0\"", "PCI bus id"});
  invalid("energy.clock.max_mhz=200000", {"energy.clock.max_mhz = 200000", "0 .. 100000"});
  pb::Config ordered = config;
  apply_config_override(ordered, "energy.clock.min_mhz=1500");
  validate_config(ordered, "test.pbtxt", {.check_files = false});  // min alone: fine
  invalid("energy.clock.max_mhz=1000", {"energy.clock.min_mhz = 1500", "expected min_mhz <= max_mhz"}, &ordered);
  invalid("energy.clock.clockd_socket=/" + std::string(120, 's'), {"energy.clock.clockd_socket", "at most 107"});
}

}  // namespace
}  // namespace joule::energy
