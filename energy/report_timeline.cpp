#include "energy/report_timeline.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/utf8_cut.h"
#include "energy/stop_rule.h"

namespace joule::energy {
namespace {

std::string format(const char* fmt, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, fmt, v);
  return buffer;
}

bool is_stop(const std::string& what) { return what == "stop" || what == "cooldown"; }

bool is_knob_change(const std::string& what) {
  return what.find("batch_size") != std::string::npos || what.find("precision") != std::string::npos ||
         what.find("clock") != std::string::npos;
}

// At most `limit` bytes, cut at a UTF-8 character boundary, "..." marking a cut.
std::string shorten(const std::string& text, size_t limit) { return utf8_shorten(text, limit, "..."); }

// The number `key` of a parsed detail object; false if absent or not a number.
bool number_of(const google::protobuf::Struct& detail, const char* key, double* value) {
  const auto it = detail.fields().find(key);
  if (it == detail.fields().end() || it->second.kind_case() != google::protobuf::Value::kNumberValue) return false;
  *value = it->second.number_value();
  return std::isfinite(*value);
}

}  // namespace

void add_timeline(const std::vector<pb::DecisionRecord>& decisions, const std::vector<pb::RankWindowRecord>& rank0,
                  const std::vector<pb::TrainRecord>& train, pb::RunReport& report) {
  std::vector<pb::DecisionRecord> sorted = decisions;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const pb::DecisionRecord& a, const pb::DecisionRecord& b) { return a.step() < b.step(); });
  for (const pb::DecisionRecord& d : sorted) {
    pb::ControllerDecision* out = report.add_timeline();
    out->set_step(d.step());
    out->set_samples(d.samples());
    out->set_energy_j(d.energy_j());
    out->set_what(d.what());
    out->set_reason(d.reason());
    out->set_detail(d.detail());
    const auto window = std::find_if(rank0.begin(), rank0.end(),
                                     [&](const pb::RankWindowRecord& w) { return w.step_first() > d.step(); });
    const auto line = std::find_if(train.begin(), train.end(),
                                   [&](const pb::TrainRecord& t) { return t.step() > d.step(); });
    if (window != rank0.end()) {
      out->set_batch_size(window->batch_size());
      out->set_precision(window->precision());
      out->set_sm_clock_mhz(window->sm_clock_mhz());
    } else if (line != train.end()) {
      out->set_batch_size(line->batch_size());
      out->set_precision(line->precision());
    }
  }
  const pb::Summary& s = report.summary();
  if (report.has_summary() && s.stop_reason() == "marginal_gain" && s.full_budget_energy_j() > 0) {
    pb::ControllerOutcome* c = report.mutable_controller();
    c->set_energy_j(s.energy_j());
    c->set_full_budget_energy_j(s.full_budget_energy_j());
    c->set_saved_share(1 - s.energy_j() / s.full_budget_energy_j());
    c->set_final_accuracy(s.final_accuracy());
    c->set_predicted_full_accuracy(s.predicted_full_accuracy());
  }
}

std::string format_timeline(const pb::RunReport& report, size_t max_reason) {
  if (report.timeline_size() == 0 && !report.has_controller()) return "";
  std::string out = "decision timeline (energy controller, " + std::to_string(report.timeline_size()) +
                    (report.timeline_size() == 1 ? " decision" : " decisions") + " in metrics.jsonl):\n";
  char line[128];
  std::snprintf(line, sizeof line, "  %8s %10s  %-16s  %s\n", "step", "energy kJ", "what", "reason");
  out += line;
  for (const pb::ControllerDecision& d : report.timeline()) {
    std::snprintf(line, sizeof line, "  %8u %10.3f  %-16s  ", d.step(), d.energy_j() / 1000,
                  d.what().empty() ? "-" : d.what().c_str());
    out += line + shorten(d.reason(), max_reason) + "\n";
  }
  if (report.has_controller()) {
    const pb::ControllerOutcome& c = report.controller();
    out += "controller: stopped by marginal_gain at " + format("%.3f kJ", c.energy_j() / 1000) + " of a predicted " +
           format("%.3f kJ", c.full_budget_energy_j() / 1000) + " for the full budget (" +
           format("%.1f%% saved", 100 * c.saved_share()) + "); final accuracy " +
           format("%.2f%%", 100 * c.final_accuracy()) + " vs " + format("%.2f%%", 100 * c.predicted_full_accuracy()) +
           " predicted for the full budget\n";
  }
  return out;
}

FittedCurve last_fitted_curve(const pb::RunReport& report) {
  FittedCurve curve;
  for (const pb::ControllerDecision& d : report.timeline()) {
    google::protobuf::Struct detail;
    if (!google::protobuf::util::JsonStringToMessage(d.detail(), &detail).ok()) continue;
    const auto ok = detail.fields().find("ok");
    if (ok == detail.fields().end() || ok->second.kind_case() != google::protobuf::Value::kBoolValue ||
        !ok->second.bool_value())
      continue;
    FittedCurve c;
    if (!number_of(detail, "alpha", &c.alpha) || !number_of(detail, "beta", &c.beta) || !number_of(detail, "c", &c.c) ||
        !number_of(detail, "e_ref_kj", &c.e_ref_kj) || !(c.e_ref_kj > 0))
      continue;
    c.ok = true;
    c.step = d.step();
    curve = c;  // the last one wins
  }
  return curve;
}

double fitted_accuracy_pct(const FittedCurve& curve, double energy_kj) {
  AccuracyFit fit;  // the stop rule's own formula (energy/stop_rule.h)
  fit.ok = curve.ok;
  fit.alpha = curve.alpha;
  fit.beta = curve.beta;
  fit.c = curve.c;
  fit.e_ref_kj = curve.e_ref_kj;
  return fit_accuracy_at(fit, energy_kj);
}

std::string knob_label(const pb::ControllerDecision& d) {
  std::string label;
  if (d.what().find("batch_size") != std::string::npos || d.what().find("precision") != std::string::npos) {
    if (d.batch_size() > 0) label = std::to_string(d.batch_size()) + "/" + (d.precision().empty() ? "?" : d.precision());
  }
  if (d.what().find("clock") != std::string::npos) {
    label += (label.empty() ? "" : " ") +
             (d.sm_clock_mhz() > 0 ? std::to_string(d.sm_clock_mhz()) + " MHz" : std::string("clock"));
  }
  return label.empty() ? d.what() : label;
}

void add_controller_overlay(const pb::RunReport& report, const std::vector<pb::EvalRecord>& evals, PlotPanel& panel,
                            int samples) {
  if (report.timeline_size() == 0) return;
  double e_lo = INFINITY, e_last = 0;  // kJ
  for (const pb::EvalRecord& e : evals)
    if (e.energy_j() > 0) e_lo = std::min(e_lo, e.energy_j() / 1000), e_last = std::max(e_last, e.energy_j() / 1000);
  double e_hi = e_last;

  const pb::ControllerDecision* stop = nullptr;  // the first stop: the one the controller decided
  for (const pb::ControllerDecision& d : report.timeline()) {
    if (is_stop(d.what()) && stop == nullptr) stop = &d;
    if (is_knob_change(d.what()) && d.energy_j() > 0) {
      PlotMarker m;
      m.x = d.energy_j() / 1000;
      m.label = knob_label(d);
      m.color = "#7f7f7f";
      m.css_class = "knob-change";
      panel.markers.push_back(m);
    }
  }
  const FittedCurve curve = last_fitted_curve(report);
  if (stop != nullptr && stop->energy_j() > 0) {
    PlotMarker m;
    m.kind = PlotMarker::Kind::point;
    m.x = stop->energy_j() / 1000;
    const pb::EvalRecord* at = nullptr;  // the evaluation that fired it
    for (const pb::EvalRecord& e : evals)
      if (e.step() <= stop->step()) at = &e;
    bool placed = at != nullptr;
    if (at != nullptr) m.y = 100 * at->accuracy();
    if (at != nullptr && at->step() == stop->step() && at->energy_j() > 0) m.x = at->energy_j() / 1000;  // its eval's energy
    if (!placed && curve.ok) m.y = fitted_accuracy_pct(curve, m.x), placed = true;
    if (!placed) m.kind = PlotMarker::Kind::vertical;
    e_hi = std::max(e_hi, m.x);
    m.label = stop->what() == "cooldown" ? "stop (then cooldown)" : "stop";
    m.color = "#d62728";
    m.css_class = "stop";
    panel.markers.push_back(m);
  }
  if (report.has_controller() && report.controller().predicted_full_accuracy() > 0) {
    PlotMarker m;
    m.kind = PlotMarker::Kind::point;
    m.x = report.controller().full_budget_energy_j() / 1000;
    m.y = 100 * report.controller().predicted_full_accuracy();
    m.label = "full budget (predicted)";
    m.color = "#9467bd";
    m.css_class = "full-budget";
    e_hi = std::max(e_hi, m.x);
    panel.markers.push_back(m);
  }

  if (!curve.ok || !(e_lo < e_hi) || samples < 2) return;
  PlotSeries fit, extrapolated;
  fit.label = "fitted curve (stop rule)";
  fit.css_class = "fit";
  extrapolated.label = "fit, extrapolated";
  extrapolated.css_class = "fit-extrapolated";
  fit.points = extrapolated.points = false;
  extrapolated.dashed = true;
  fit.color = extrapolated.color = "#ff7f0e";
  auto add = [&](PlotSeries& s, double e) {
    s.x.push_back(e);
    s.y.push_back(fitted_accuracy_pct(curve, e));
  };
  for (int i = 0; i < samples; ++i) {
    const double e = e_lo + (e_hi - e_lo) * i / (samples - 1);
    if (e <= e_last) add(fit, e);
    if (e > e_last) {
      if (extrapolated.x.empty()) {  // the two pieces join at the last evaluation
        if (fit.x.empty() || fit.x.back() < e_last) add(fit, e_last);
        add(extrapolated, e_last);
      }
      add(extrapolated, e);
    }
  }
  panel.series.push_back(std::move(fit));
  if (!extrapolated.x.empty()) panel.series.push_back(std::move(extrapolated));
}

}  // namespace joule::energy
