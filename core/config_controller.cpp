// Validation of energy.controller (core/proto/config.proto ControllerConfig): every failure names
// the field and what was expected (exit status 2 before anything is written).
#include <string>

#include "core/config.h"
#include "core/config_checker.h"
#include "core/dtype.h"

namespace joule {

namespace {

bool adapts(pb::KnobMode mode) { return mode == pb::ADAPT; }

}  // namespace

void validate_controller(Checker& c, const pb::Config& config) {
  const pb::ControllerConfig& k = config.energy().controller();
  const std::string& origin = c.origin();
  JOULE_CHECK(k.target_accuracy() >= 0 && k.target_accuracy() < 1, origin,
              ": energy.controller.target_accuracy = ", k.target_accuracy(),
              ": expected a test accuracy 0 < value < 1 (0.88 for 88%), or 0 (off)");
  c.non_negative("energy.controller.min_gain_per_kj", k.min_gain_per_kj());
  c.non_negative("energy.controller.min_gain_per_epoch", k.min_gain_per_epoch());
  JOULE_CHECK(k.min_gain_per_kj() == 0 || k.min_gain_per_epoch() == 0, origin,
              ": energy.controller.min_gain_per_kj = ", k.min_gain_per_kj(),
              " and energy.controller.min_gain_per_epoch = ", k.min_gain_per_epoch(),
              ": expected at most one of them (the same threshold, per kJ or per epoch's energy; set the other to 0)");
  c.in_range("energy.controller.patience", k.patience(), 1, 1000);
  c.non_negative("energy.controller.budget_kj", k.budget_kj());
  c.non_negative("energy.controller.max_seconds", k.max_seconds());
  c.in_range("energy.controller.cooldown_fraction", k.cooldown_fraction(), 0.0, 1.0);
  c.in_range("energy.controller.eta", k.eta(), 0.0, 1.0);
  JOULE_CHECK(k.max_slowdown() == 0 || k.max_slowdown() >= 1, origin, ": energy.controller.max_slowdown = ",
              k.max_slowdown(), ": expected 0 (no time bound) or a factor >= 1 (1.05: at most 5% slower)");
  c.in_range("energy.controller.max_explore_fraction", k.max_explore_fraction(), 0.0, 1.0);
  c.non_negative("energy.controller.warmup_s", k.warmup_s());
  JOULE_CHECK(k.transient_s() >= 1, origin, ": energy.controller.transient_s = ", k.transient_s(),
              ": expected >= 1 (seconds discarded after a knob change)");
  c.positive("energy.controller.measure_s", k.measure_s());
  c.in_range("energy.controller.hysteresis", k.hysteresis(), 0.0, 1.0);

  const pb::ControllerBatchConfig& batch = k.batch_size();
  c.at_least("energy.controller.batch_size.min", batch.min(), 0);
  c.at_least("energy.controller.batch_size.max", batch.max(), 0);
  JOULE_CHECK(batch.max() == 0 || batch.min() <= batch.max(), origin, ": energy.controller.batch_size.min = ",
              batch.min(), " is above energy.controller.batch_size.max = ", batch.max(), ": expected min <= max");

  const pb::ControllerPrecisionConfig& precision = k.precision();
  for (int i = 0; i < precision.allowed_size(); ++i) {
    const std::string& name = precision.allowed(i);
    Precision parsed = Precision::f32;
    JOULE_CHECK(parse_precision(name, &parsed) || name == "f16", origin, ": energy.controller.precision.allowed[", i,
                "] = \"", name, "\": expected f32, bf16 or f16");
    JOULE_CHECK(name != "f16" || config.run().device() != "cpu", origin, ": energy.controller.precision.allowed[",
                i, "] = \"f16\": expected f32 or bf16 on run.device \"cpu\" (f16 is a GPU precision)");
  }

  const pb::ControllerClockConfig& clocks = k.clocks();
  c.in_range<uint32_t>("energy.controller.clocks.min_mhz", clocks.min_mhz(), 0, 100000);
  c.in_range<uint32_t>("energy.controller.clocks.max_mhz", clocks.max_mhz(), 0, 100000);
  JOULE_CHECK(clocks.min_mhz() == 0 || clocks.max_mhz() == 0 || clocks.min_mhz() <= clocks.max_mhz(), origin,
              ": energy.controller.clocks.min_mhz = ", clocks.min_mhz(), " is above energy.controller.clocks.max_mhz = ",
              clocks.max_mhz(), ": expected min_mhz <= max_mhz");
  c.in_range("energy.controller.clocks.margin", clocks.margin(), 0.0, 0.5);
  JOULE_CHECK(clocks.min_interval_s() >= 1, origin, ": energy.controller.clocks.min_interval_s = ",
              clocks.min_interval_s(), ": expected >= 1 (seconds between a rank's clock changes)");
  JOULE_CHECK(!adapts(clocks.mode()) || !config.energy().clock().gpu().empty(), origin,
              ": energy.controller.clocks.mode = ADAPT needs the clock knob: set energy.clock.gpu "
              "(\"local\" for one GPU per rank)");

  const bool active = controller_active(k);
  JOULE_CHECK(!active || config.energy().schedule_size() == 0, origin,
              ": energy.controller and energy.schedule are both set: expected one of them (the controller turns "
              "the knobs itself; a schedule is the manual mode)");
}

bool controller_active(const pb::ControllerConfig& k) {
  return adapts(k.batch_size().mode()) || adapts(k.precision().mode()) || adapts(k.clocks().mode()) ||
         k.target_accuracy() > 0 || k.min_gain_per_kj() > 0 || k.min_gain_per_epoch() > 0 || k.budget_kj() > 0 || k.max_seconds() > 0;
}

}  // namespace joule
