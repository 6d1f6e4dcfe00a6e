// GpuModel: parsing and validation of GpuCalibration, the model's evaluation (sim.proto states it)
// and its comparison with profile points.
#include "energy/sim/gpu_model.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <tuple>

#include "core/error.h"
#include "core/file_util.h"
#include "core/text_parse_error.h"

namespace joule::sim {
namespace {

namespace gp = google::protobuf;

// "<origin>: <field>: <why>" for a required double that must be present and finite.
double required_number(bool has, double value, const std::string& origin, const std::string& field) {
  JOULE_CHECK(has, origin, ": ", field, ": missing (a required field)");
  JOULE_CHECK(std::isfinite(value), origin, ": ", field, ": expected a finite number, got ", value);
  return value;
}

void check_non_negative_power(double value, const std::string& origin, const std::string& field) {
  JOULE_CHECK(std::isfinite(value) && value >= 0, origin, ": ", field, ": expected a power ≥ 0 W, got ", value);
}

// The fields of one curve (the GPU's or a phase's), read the same way from either message.
struct CurveFields {
  bool has_a, has_static, has_dynamic, has_gamma;
  double a, static_w, dynamic_w, gamma, cap_w, p;
};

template <class Message>
CurveFields curve_fields(const Message& m, double cap_w) {
  return {m.has_time_sensitivity_a(), m.has_static_w(), m.has_dynamic_w(), m.has_gamma(),
          m.time_sensitivity_a(),     m.static_w(),     m.dynamic_w(),     m.gamma(), cap_w, m.time_exponent_p()};
}

// prefix: "" for the GPU's curve, "forward." for a phase's.
void validate_curve(const CurveFields& c, double f_min, double f_max, const std::string& origin,
                    const std::string& prefix) {
  const double a = required_number(c.has_a, c.a, origin, prefix + "time_sensitivity_a");
  JOULE_CHECK(a >= 0 && a <= 1, origin, ": ", prefix, "time_sensitivity_a: expected a value in [0, 1], got ", a);
  JOULE_CHECK(std::isfinite(c.p) && c.p >= 1 && c.p <= 20, origin, ": ", prefix,
              "time_exponent_p: expected an exponent in [1, 20], got ", c.p);
  const double static_w = required_number(c.has_static, c.static_w, origin, prefix + "static_w");
  const double dynamic_w = required_number(c.has_dynamic, c.dynamic_w, origin, prefix + "dynamic_w");
  const double gamma = required_number(c.has_gamma, c.gamma, origin, prefix + "gamma");
  check_non_negative_power(static_w, origin, prefix + "static_w");
  JOULE_CHECK(dynamic_w > 0, origin, ": ", prefix, "dynamic_w: expected a power > 0 W, got ", dynamic_w);
  JOULE_CHECK(gamma > 0 && gamma <= 20, origin, ": ", prefix, "gamma: expected an exponent in (0, 20], got ", gamma);
  check_non_negative_power(c.cap_w, origin, prefix + "power_cap_w");
  if (c.cap_w > 0) {
    const double at_f_min = static_w + dynamic_w * std::pow(f_min / f_max, gamma);
    JOULE_CHECK(c.cap_w > at_f_min, origin, ": ", prefix, "power_cap_w: ", c.cap_w,
                " W is not above the power at f_min_mhz (", at_f_min, " W): no clock meets it");
  }
}

// Doubles in the shortest fixed-point form that reads back as the same value ("0.9126", not
// 0.91260000000000008; "1980", not 1.98e+03); %.17g for magnitudes fixed-point cannot hold.
class ShortestDoublePrinter : public gp::TextFormat::FastFieldValuePrinter {
 public:
  void PrintDouble(double value, gp::TextFormat::BaseTextGenerator* generator) const override {
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", value);
    if (std::isfinite(value) && std::fabs(value) < 1e15)
      for (int decimals = 0; decimals <= 17; ++decimals) {
        std::snprintf(text, sizeof text, "%.*f", decimals, value);
        if (std::strtod(text, nullptr) == value) break;
      }
    generator->PrintString(text);
  }
};

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f%%", 100 * fraction);
  return text;
}

std::string where(const PointError& e) {
  const ProfilePoint& p = e.point;
  char clock[32];
  std::snprintf(clock, sizeof clock, "%.0f MHz", p.freq_mhz);
  return p.workload + " stage " + std::to_string(p.stage) + " " + p.phase + " " + clock;
}

}  // namespace

double time_shape(double a, double p, double clock_ratio) {
  if (p == 1) return a * clock_ratio + (1 - a);
  return std::pow(std::pow(a * clock_ratio, p) + std::pow(1 - a, p), 1 / p);
}

StepPhase step_phase_from_name(const std::string& phase) {
  if (phase == "forward") return StepPhase::forward;
  if (phase == "backward") return StepPhase::backward;
  return StepPhase::any;
}

void validate_gpu_calibration(const pb::GpuCalibration& c, const std::string& origin) {
  JOULE_CHECK(c.has_name() && !c.name().empty(), origin, ": name: missing (a required field)");
  const double f_min = required_number(c.has_f_min_mhz(), c.f_min_mhz(), origin, "f_min_mhz");
  const double f_max = required_number(c.has_f_max_mhz(), c.f_max_mhz(), origin, "f_max_mhz");
  const double f_step = required_number(c.has_f_step_mhz(), c.f_step_mhz(), origin, "f_step_mhz");
  JOULE_CHECK(f_min > 0, origin, ": f_min_mhz: expected a clock > 0 MHz, got ", f_min);
  JOULE_CHECK(f_min <= f_max, origin, ": f_min_mhz: ", f_min, " MHz is above f_max_mhz (", f_max, " MHz)");
  JOULE_CHECK(f_step > 0, origin, ": f_step_mhz: expected a step > 0 MHz, got ", f_step);
  validate_curve(curve_fields(c, c.power_cap_w()), f_min, f_max, origin, "");
  if (c.has_forward())
    validate_curve(curve_fields(c.forward(), c.forward().has_power_cap_w() ? c.forward().power_cap_w() : c.power_cap_w()),
                   f_min, f_max, origin, "forward.");
  if (c.has_backward())
    validate_curve(
        curve_fields(c.backward(), c.backward().has_power_cap_w() ? c.backward().power_cap_w() : c.power_cap_w()),
        f_min, f_max, origin, "backward.");
  check_non_negative_power(required_number(c.has_blocking_power_w(), c.blocking_power_w(), origin, "blocking_power_w"),
                           origin, "blocking_power_w");
  check_non_negative_power(c.idle_w(), origin, "idle_w");
}

pb::GpuCalibration parse_gpu_calibration(const std::string& text, const std::string& origin) {
  pb::GpuCalibration calibration;
  gp::TextFormat::Parser parser;
  FirstParseError errors(text);
  parser.RecordErrorsTo(&errors);
  JOULE_CHECK(parser.ParseFromString(text, &calibration), origin, ":", errors.first());
  validate_gpu_calibration(calibration, origin);
  return calibration;
}

pb::GpuCalibration load_gpu_calibration(const std::string& path) {
  return parse_gpu_calibration(read_text_file(path, "GPU calibration"), path);
}

std::string format_gpu_calibration(const pb::GpuCalibration& calibration) {
  pb::GpuCalibration full = calibration;  // the fields with defaults are written out too
  full.set_power_cap_w(calibration.power_cap_w());
  full.set_idle_w(calibration.idle_w());
  full.set_source(calibration.source());
  full.set_extrapolated(calibration.extrapolated());
  full.set_note(calibration.note());
  std::string text;
  gp::TextFormat::Printer printer;
  printer.SetUseUtf8StringEscaping(true);
  printer.SetDefaultFieldValuePrinter(new ShortestDoublePrinter);  // the printer takes ownership
  JOULE_ASSERT(printer.PrintToString(full, &text));
  return text;
}

GpuModel::GpuModel(pb::GpuCalibration calibration, const std::string& origin) : calibration_(std::move(calibration)) {
  validate_gpu_calibration(calibration_, origin);
  auto make = [&](const CurveFields& f) {
    Curve c{f.a, f.p, f.static_w, f.dynamic_w, f.gamma, f_max_mhz()};
    if (f.cap_w > 0 && power_at(c, f_max_mhz()) > f.cap_w)  // validated: cap > P(f_min) ≥ static_w
      c.capped_clock_mhz = f_max_mhz() * std::pow((f.cap_w - c.static_w) / c.dynamic_w, 1 / c.gamma);
    return c;
  };
  const pb::GpuCalibration& k = calibration_;
  any_ = make(curve_fields(k, k.power_cap_w()));
  forward_ = k.has_forward()
                 ? make(curve_fields(k.forward(), k.forward().has_power_cap_w() ? k.forward().power_cap_w() : k.power_cap_w()))
                 : any_;
  backward_ = k.has_backward() ? make(curve_fields(k.backward(), k.backward().has_power_cap_w() ? k.backward().power_cap_w()
                                                                                                 : k.power_cap_w()))
                               : any_;
}

std::vector<double> GpuModel::clocks_mhz() const {
  std::vector<double> clocks;
  const double f_min = calibration_.f_min_mhz(), step = calibration_.f_step_mhz();
  for (double f = f_max_mhz(); f >= f_min - 1e-9 * step; f -= step) clocks.push_back(f);
  return clocks;
}

const GpuModel::Curve& GpuModel::curve(StepPhase phase) const {
  switch (phase) {
    case StepPhase::forward: return forward_;
    case StepPhase::backward: return backward_;
    case StepPhase::any: break;
  }
  return any_;
}

double GpuModel::clamp_clock(double requested_mhz) const {
  JOULE_CHECK(std::isfinite(requested_mhz), "GpuModel ", calibration_.name(), ": requested clock ", requested_mhz,
              " MHz is not a finite number");
  return std::clamp(requested_mhz, calibration_.f_min_mhz(), f_max_mhz());
}

double GpuModel::power_at(const Curve& c, double clock_mhz) const {
  return c.static_w + c.dynamic_w * std::pow(clock_mhz / f_max_mhz(), c.gamma);
}

double GpuModel::tau(const Curve& c, double effective_mhz) const {
  return time_shape(c.a, c.p, f_max_mhz() / effective_mhz);
}

double GpuModel::effective_clock_mhz(double requested_mhz, StepPhase phase) const {
  return std::min(clamp_clock(requested_mhz), curve(phase).capped_clock_mhz);
}

double GpuModel::time_sensitivity(StepPhase phase) const { return curve(phase).a; }

double GpuModel::time_exponent(StepPhase phase) const { return curve(phase).p; }

double GpuModel::step_time_factor(double requested_mhz, StepPhase phase) const {
  const Curve& c = curve(phase);
  return tau(c, effective_clock_mhz(requested_mhz, phase)) / tau(c, c.capped_clock_mhz);
}

double GpuModel::uncapped_power_w(double clock_mhz, StepPhase phase) const { return power_at(curve(phase), clock_mhz); }

double GpuModel::power_w(double requested_mhz, StepPhase phase) const {
  return power_at(curve(phase), effective_clock_mhz(requested_mhz, phase));
}

double GpuModel::energy_factor(double requested_mhz, StepPhase phase) const {
  const Curve& c = curve(phase);
  return step_time_factor(requested_mhz, phase) * power_w(requested_mhz, phase) / power_at(c, c.capped_clock_mhz);
}

std::vector<PointError> compare_with_profile(const GpuModel& model, const std::vector<ProfilePoint>& points) {
  using Key = std::tuple<std::string, std::string, int, std::string>;
  std::map<Key, const ProfilePoint*> top;  // each series' highest clock
  for (const ProfilePoint& p : points) {
    const ProfilePoint*& t = top[Key{p.gpu, p.workload, p.stage, p.phase}];
    if (t != nullptr)
      JOULE_CHECK(p.freq_mhz != t->freq_mhz, "profile: ", p.workload, " stage ", p.stage, " ", p.phase, " has ",
                  p.freq_mhz, " MHz twice");
    if (t == nullptr || p.freq_mhz > t->freq_mhz) t = &p;
  }
  std::vector<PointError> errors;
  errors.reserve(points.size());
  for (const ProfilePoint& p : points) {
    const ProfilePoint& t = *top.at(Key{p.gpu, p.workload, p.stage, p.phase});
    const StepPhase phase = step_phase_from_name(p.phase);
    const double time_ratio = model.step_time_factor(p.freq_mhz, phase) / model.step_time_factor(t.freq_mhz, phase);
    const double energy_ratio = model.energy_factor(p.freq_mhz, phase) / model.energy_factor(t.freq_mhz, phase);
    PointError e;
    e.point = p;
    e.time_error = time_ratio / (p.time_s / t.time_s) - 1;
    e.energy_error = energy_ratio / (p.energy_j / t.energy_j) - 1;
    e.power_error = model.power_w(p.freq_mhz, phase) / p.power_w - 1;
    errors.push_back(std::move(e));
  }
  return errors;
}

ErrorSummary summarize_errors(const std::vector<PointError>& errors) {
  ErrorSummary s;
  s.points = static_cast<int>(errors.size());
  for (const PointError& e : errors) {
    const struct { double error; double* max; double* rms; PointError* worst; } parts[] = {
        {e.time_error, &s.max_time, &s.rms_time, &s.worst_time},
        {e.energy_error, &s.max_energy, &s.rms_energy, &s.worst_energy},
        {e.power_error, &s.max_power, &s.rms_power, &s.worst_power}};
    for (const auto& part : parts) {
      *part.rms += part.error * part.error;
      if (std::fabs(part.error) > *part.max || part.worst->point.freq_mhz == 0) {
        *part.max = std::max(*part.max, std::fabs(part.error));
        *part.worst = e;
      }
    }
  }
  if (s.points > 0)
    for (double* rms : {&s.rms_time, &s.rms_energy, &s.rms_power}) *rms = std::sqrt(*rms / s.points);
  return s;
}

std::string describe_errors(const ErrorSummary& s) {
  return std::to_string(s.points) + " points: time max " + percent(s.max_time) + " (" + where(s.worst_time) +
         "), rms " + percent(s.rms_time) + "; energy max " + percent(s.max_energy) + " (" + where(s.worst_energy) +
         "), rms " + percent(s.rms_energy) + "; power max " + percent(s.max_power) + " (" + where(s.worst_power) +
         "), rms " + percent(s.rms_power);
}

}  // namespace joule::sim
